"""source-file: spec, check, discover and read of CSV, JSONL and Parquet files, local or on S3.

Files are read oldest first (by modification time, then URL). The state remembers every file read (its URL,
modification time and size, as Airbyte's file-based CDK does): a file is read when it is not in that history or has
changed since, whatever its modification time, so that one moved or copied in with an old time is not left out.
The history keeps the newest HISTORY_MAX files; below the oldest ones it gave up (`horizon_us`), a file it does not
know counts as read. A STATE follows a file when the last one is `checkpoint_interval_seconds` old, and the last
file. Incremental reads skip what the state covers; a full refresh reads everything (its own STATEs let an
interrupted read resume, and the final one says it is done).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
    Status,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import state_message, stream_states
from source_core.config import config_error
from source_core.emit import Column, Kind, RecordEncoder, int_array, kind_of, string_array
from source_core.launch import BatchSource, Records
from source_core.lifecycle import read_streams
from source_core.progress import Progress
from source_file.config import FileConfig, StreamConfig
from source_file.convert import Converter
from source_file.formats import FileError, read_raw, sample_schema
from source_file.storage import FileRef, Storage, iso_of_us
from source_file.types import FILE_MODIFIED, FILE_URL, json_schema_of

METADATA = {
    FILE_URL: {"type": "string"},
    FILE_MODIFIED: {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
}
DONE = "__ab_full_refresh_sync_complete"
FULL_REFRESH = "full_refresh"  # marks a full refresh's checkpoints: only a full refresh resumes from them
HISTORY_MAX = 10_000  # files a state remembers; beyond, the oldest give way to `horizon_us`


def file_error(exc: FileError) -> AirbyteTracedException:
    return AirbyteTracedException(message=str(exc), internal_message=str(exc), failure_type=FailureType.config_error)


def list_files(storage: Storage, stream: StreamConfig) -> list[FileRef]:
    found = {f.url: f for pattern in stream.globs for f in storage.list(pattern)}
    return sorted(found.values())


def newest_schema(
    storage: Storage, files: Sequence[FileRef], stream: StreamConfig, rows: int, block_bytes: int
) -> tuple[pa.Schema, bool]:
    """The schema of the newest of `files` (oldest first, not empty) that has rows, and True; when none has, the
    newest one's (its header's columns, if any) and False."""
    newest, has_rows = sample_schema(storage, files[-1], stream, rows, block_bytes)
    if has_rows:
        return newest, True
    for file in reversed(files[:-1]):
        schema, has_rows = sample_schema(storage, file, stream, rows, block_bytes)
        if has_rows:
            return schema, True
    return newest, False


def from_cursor(state: Mapping[str, Any], listed: Iterable[FileRef]) -> dict[str, Any]:
    """A state of the versions before the history (`modified_us`, the newest modification time read, and the files
    read at exactly that time: `files_at_cursor`, `sizes_at_cursor`) in today's shape, leaving the same files to
    read: the listed files it counts as read at that time go into the history, and every older one behind the
    horizon. A file newer than that time, or at it and not read (or rewritten with another size), is read."""
    cursor = int(state["modified_us"])
    done, sizes = set(state.get("files_at_cursor") or ()), state.get("sizes_at_cursor") or {}
    history = {f.url: [f.modified_us, f.size] for f in listed
               if f.modified_us == cursor and f.url in done and sizes.get(f.url, f.size) == f.size}  # fmt: skip
    return {"modified_us": cursor, "history": history} | ({"horizon_us": cursor - 1} if cursor >= 0 else {})


class History:
    """The files a state says are read: URL -> [modification time (us), size] of the version read, at most
    HISTORY_MAX of them, and `horizon_us`, the newest modification time of those it has let go (if any)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.files = {url: (int(m), int(size)) for url, (m, size) in (state.get("history") or {}).items()}
        horizon = state.get("horizon_us")
        self.horizon = None if horizon is None else int(horizon)
        self.newest = int(state.get("modified_us", -1))  # the newest modification time read: for people to look at

    def unread(self, file: FileRef) -> bool:
        """Not read yet: not in the history (and newer than its horizon), or read in another version."""
        read = self.files.get(file.url)
        if read is not None:
            return read != (file.modified_us, file.size)
        return self.horizon is None or file.modified_us > self.horizon

    def add(self, file: FileRef) -> None:
        self.files.pop(file.url, None)  # in the order of reading
        self.files[file.url] = (file.modified_us, file.size)
        self.newest = max(self.newest, file.modified_us)

    def trim(self, pending: Sequence[FileRef]) -> None:
        """Lets the oldest files go beyond HISTORY_MAX, moving the horizon up to them, but never so far that it
        would cover one of `pending` (the files still to read in this run, oldest first): this state must leave
        them to read. Until then the history may hold more."""
        excess = len(self.files) - HISTORY_MAX
        if excess <= 0:
            return
        before = pending[0].modified_us if pending else None
        keep = {f.url for f in pending}
        oldest = sorted((m, url) for url, (m, _) in self.files.items()
                        if (before is None or m < before) and url not in keep)[:excess]  # fmt: skip
        for _, url in oldest:
            del self.files[url]
        if oldest:
            self.horizon = max(oldest[-1][0], -1 if self.horizon is None else self.horizon)

    def state(self) -> dict[str, Any]:
        cursor = {"cursor": iso_of_us(self.newest)} if self.newest >= 0 else {}
        horizon = {} if self.horizon is None else {"horizon_us": self.horizon}
        history = {url: [m, size] for url, (m, size) in self.files.items()}
        return cursor | {"modified_us": self.newest, "history": history} | horizon


class SourceFile(BatchSource):
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            settings = FileConfig.parse(config)
            storage = Storage(settings)
            empty, no_rows = [], []
            for stream in settings.streams:
                files = list_files(storage, stream)
                if not files:
                    empty.append(stream.name)
                elif not newest_schema(storage, files, stream, 100, settings.batch_bytes)[1]:
                    no_rows.append(stream.name)
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        except FileError as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        notes = [f"No file matches yet for stream(s) {', '.join(empty)}."] if empty else []
        if no_rows:
            notes.append(f"The files of stream(s) {', '.join(no_rows)} are all empty (no rows) yet.")
        if notes:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=" ".join(notes))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        settings = FileConfig.parse(config)
        storage = Storage(settings)
        return AirbyteCatalog(streams=[self._stream(storage, settings, s) for s in settings.streams])

    def _stream(self, storage: Storage, settings: FileConfig, stream: StreamConfig) -> AirbyteStream:
        if stream.schema is not None:
            properties = dict(stream.schema["properties"])
        else:
            files = list_files(storage, stream)
            if not files:
                raise config_error(
                    f"Stream '{stream.name}': no file matches {list(stream.globs)}, so there is nothing to infer "
                    "a schema from: add files, or give the stream a `schema`."
                )
            try:
                schema, _ = newest_schema(storage, files, stream, settings.sample_rows, settings.batch_bytes)
            except FileError as exc:
                raise file_error(exc) from exc
            properties = {field.name: json_schema_of(field.type) for field in schema}
        properties.update(METADATA)
        return AirbyteStream(
            name=stream.name,
            json_schema={"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                         "properties": properties},
            supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
            source_defined_cursor=True,
            default_cursor_field=[FILE_MODIFIED],
            is_resumable=True,
        )  # fmt: skip

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage | Records]:
        settings = FileConfig.parse(config)
        storage = Storage(settings)
        by_name = {s.name: s for s in settings.streams}
        for configured in catalog.streams:
            if configured.stream.name not in by_name:
                raise config_error(
                    f"Stream '{configured.stream.name}' is not in the config's streams {sorted(by_name)}: "
                    "run discover again."
                )
        states = stream_states(state)

        def read_one(configured: ConfiguredAirbyteStream) -> Iterator[AirbyteMessage | Records]:
            name = configured.stream.name
            stream_state = states.get((configured.stream.namespace, name)) or states.get((None, name))
            return StreamReader(storage, settings, by_name[name], configured, logger).read(stream_state)

        yield from read_streams(
            logger,
            catalog.streams,
            lambda c: [StreamDescriptor(name=c.stream.name, namespace=c.stream.namespace)],
            read_one,
        )


class StreamReader:
    def __init__(
        self,
        storage: Storage,
        settings: FileConfig,
        stream: StreamConfig,
        configured: ConfiguredAirbyteStream,
        logger: logging.Logger,
    ) -> None:
        self.storage, self.settings, self.stream, self.logger = storage, settings, stream, logger
        self.incremental = configured.sync_mode == SyncMode.incremental
        self.mode_marker = {} if self.incremental else {FULL_REFRESH: True}
        self.namespace = configured.stream.namespace
        properties = (configured.stream.json_schema or {}).get("properties") or {}
        self.columns = [Column(n, kind_of(s or {})) for n, s in properties.items() if n not in METADATA]
        written = [Column(c.name, Kind.DECIMAL if c.kind is Kind.NUMBER else c.kind) for c in self.columns]
        self.encoder = RecordEncoder(stream.name, self.namespace, [*written, Column(FILE_URL, Kind.STRING),
                                                                  Column(FILE_MODIFIED, Kind.TIMESTAMPTZ)])  # fmt: skip
        self.converter = Converter(self.columns)

    def _start(self, state: Mapping[str, Any] | None) -> dict[str, Any]:
        """The state this read continues from. A full refresh resumes only from its own checkpoints: an incremental
        cursor (the stream's mode was switched) must not leave out older files, or an overwrite would lose them."""
        state = dict(state or {})
        if state.get(DONE):
            return {}  # the last full refresh finished: this one starts over
        if self.incremental:
            state.pop(FULL_REFRESH, None)
            return state
        if state and not state.get(FULL_REFRESH):
            self.logger.info(f"{self.stream.name}: the state is an incremental cursor; a full refresh reads every file")
            return {}
        return state

    def read(self, state: Mapping[str, Any] | None) -> Iterator[AirbyteMessage | Records]:
        state = self._start(state)
        listed = list_files(self.storage, self.stream)
        if "modified_us" in state and "history" not in state:
            state = from_cursor(state, listed)
        history = History(state)
        files = [f for f in listed if history.unread(f)]
        self.logger.info(f"{self.stream.name}: {len(files)} file(s) to read")
        progress = Progress(self.logger, self.stream.name)
        saved, since = 0, time.monotonic()  # files[:saved] are in a STATE, the last one emitted at `since`
        for index, file in enumerate(files):
            try:
                yield from self._file(file, progress)
            except Exception:
                if saved < index:  # what was read before this file need not be read again
                    yield self._checkpoint(history, files[index:])
                raise
            history.add(file)
            if index + 1 == len(files) or time.monotonic() - since >= self.settings.checkpoint_seconds:
                yield self._checkpoint(history, files[index + 1 :])
                saved, since = index + 1, time.monotonic()
        if not self.incremental:
            yield state_message(self.stream.name, self.namespace, {DONE: True})
        elif not files:  # nothing new: the state is said again (in today's shape if it was an older one)
            yield self._checkpoint(history, [])
        progress.finish()

    def _checkpoint(self, history: History, pending: Sequence[FileRef]) -> AirbyteMessage:
        history.trim(pending)
        return state_message(self.stream.name, self.namespace, history.state() | self.mode_marker)

    def _file(self, file: FileRef, progress: Progress) -> Iterator[Records]:
        names = [c.name for c in self.columns]
        url = string_array([file.url])[0]  # not pa.scalar: that imports pandas to inspect a plain value
        modified = int_array(np.array([file.modified_us], np.int64), pa.timestamp("us", tz="UTC"))[0]
        skipped, started = 0, False
        try:
            numbers = {c.name for c in self.columns if c.kind is Kind.NUMBER}
            for raw in read_raw(self.storage, file, self.stream, names, numbers, self.settings.batch_bytes):
                started = True
                converted = self.converter.convert(raw, file.url, self.stream.skip_errors)
                skipped += converted.skipped
                table = converted.table
                n = table.num_rows
                if not n:
                    continue
                table = table.append_column(FILE_URL, pa.repeat(url, n)).append_column(
                    FILE_MODIFIED, pa.repeat(modified, n)
                )
                for batch in table.combine_chunks().to_batches():
                    progress.add(batch.num_rows)
                    yield Records(self.encoder, batch)
        except (FileError, pa.ArrowException, duckdb.Error, OSError) as exc:
            error = exc if isinstance(exc, FileError) else FileError(f"{file.url}: {exc}")
            if not self.stream.skip_errors:
                raise file_error(error) from exc
            if started:  # a STATE after this file would mark its unread rest as done: rows lost for good
                raise file_error(FileError(f"{error} (after some of its rows: `on_error: skip` leaves out bad rows "
                                           "and unreadable files, not the rest of a file)")) from exc  # fmt: skip
            self.logger.warning(f"{self.stream.name}: skipped {file.url}, which cannot be read: {error}")
        if skipped:
            self.logger.warning(f"{self.stream.name}: {file.url}: skipped {skipped} row(s) that do not fit the schema")
