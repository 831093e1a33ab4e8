"""Bulk operations: one `bulkOperationRunQuery` per family, polled until it ends, its JSONL file streamed line by
line (bounded memory) with child lines attached to their parent by `__parentId`.

One bulk query operation runs at a time per shop: one still running when the read starts (left by a crashed run,
whose result nobody will read) is cancelled, then the read's own starts. A FAILED, CANCELED or EXPIRED operation,
or a result file that has expired, is run again, up to `ATTEMPTS` times in all; then the read ends with a TRACE
(config_error for ACCESS_DENIED, transient_error otherwise).

The file lists parents in updatedAt order (the query sorts by it where the connection can), each followed by its
children, so a STATE may follow any parent whose children are all out: one follows every `CHECKPOINT_ROWS` rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import requests
from airbyte_cdk.models import AirbyteMessage, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error
from source_core.launch import Records
from source_shopify.client import ShopifyClient
from source_shopify.family import Family
from source_shopify.queries import BULK_CANCEL, BULK_CURRENT, BULK_RUN, bulk_query

ATTEMPTS = 3
POLL_FIRST_SECONDS, POLL_GROWTH, POLL_MAX_SECONDS = 0.2, 1.5, 10.0
ENDED = {"COMPLETED", "FAILED", "CANCELED", "EXPIRED"}
CHECKPOINT_ROWS = 10_000
BATCH_ROWS = 2_000


class BulkOperations:
    def __init__(self, client: ShopifyClient, logger: logging.Logger):
        self.client = client
        self.logger = logger

    def current(self) -> dict[str, Any] | None:
        return self.client.query(BULK_CURRENT)["currentBulkOperation"]

    def _wait(self, operation_id: str | None) -> dict[str, Any]:
        """Poll the current operation until it has ended (the poll interval grows, bounded)."""
        interval = POLL_FIRST_SECONDS
        while True:
            current = self.current()
            if current is None or (operation_id and current["id"] != operation_id):
                return {"status": "CANCELED", "errorCode": "replaced by another operation"}
            if current["status"] in ENDED:
                return current
            time.sleep(interval)
            interval = min(interval * POLL_GROWTH, POLL_MAX_SECONDS)

    def _cancel_running(self) -> None:
        current = self.current()
        if current and current["status"] not in ENDED:
            self.logger.warning(f"Cancelling bulk operation {current['id']} (left running by an earlier read).")
            self.client.query(BULK_CANCEL, {"id": current["id"]})
            self._wait(current["id"])

    def _start(self, query: str) -> str:
        for _ in range(ATTEMPTS):
            result = self.client.query(BULK_RUN, {"query": query})["bulkOperationRunQuery"]
            if result["bulkOperation"]:
                return result["bulkOperation"]["id"]
            errors = result["userErrors"]
            if not any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                raise AirbyteTracedException(
                    message="Shopify refused the bulk operation: " + "; ".join(e["message"] for e in errors),
                    failure_type=FailureType.system_error,
                )
            self._cancel_running()
        raise AirbyteTracedException(
            message="Another bulk operation kept starting on this shop: stop the other reader and try again.",
            failure_type=FailureType.transient_error,
        )

    def _open(self, url: str) -> requests.Response | None:
        """The result file as a stream; None if it has expired (403/404)."""
        response = self.client.http.open_stream(url)
        if response.status_code in (403, 404):
            response.close()
            return None
        response.raise_for_status()
        return response

    def lines(self, query: str) -> Iterator[dict[str, Any]]:
        """The parsed lines of a completed operation's file (none when it found nothing)."""
        why = ""
        for attempt in range(1, ATTEMPTS + 1):
            operation = self._wait(self._start(query))
            status = operation.get("status")
            if status == "COMPLETED":
                if not operation.get("url"):
                    return
                started = time.perf_counter()
                response = self._open(operation["url"])
                if response is not None:
                    size = 0
                    with response:
                        for line in response.iter_lines(chunk_size=1 << 16):
                            size += len(line) + 1
                            if line:
                                yield orjson.loads(line)
                    self.client.http.figures.attempt(time.perf_counter() - started, response.status_code, size)
                    return
                self.client.http.figures.attempt(time.perf_counter() - started, 403)
                why = "its result file had expired"
            else:
                why = f"it ended {status} ({operation.get('errorCode') or 'no error code'})"
                if operation.get("errorCode") == "ACCESS_DENIED":
                    raise config_error(
                        "The bulk operation was denied access: grant the app the access scopes of the selected "
                        "streams (read_orders, read_products, ...) or deselect them."
                    )
            self.logger.warning(f"Bulk operation attempt {attempt} of {ATTEMPTS} failed: {why}.")
        raise AirbyteTracedException(
            message=f"Shopify's bulk operation failed {ATTEMPTS} times (last: {why}): try again later, or set "
            "bulk_mode to never. Every STATE emitted before this is safe to resume from.",
            failure_type=FailureType.transient_error,
        )


def read_bulk(client: ShopifyClient, family: Family, logger: logging.Logger) -> Iterator[AirbyteMessage | Records]:
    query = bulk_query(family.parent, family.own is not None, [c.stream for c in family.children], family.start())
    by_type = {c.stream.node_type: c for c in family.children}
    parent: dict[str, Any] | None = None
    wanted: list = []
    buffered = since_state = 0
    for line in BulkOperations(client, logger).lines(query):
        parent_id = line.pop("__parentId", None)
        if parent_id is None:  # a parent: the previous one's children are all buffered
            if since_state >= CHECKPOINT_ROWS:
                yield from family.checkpoint()
                buffered = since_state = 0
            parent, wanted = line, family.admit(line)
        else:
            member = by_type.get(line["id"].split("/")[3])
            if member is None or parent is None or parent_id != parent["id"]:
                raise AirbyteTracedException(
                    message="A bulk operation's file lists a child away from its parent: read with bulk_mode never.",
                    internal_message=f"line {line.get('id')} with __parentId {parent_id}",
                    failure_type=FailureType.system_error,
                )
            if member in wanted:
                family.add_child(member, line, parent)
        buffered += 1
        since_state += 1
        if buffered >= BATCH_ROWS:
            yield from family.flush()
            buffered = 0
    yield from family.checkpoint(final=True)
