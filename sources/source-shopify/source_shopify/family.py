"""A parent stream and its selected children, read in one pass over the parent's nodes, with a state per stream.

Each selected stream has a `CursorTracker` over the parent's (updatedAt, id): a parent's row is emitted if the
parent's tracker has not seen it, its children if the child's tracker has not. A child's tracker moves when its
parent is admitted, before the children are fetched; STATEs come only between parents (after a page, or at the
end), once every admitted parent's children are buffered, so a child's STATE never runs ahead of the rows before
it. A family whose parent cannot be sorted by updatedAt (locations) gets its STATEs only at the end. The read
starts at the earliest of the trackers' cursors; a stream whose state is further on skips what it already has, so
a parent and a child resumed from different STATEs each get exactly their rest.

Full refresh uses the same trackers (a failed full refresh resumes after its last STATE); its final STATE marks it
complete, and the next full refresh starts over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airbyte_cdk.models import AirbyteMessage, StreamDescriptor

from source_core.checkpoint import state_message
from source_core.cursor import CursorTracker
from source_core.http.records import JsonRecordEncoder
from source_core.launch import Records
from source_core.progress import Progress
from source_shopify.config import parse_instant, rfc3339
from source_shopify.streams import Stream

FULL_REFRESH_DONE = {"__ab_full_refresh_sync_complete": True}  # as source-file and airbyte-cdk mark it


@dataclass(eq=False)
class Member:
    """One selected stream of a family, with what it has buffered and emitted."""

    stream: Stream
    incremental: bool
    tracker: CursorTracker
    progress: Progress
    encoder: JsonRecordEncoder
    rows: list[dict[str, Any]] = field(default_factory=list)
    last_state: dict[str, Any] | None = None
    pending: int = 0  # records emitted since this stream's last STATE

    @classmethod
    def of(
        cls, stream: Stream, incremental: bool, state: dict[str, Any] | None, start: str | None, logger: logging.Logger
    ) -> Member:
        if not state or "cursor" not in state:  # no state, or a completed full refresh: from the start
            state = None
        return cls(stream, incremental, CursorTracker(state, start), Progress(logger, stream.name),
                   JsonRecordEncoder(stream.name))  # fmt: skip

    def state(self, final: bool) -> dict[str, Any]:
        if final and not self.incremental:
            return FULL_REFRESH_DONE
        return self.tracker.state()


@dataclass
class Family:
    parent: Stream
    own: Member | None  # the parent stream, when it is selected
    children: list[Member]

    @property
    def members(self) -> list[Member]:
        return ([self.own] if self.own else []) + self.children

    @property
    def descriptors(self) -> list[StreamDescriptor]:
        return [StreamDescriptor(name=m.stream.name) for m in self.members]

    def start(self) -> datetime | None:
        """Where the read begins: the earliest cursor of its streams (None: from the beginning)."""
        starts = [m.tracker.start for m in self.members]
        if any(s is None for s in starts):
            return None
        return min(parse_instant(str(s), "the state's cursor") for s in starts)

    def behind(self, threshold_days: float) -> bool:
        """Whether the read covers more than `threshold_days` up to now (a first sync always does)."""
        start = self.start()
        return start is None or datetime.now(UTC) - start > timedelta(days=threshold_days)

    def admit(self, node: Mapping[str, Any]) -> list[Member]:
        """Take a parent node: buffer its row if new to the parent stream; the children whose rows it needs."""
        key, at = (node["id"],), node["updatedAt"]
        if self.own and self.own.tracker.keep(at, key):
            self.own.rows.append({k: v for k, v in node.items() if k not in {c.stream.field for c in self.children}})
        return [c for c in self.children if c.tracker.keep(at, key)]

    def add_child(self, member: Member, row: Mapping[str, Any], parent: Mapping[str, Any]) -> None:
        stream = member.stream
        member.rows.append({**row, stream.parent_key: parent["id"], stream.parent_cursor: parent["updatedAt"]})

    def flush(self) -> Iterator[Records]:
        for member in self.members:
            if member.rows:
                yield member.encoder.records(member.rows)
                member.progress.add(len(member.rows))
                member.pending += len(member.rows)
                member.rows = []

    def checkpoint(self, final: bool = False) -> Iterator[AirbyteMessage | Records]:
        """The buffered rows, then a STATE for each stream whose state moved (every stream's, at the end).

        The STATEs of a family follow one another with no record between them."""
        yield from self.flush()
        for member in self.members:
            if not (final or (self.parent.sort_key and member.tracker.ordered)):
                continue  # not read in cursor order: only the STATE after the whole read is exact
            state = member.state(final)
            if state != member.last_state or (final and member.pending) or (final and member.last_state is None):
                yield state_message(member.stream.name, None, state)
                member.last_state, member.pending = state, 0
        if final:
            for member in self.members:
                member.progress.finish()


def start_value(start_date: datetime | None) -> str | None:
    return rfc3339(start_date) if start_date else None
