"""Read one stream: pages through the shared HTTP client, records selected from each body, STATE checkpoints.

Full refresh checkpoints hold the next page to fetch (`next_page`), so a failed read resumes there (or starts over
when the API no longer takes that page: tokens expire); the final STATE of a full refresh marks it complete and the
next read starts over. Incremental checkpoints come from `RecordCursor`, held back when offset pages show that the
order changed during the read (see `StreamReader._pages`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import orjson
import requests
from airbyte_cdk.models import AirbyteMessage
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import state_message
from source_core.config import config_error
from source_core.http import HttpClient, HttpStatusError, endpoint
from source_core.http.records import JsonRecordEncoder
from source_core.launch import Records
from source_core.progress import Progress
from source_rest_api.auth import Auth
from source_rest_api.config import RestConfig, StreamConfig, dig
from source_rest_api.incremental import RecordCursor
from source_rest_api.pagination import PageRequest, first_page, next_page

CHECKPOINT_SECONDS = 60.0
FULL_REFRESH_DONE = {"__ab_full_refresh_sync_complete": True}  # as source-file and airbyte-cdk mark it


def refused(error: HttpStatusError, stream: str) -> AirbyteTracedException:
    """A 4xx the API will not change its mind about, said as what to fix."""
    where = f"{error.response.request.method} {endpoint(error.response.url)}"
    if error.status in (401, 403):
        what = f"The API refused the credentials ({error.status}) for {where}: check the auth settings."
    elif error.status == 404:
        what = f"{where} does not exist (404): check base_url and the path of stream {stream!r}."
    else:
        what = f"{where} was refused with status {error.status}: check the parameters of stream {stream!r}."
    detail = error.response.text[:300]
    return config_error(what, f"{error}: {detail}")


class PageFetcher:
    """GET a page with auth; an expired OAuth token is renewed once and the page asked again."""

    def __init__(self, client: HttpClient, auth: Auth):
        self.client = client
        self.auth = auth
        client.session.headers.update(auth.headers)
        client.session.auth = auth.requests_auth

    def fetch(self, request: PageRequest, stream: str) -> tuple[requests.Response, Any]:
        """The page; a refusal (4xx) as a config_error naming what to fix."""
        try:
            return self.get(request)
        except HttpStatusError as error:
            raise refused(error, stream) from error

    def get(self, request: PageRequest) -> tuple[requests.Response, Any]:
        """The page; a refusal as `HttpStatusError`."""
        try:
            return self._get(request)
        except HttpStatusError as error:
            if error.status != 401 or not self.auth.refreshable:
                raise
        self.client.logger.info("The access token was refused: fetching a new one.")
        self.auth.expire()
        return self._get(request)

    def _get(self, request: PageRequest) -> tuple[requests.Response, Any]:
        return self.client.get_json(request.url, params={**request.params, **self.auth.params})


def select(body: Any, stream: StreamConfig) -> list[dict[str, Any]]:
    found = dig(body, stream.record_selector)
    if found is None:
        return []
    where = f"path {stream.record_selector!r}" if stream.record_selector else "the body"
    if not isinstance(found, list):
        raise config_error(
            f"Stream {stream.name!r}: {where} holds a {type(found).__name__}, not a list of records: "
            "set record_selector to the path of the list."
        )
    odd = [r for r in found if not isinstance(r, dict)]
    if odd:
        raise config_error(
            f"Stream {stream.name!r}: the list at {where} holds {orjson.dumps(odd[0]).decode()[:100]}, which is no "
            "record: records must be JSON objects. Set record_selector to the path of a list of objects."
        )
    return found


def overlapped(records: list[dict[str, Any]], last: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The records after `last` of a page asked to start with it (the previous page's last record), and whether
    the order changed in front of the page so that a record may have been skipped (`last` is not in it)."""
    if last in records:
        return records[records.index(last) + 1 :], False
    return records, True


def request_key(request: PageRequest) -> str:
    return repr((request.url, sorted(request.params.items())))


class StreamReader:
    def __init__(self, config: RestConfig, fetcher: PageFetcher, stream: StreamConfig, logger: logging.Logger):
        self.config = config
        self.fetcher = fetcher
        self.stream = stream
        self.logger = logger
        self.encoder = JsonRecordEncoder(stream.name)

    def read(self, incremental: bool, state: dict[str, Any] | None) -> Iterator[AirbyteMessage | Records]:
        stream = self.stream
        tracker = RecordCursor(stream, state) if incremental else None
        params = dict(stream.params)
        if tracker and stream.incremental.request_param and tracker.start is not None:
            params[stream.incremental.request_param] = tracker.request_value()
        start = first_page(stream.pagination, self.config.url(stream), params)
        resume = PageRequest(**state["next_page"]) if tracker is None and state and state.get("next_page") else None
        progress = Progress(self.logger, stream.name)
        last_state: dict[str, Any] | None = None
        frozen: dict[str, Any] | None = None  # the STATE before the order changed under an offset read
        pending, since = 0, time.monotonic()
        overlap = tracker is not None and stream.pagination.type == "offset"
        for records, following, shifted in self._pages(start, resume, overlap):
            if tracker:
                if shifted and frozen is None:
                    frozen = tracker.state()
                    self.logger.warning(
                        f"{stream.name}: records changed in front of a page during the read, so one may have been "
                        "skipped: the STATE stays at the one before that page, and the next sync reads from there."
                    )
                records = self._kept(tracker, records)
            if records:
                yield self.encoder.records(records)
                progress.add(len(records))
                pending += len(records)
            if following is not None and (
                pending >= self.config.checkpoint_records or time.monotonic() - since >= CHECKPOINT_SECONDS
            ):
                checkpoint = self._checkpoint(tracker, frozen, following)
                if checkpoint is not None and checkpoint != last_state:
                    yield state_message(stream.name, None, checkpoint)
                    last_state, pending, since = checkpoint, 0, time.monotonic()
        final = (frozen if frozen is not None else tracker.state()) if tracker else FULL_REFRESH_DONE
        if final != last_state or pending:
            yield state_message(stream.name, None, final)
        if tracker and tracker.unplaced:
            self.logger.warning(
                f"{stream.name}: {tracker.unplaced} records had no {stream.incremental.cursor_field} value (null, "
                "empty or a zero date such as 0000-00-00): they were read, and did not move the STATE."
            )
        progress.finish()

    def _kept(self, tracker: RecordCursor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ordered = tracker.ordered
        kept = [r for r in records if tracker.keep_record(r)]
        if ordered and not tracker.ordered:
            self.logger.warning(
                f"{self.stream.name}: records do not come in ascending {self.stream.incremental.cursor_field} order "
                "(sort them with a query parameter): from here on a STATE follows only the whole stream."
            )
        return kept

    @staticmethod
    def _checkpoint(
        tracker: RecordCursor | None, frozen: dict[str, Any] | None, following: PageRequest
    ) -> dict[str, Any] | None:
        if tracker is None:
            return {"next_page": asdict(following)}
        if frozen is not None:
            return frozen
        return tracker.state() if tracker.ordered else None

    def _pages(
        self, start: PageRequest, resume: PageRequest | None, overlap: bool
    ) -> Iterator[tuple[list[dict[str, Any]], PageRequest | None, bool]]:
        """Each page's records, the request after it (None after the last page) and whether records may have been
        skipped in front of it.

        With `overlap` (offset pages of an incremental read) each page is asked to start with the previous page's
        last record: a record updated during the read moves to the end of the order, and every record after it one
        place forward, which would skip one at the next page boundary unseen. A cursor or URL the API gives twice
        ends the read; an offset or page number the API ignores is a config error (both would loop for ever).
        """
        pagination, name = self.stream.pagination, self.stream.name
        request, (response, body) = self._open(start, resume)
        last: dict[str, Any] | None = None
        previous: list[dict[str, Any]] = []
        seen = {request_key(request)}
        while True:
            page = select(body, self.stream)
            if page and page == previous and pagination.type in ("offset", "page"):
                raise config_error(
                    f"Stream {name!r}: the API answered {request.params} with the same records as the page before, "
                    "so it does not page that way: check the stream's pagination type and parameter names."
                )
            records, shifted = overlapped(page, last) if overlap and last is not None else (page, False)
            step = len(page) - 1 if overlap and len(page) > 1 else len(page)
            following = next_page(pagination, request, response, body, step) if records or not overlap else None
            if following is not None:
                following = PageRequest(self.fetcher.auth.strip(following.url), following.params)
                if request_key(following) in seen:
                    self.logger.warning(f"{name}: the API gave the same next page twice, the read ends there.")
                    following = None
            yield records, following, shifted
            if following is None:
                return
            request, last, previous = following, page[-1] if page else last, page
            seen.add(request_key(request))
            response, body = self.fetcher.fetch(request, name)

    def _open(
        self, start: PageRequest, resume: PageRequest | None
    ) -> tuple[PageRequest, tuple[requests.Response, Any]]:
        """The first page: a full refresh's saved next page while the API takes it, otherwise `start`."""
        name = self.stream.name
        if resume is not None:
            self.logger.info(f"{name}: resuming the full refresh at {endpoint(resume.url)} {resume.params}")
            try:
                return resume, self.fetcher.get(resume)
            except HttpStatusError as error:
                if error.status in (401, 403):
                    raise refused(error, name) from error
                self.logger.warning(
                    f"{name}: the API refused the saved next page ({error.status}; its token may have expired): "
                    "reading the stream again from the first page."
                )
        return start, self.fetcher.fetch(start, name)
