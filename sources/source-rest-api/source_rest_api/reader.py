"""Read one stream: pages through the shared HTTP client, records selected from each body, STATE checkpoints.

Full refresh checkpoints hold the next page to fetch (`next_page`), so a failed read resumes there; the final
STATE of a full refresh marks it complete and the next read starts over. Incremental checkpoints come from
`RecordCursor`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

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
        try:
            return self._get(request)
        except HttpStatusError as error:
            if error.status != 401 or not self.auth.refreshable:
                raise refused(error, stream) from error
        self.client.logger.info("The access token was refused: fetching a new one.")
        self.auth.expire()
        try:
            return self._get(request)
        except HttpStatusError as error:
            raise refused(error, stream) from error

    def _get(self, request: PageRequest) -> tuple[requests.Response, Any]:
        return self.client.get_json(request.url, params={**request.params, **self.auth.params})


def select(body: Any, stream: StreamConfig) -> list[Any]:
    found = dig(body, stream.record_selector)
    if found is None:
        return []
    if not isinstance(found, list):
        where = f"path {stream.record_selector!r}" if stream.record_selector else "the body"
        raise config_error(
            f"Stream {stream.name!r}: {where} holds a {type(found).__name__}, not a list of records: "
            "set record_selector to the path of the list."
        )
    return found


class StreamReader:
    def __init__(self, config: RestConfig, fetcher: PageFetcher, stream: StreamConfig, logger: logging.Logger):
        self.config = config
        self.fetcher = fetcher
        self.stream = stream
        self.logger = logger
        self.encoder = JsonRecordEncoder(stream.name)

    def read(self, incremental: bool, state: dict[str, Any] | None) -> Iterator[AirbyteMessage | Records]:
        stream = self.stream
        tracker = RecordCursor(stream.incremental, stream.primary_key, state) if incremental else None
        params = dict(stream.params)
        if tracker and stream.incremental.request_param and tracker.start is not None:
            params[stream.incremental.request_param] = tracker.request_value()
        request: PageRequest | None = first_page(stream.pagination, self.config.url(stream), params)
        if tracker is None and state and state.get("next_page"):
            request = PageRequest(**state["next_page"])
            self.logger.info(f"{stream.name}: resuming the full refresh at {endpoint(request.url)} {request.params}")
        progress = Progress(self.logger, stream.name)
        last_state: dict[str, Any] | None = None
        pending, since = 0, time.monotonic()
        while request is not None:
            response, body = self.fetcher.fetch(request, stream.name)
            records = select(body, stream)
            following = next_page(stream.pagination, request, response, body, len(records))
            if following is not None:
                following = PageRequest(self.fetcher.auth.strip(following.url), following.params)
            if tracker:
                ordered = tracker.ordered
                records = [r for r in records if tracker.keep_record(r)]
                if ordered and not tracker.ordered:
                    self.logger.warning(
                        f"{stream.name}: records do not come in ascending {stream.incremental.cursor_field} order "
                        "(sort them with a query parameter): from here on a STATE follows only the whole stream."
                    )
            if records:
                yield self.encoder.records(records)
                progress.add(len(records))
                pending += len(records)
            request = following
            if request is not None and (
                pending >= self.config.checkpoint_records or time.monotonic() - since >= CHECKPOINT_SECONDS
            ):
                checkpoint = (
                    (tracker.state() if tracker.ordered else None) if tracker else {"next_page": asdict(request)}
                )
                if checkpoint is not None and checkpoint != last_state:
                    yield state_message(stream.name, None, checkpoint)
                    last_state, pending, since = checkpoint, 0, time.monotonic()
        final = tracker.state() if tracker else FULL_REFRESH_DONE
        if final != last_state or pending:
            yield state_message(stream.name, None, final)
        progress.finish()
