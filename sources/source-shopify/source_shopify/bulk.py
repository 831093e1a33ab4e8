"""Bulk operations: one `bulkOperationRunQuery` per family, polled by its id until it ends, its JSONL file
downloaded to a temporary file (streamed: bounded memory), then read line by line with child lines attached to
their parent by `__parentId`.

Shopify promises no order of the file's lines, so the read depends on none: a child line that comes before its
parent waits for it (only such early children are held), each parent's id and updatedAt are kept, and the
family's STATEs come once, after the whole file (a STATE mid-file could run ahead of a line still to come). Nor
does it promise a snapshot: a record changed while the file was made may be there in its new version while one
changed before it is there in its old one, so the STATEs go no further than the operation's `createdAt`, and the
next read takes what changed since then.

The connector never cancels an operation it did not start. If Shopify answers that one is in progress: when it
is this read's own (its query, started by a send that was retried) it is taken over, otherwise the read waits for
it to end and starts its own (shops on older API versions run one bulk query at a time). A FAILED, CANCELED or
EXPIRED operation, an expired result URL or a failed download is run again, up to `ATTEMPTS` times in all; then
the read ends with a TRACE (config_error for ACCESS_DENIED, transient_error otherwise). An operation that has not
ended after `MAX_WAIT_SECONDS` ends the read with a transient_error.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import requests
from airbyte_cdk.models import AirbyteMessage, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error
from source_core.http.client import endpoint
from source_core.launch import Records
from source_shopify.client import ShopifyClient
from source_shopify.family import Family, Member
from source_shopify.queries import BULK_BY_ID, BULK_CURRENT, BULK_RUN, bulk_query

ATTEMPTS = 3
POLL_FIRST_SECONDS, POLL_GROWTH, POLL_MAX_SECONDS = 0.2, 1.5, 10.0
MAX_WAIT_SECONDS = 6 * 3600.0
IN_PROGRESS = {"CREATED", "RUNNING", "CANCELING"}
BATCH_ROWS = 2_000
DOWNLOAD_CHUNK = 1 << 20


class Retry(Exception):
    """This attempt failed in a way another run of the operation may not: why, as the log and the TRACE say it."""


class BulkOperations:
    def __init__(self, client: ShopifyClient, logger: logging.Logger):
        self.client = client
        self.logger = logger
        self.created_at: str | None = None  # when the operation whose file `lines` read was created (Shopify's clock)

    def _wait(self, operation_id: str) -> dict[str, Any]:
        """Poll the operation until it has ended (the poll interval grows, bounded)."""
        interval, deadline = POLL_FIRST_SECONDS, time.monotonic() + MAX_WAIT_SECONDS
        while True:
            operation = self.client.query(BULK_BY_ID, {"id": operation_id})["bulkOperation"]
            if operation is None:
                raise Retry(f"bulk operation {operation_id} is gone")
            if operation["status"] not in IN_PROGRESS:
                return operation
            if time.monotonic() > deadline:
                raise AirbyteTracedException(
                    message=f"Shopify's bulk operation {operation_id} has not ended after {MAX_WAIT_SECONDS / 3600:g} "
                    "hours: try again later, or set bulk_mode to never.",
                    failure_type=FailureType.transient_error,
                )
            time.sleep(interval)
            interval = min(interval * POLL_GROWTH, POLL_MAX_SECONDS)

    def _start(self, query: str) -> str:
        """The id of this read's operation: started now, or taken over if a retried send already started it."""
        while True:
            result = self.client.query(BULK_RUN, {"query": query})["bulkOperationRunQuery"]
            if result["bulkOperation"]:
                return result["bulkOperation"]["id"]
            errors = result["userErrors"]
            if not any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                raise AirbyteTracedException(
                    message="Shopify refused the bulk operation: " + "; ".join(e["message"] for e in errors),
                    failure_type=FailureType.system_error,
                )
            current = self.client.query(BULK_CURRENT)["currentBulkOperation"]
            if current and current["status"] in IN_PROGRESS and current["query"] == query:
                return current["id"]
            if current and current["status"] in IN_PROGRESS:
                self.logger.info(f"Waiting for bulk operation {current['id']}, started by another reader, to end.")
                self._wait(current["id"])

    def _download(self, url: str, folder: Path) -> Path:
        """The result file on local disk, streamed there in chunks."""
        path = folder / "result.jsonl"
        started, size = time.perf_counter(), 0
        response = self.client.http.open_stream(url)
        with response:
            if response.status_code in (403, 404):
                self.client.http.figures.attempt(time.perf_counter() - started, response.status_code)
                raise Retry("its result file had expired")
            if response.status_code >= 400:
                self.client.http.figures.attempt(time.perf_counter() - started, response.status_code)
                raise Retry(f"downloading its result from {endpoint(url)} answered {response.status_code}")
            try:
                with path.open("wb") as sink:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK):
                        sink.write(chunk)
                        size += len(chunk)
            except requests.RequestException as exc:  # its text names the signed URL: only the type is kept
                raise Retry(f"downloading its result from {endpoint(url)} broke off ({type(exc).__name__})") from None
        self.client.http.figures.attempt(time.perf_counter() - started, response.status_code, size)
        return path

    def lines(self, query: str) -> Iterator[dict[str, Any]]:
        """The parsed lines of a completed operation's file (none when it found nothing)."""
        why = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                operation = self._wait(self._start(query))
                status = operation["status"]
                if status != "COMPLETED":
                    if operation.get("errorCode") == "ACCESS_DENIED":
                        raise config_error(
                            "The bulk operation was denied access: grant the app the access scopes of the selected "
                            "streams (read_orders, read_products, ...) or deselect them."
                        )
                    raise Retry(f"it ended {status} ({operation.get('errorCode') or 'no error code'})")
                self.created_at = operation["createdAt"]
                if not operation.get("url"):
                    return
                with tempfile.TemporaryDirectory(prefix="shopify-bulk-") as folder:
                    path = self._download(operation["url"], Path(folder))
                    with path.open("rb") as lines:
                        for line in lines:
                            if line.strip():
                                yield orjson.loads(line)
                return
            except Retry as retry:
                why = str(retry)
            self.logger.warning(f"Bulk operation attempt {attempt} of {ATTEMPTS} failed: {why}.")
        raise AirbyteTracedException(
            message=f"Shopify's bulk operation failed {ATTEMPTS} times (last: {why}): try again later, or set "
            "bulk_mode to never. Every STATE emitted before this is safe to resume from.",
            failure_type=FailureType.transient_error,
        )


def read_bulk(client: ShopifyClient, family: Family, logger: logging.Logger) -> Iterator[AirbyteMessage | Records]:
    query = bulk_query(family.parent, family.own is not None, [c.stream for c in family.children], family.start())
    by_type = {c.stream.node_type: c for c in family.children}
    parents: dict[str, tuple[dict[str, Any], list[Member]]] = {}  # id -> (id and updatedAt, children it needs)
    early: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)  # children whose parent has not come yet
    buffered = 0

    def attach(member: Member, line: dict[str, Any]) -> None:
        parent, wanted = parents[line.pop("__parentId")]
        if member in wanted:
            family.add_child(member, line, parent)

    operations = BulkOperations(client, logger)
    for line in operations.lines(query):
        parent_id = line.get("__parentId")
        if parent_id is None:
            key = {"id": line["id"], "updatedAt": line["updatedAt"]}
            parents[line["id"]] = (key, family.admit(line))
            for child in early.pop(line["id"], []):
                attach(by_type[child["id"].split("/")[3]], child)
        else:
            member = by_type.get(line["id"].split("/")[3])
            if member is None:
                raise AirbyteTracedException(
                    message="A bulk operation's file holds a line this read did not ask for: read with bulk_mode "
                    "never, and report it.",
                    internal_message=f"line {line.get('id')} with __parentId {parent_id}",
                    failure_type=FailureType.system_error,
                )
            if parent_id in parents:
                attach(member, line)
            else:
                early[parent_id].append(line)
        buffered += 1
        if buffered >= BATCH_ROWS:
            yield from family.flush()
            buffered = 0
    for member in family.members:  # the file is no snapshot: what changed while it was made may be missing
        member.tracker.hold_at(operations.created_at)
    if early:
        raise AirbyteTracedException(
            message="A bulk operation's file lists children of parents it does not hold: read with bulk_mode never.",
            internal_message=f"{sum(map(len, early.values()))} lines, e.g. __parentId {next(iter(early))}",
            failure_type=FailureType.system_error,
        )
    yield from family.checkpoint(final=True)
