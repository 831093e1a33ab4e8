"""The write loop: stdin -> typed batches -> one open transaction -> commit at a STATE -> echo the STATEs.

Rows go into the database as they arrive, inside one transaction, so memory stays bounded whatever the sync's
size: they are handed to the loader as they are parsed. The transaction is committed only at a STATE boundary
(every `commit_rows` rows or `commit_seconds` seconds, and at the end of input); after the commit every STATE
received up to that point is echoed, in order, with `destinationStats.recordCount`. A crash rolls back whatever no
echoed STATE covers.

Rows that come after the source's last STATE are held until a STATE follows them (up to `HOLD_BYTES`). If the
source then fails instead, they are not written: its retry starts from that STATE and sends them again. While no
STATE waits for a commit (before the first, or once a commit acknowledged them all), rows are loaded at once
instead: the open transaction then holds only rows that no STATE covers, so a source that fails has it rolled back.

While the source is silent, the loop still commits when a commit is due, so that its last STATEs are acknowledged
on time, and a load that failed meanwhile ends the write at once rather than when the source next writes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from typing import Any, BinaryIO, Protocol

import orjson
import pyarrow as pa

from destination_core.parse import CHUNK_BYTES, MessageParser, StreamKey, read_lines
from destination_core.streams import TargetStream
from source_core.progress import Progress

logger = logging.getLogger("airbyte")

COMMIT_ROWS = 500_000
COMMIT_SECONDS = 10.0
HOLD_BYTES = 256 << 20  # rows after the last STATE held back (beyond: loaded, and sent again if the source fails)


class Loader(Protocol):
    """What a database does for the write loop. Every method but `finalize` works in the open transaction."""

    makes_raw_ids: bool  # the rows handed to `load` come without `_airbyte_raw_id`: the database makes them

    def load(self, stream: TargetStream, rows: pa.Table) -> None: ...

    def wait(self) -> None:
        """End the loads in flight (they may run on a thread of their own), raising the error of one that failed."""

    def commit(self) -> None:
        """Merge what dedup streams staged, then commit: afterwards everything loaded so far is durable."""

    def rollback(self) -> None:
        """Discard what was loaded since the last commit. Only `commit` and `finalize` follow."""

    def finalize(self, stream: TargetStream) -> None:
        """The stream is complete: swap in an overwrite's new table, drop generations below the minimum."""


class PendingStates:
    """STATE messages received but not yet echoed, each with its stream's record count since the previous one."""

    def __init__(self) -> None:
        self.since_state: Counter[StreamKey | None] = Counter()
        self.waiting: list[dict[str, Any]] = []

    def records(self, counts: Counter[StreamKey]) -> None:
        self.since_state.update(counts)
        self.since_state[None] += sum(counts.values())

    def state(self, message: dict[str, Any]) -> None:
        state = message["state"]
        if state.get("type") == "STREAM":
            descriptor = state["stream"]["stream_descriptor"]
            count = self.since_state.pop((descriptor.get("namespace"), descriptor["name"]), 0)
        else:  # GLOBAL (and legacy) states cover every stream: the records since the previous STATE
            count = self.since_state[None]
            self.since_state.clear()
        self.since_state[None] = 0
        state["destinationStats"] = {"recordCount": float(count)}
        self.waiting.append(message)

    def flush(self, out: BinaryIO) -> int:
        """Echo the waiting STATEs in one write, so that a reader sees all of a commit's states or none."""
        if self.waiting:
            sys.stdout.flush()  # log lines written through the text layer go first
            out.write(b"".join(orjson.dumps(message) + b"\n" for message in self.waiting))
            out.flush()
        echoed, self.waiting = len(self.waiting), []
        return echoed


class Sync:
    def __init__(
        self,
        streams: dict[StreamKey, TargetStream],
        loader: Loader,
        commit_rows: int = COMMIT_ROWS,
        commit_seconds: float = COMMIT_SECONDS,
        exact_numbers: bool = False,
    ) -> None:
        self.streams = streams
        self.loader = loader
        self.parser = MessageParser(streams, exact_numbers, raw_ids=not loader.makes_raw_ids)
        self.pending = PendingStates()
        self.commit_rows, self.commit_seconds = commit_rows, commit_seconds
        self.rows_since_commit, self.last_commit = 0, time.monotonic()
        self.held: list[tuple[TargetStream, pa.Table]] = []  # rows after the last STATE, not loaded yet
        self.held_bytes = 0
        # A commit due at a chunk's last STATE is made once the next chunk is parsed (or before rows past that STATE
        # are loaded): the chunk's rows load on the load thread meanwhile, so the commit waits for fewer of them
        self.commit_waiting = False
        self.statuses: dict[StreamKey, str] = {}
        self.stated: set[StreamKey] = set()  # streams a STATE was received for
        self.source_failed = False  # the input carried a TRACE ERROR
        self.progress = Progress(logger, "write", verb="written")

    def run(self, stdin: BinaryIO, out: BinaryIO) -> None:
        with closing(self.parser):
            self._run(stdin, out)

    def _run(self, stdin: BinaryIO, out: BinaryIO) -> None:
        for data in read_lines(stdin, CHUNK_BYTES, idle=lambda: self._idle(out)):
            try:
                chunk = self.parser.parse(data)
            finally:  # a refused chunk too: what came before it is acknowledged, as if committed before parsing it
                if self.commit_waiting:
                    self._commit(out)
            has_state = any(m["type"] == "STATE" for m in chunk.controls)
            if has_state:  # the held rows came before this chunk's STATEs
                self._load([*self.held, *chunk.before])
                self.held, self.held_bytes = [], 0
            for counts, message in zip(chunk.counts, chunk.controls, strict=False):
                self.pending.records(counts)
                self._control(message)
            self.pending.records(chunk.counts[-1])
            self.commit_waiting = has_state and self._commit_due()
            self._hold(chunk.after, out)
        if self.commit_waiting:  # at the last chunk's STATE, apart from the rows after it, as at every other
            self._commit(out)
        if self._source_failed():
            # no STATE waits: none came since the last commit, so no STATE covers the rows loaded since (see `_hold`)
            uncovered = 0 if self.pending.waiting else self.rows_since_commit
            dropped = sum(rows.num_rows for _, rows in self.held) + uncovered
            if uncovered:
                self.loader.rollback()
                self.rows_since_commit = 0
            if dropped:
                logger.warning(
                    f"the source failed: the {dropped:,} rows it sent after its last STATE are not written, since "
                    "a retry starts from that STATE and sends them again"
                )
        else:
            self._load(self.held)
        self._commit(out)
        for key, stream in self.streams.items():
            if self._complete(key):
                self.loader.finalize(stream)
            else:
                logger.warning(
                    f"{stream.label}: the source did not finish it (last status: {self.statuses.get(key)}); its "
                    "overwrite or refresh is left unfinished, so the next sync can resume it."
                )
        self.progress.finish()

    def _complete(self, key: StreamKey) -> bool:
        """The source reported the stream COMPLETE; or, reporting no status for it, sent its STATE (sources state
        every stream, an empty one too) and no error. So an empty or broken input (a source that failed before
        reading) never replaces a table with nothing."""
        if key in self.statuses:
            return self.statuses[key] == "COMPLETE"
        return key in self.stated and not self.source_failed

    def _source_failed(self) -> bool:
        """The input carried a TRACE ERROR, or a stream's last status was not COMPLETE."""
        return self.source_failed or any(status != "COMPLETE" for status in self.statuses.values())

    def _hold(self, parts: list[tuple[TargetStream, pa.Table]], out: BinaryIO) -> None:
        self.held += parts
        self.held_bytes += sum(rows.nbytes for _, rows in parts)
        if self.held_bytes > HOLD_BYTES and self.commit_waiting:  # at the STATE, before rows past it go in
            self._commit(out)
        if not self.pending.waiting:  # the transaction holds no row a STATE covers: these go in now (see above)
            self._load(self.held)
            self.held, self.held_bytes = [], 0
        elif self.held_bytes > HOLD_BYTES:  # a source that states rarely: bounded memory comes first
            logger.info(
                f"over {HOLD_BYTES >> 20} MiB of rows since the source's last STATE: written now (if the source "
                "fails before its next STATE, its retry sends them again)"
            )
            self._load(self.held)
            self.held, self.held_bytes = [], 0

    def _load(self, parts: Iterable[tuple[TargetStream, pa.Table]]) -> None:
        for stream, rows in parts:
            self.loader.load(stream, rows)
            self.rows_since_commit += rows.num_rows
            self.progress.add(rows.num_rows)

    def _control(self, message: dict[str, Any]) -> None:
        trace = message.get("trace") or {}
        if message["type"] == "STATE":
            self.pending.state(message)
            self.stated.update(self._stated(message["state"]))
        elif message["type"] == "TRACE" and trace.get("type") == "ERROR":
            self.source_failed = True
        elif message["type"] == "TRACE" and trace.get("type") == "STREAM_STATUS":
            status = message["trace"].get("stream_status") or {}
            descriptor = status.get("stream_descriptor") or {}
            key = (descriptor.get("namespace"), descriptor.get("name"))
            if key in self.streams:
                self.statuses[key] = status.get("status")

    def _stated(self, state: dict[str, Any]) -> set[StreamKey]:
        if state.get("type") == "STREAM":
            descriptors = [state["stream"]["stream_descriptor"]]
        elif state.get("type") == "GLOBAL":
            descriptors = [s["stream_descriptor"] for s in state["global"].get("stream_states") or []]
        else:  # a legacy state covers every stream
            return set(self.streams)
        return {(d.get("namespace"), d["name"]) for d in descriptors}

    def _idle(self, out: BinaryIO) -> None:
        """No input for a while: raise a failed load's error (the load is ended: a COPY reports a refused row only
        when it ends); commit if due and a STATE waits for it."""
        self.loader.wait()
        if self.pending.waiting and self._commit_due():
            self._commit(out)

    def _commit_due(self) -> bool:
        elapsed = time.monotonic() - self.last_commit
        return self.rows_since_commit >= self.commit_rows or elapsed >= self.commit_seconds

    def _commit(self, out: BinaryIO) -> None:
        self.commit_waiting = False
        self.loader.commit()
        echoed = self.pending.flush(out)
        logger.info(f"committed {self.rows_since_commit:,} rows; {echoed} state message(s) acknowledged")
        self.rows_since_commit, self.last_commit = 0, time.monotonic()
