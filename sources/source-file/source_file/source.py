"""source-file: spec, check, discover and read of CSV, JSONL and Parquet files, local or on S3.

Files are read oldest first (by modification time, then URL). A STATE follows each file: the newest
modification time read so far and the URLs and sizes read at exactly that time, so that a later file with the
same timestamp (or one rewritten with another size within it) is still read next time and none is read twice.
Incremental reads skip what the state covers; a full refresh reads everything (its own STATEs let an interrupted
read resume, and the final one says it is done).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
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
from source_file.storage import FileRef, Storage
from source_file.types import FILE_MODIFIED, FILE_URL, json_schema_of

METADATA = {
    FILE_URL: {"type": "string"},
    FILE_MODIFIED: {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
}
DONE = "__ab_full_refresh_sync_complete"
FULL_REFRESH = "full_refresh"  # marks a full refresh's checkpoints: only a full refresh resumes from them


def file_error(exc: FileError) -> AirbyteTracedException:
    return AirbyteTracedException(message=str(exc), internal_message=str(exc), failure_type=FailureType.config_error)


def list_files(storage: Storage, stream: StreamConfig) -> list[FileRef]:
    found = {f.url: f for pattern in stream.globs for f in storage.list(pattern)}
    return sorted(found.values())


def unread(file: FileRef, cursor: int, done_at_cursor: Mapping[str, int | None]) -> bool:
    """Whether the state leaves `file` to read: newer than the cursor, or at it and either not read or read with
    another size (rewritten within the second it was read in: S3 keeps whole seconds and its listing no ETag)."""
    if file.modified_us != cursor:
        return file.modified_us > cursor
    if file.url not in done_at_cursor:
        return True
    size = done_at_cursor[file.url]
    return size is not None and size != file.size


class SourceFile(BatchSource):
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            settings = FileConfig.parse(config)
            storage = Storage(settings)
            empty = []
            for stream in settings.streams:
                files = list_files(storage, stream)
                if not files:
                    empty.append(stream.name)
                    continue
                sample_schema(storage, files[-1], stream, 100, settings.batch_bytes)
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        except FileError as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        if empty:
            return AirbyteConnectionStatus(
                status=Status.SUCCEEDED, message=f"No file matches yet for stream(s) {', '.join(empty)}."
            )
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
                schema = sample_schema(storage, files[-1], stream, settings.sample_rows, settings.batch_bytes)
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
        cursor = int(state.get("modified_us", -1))
        done_at_cursor: dict[str, int | None] = dict.fromkeys(state.get("files_at_cursor", []))  # url -> size
        done_at_cursor.update(state.get("sizes_at_cursor", {}))
        files = [f for f in list_files(self.storage, self.stream) if unread(f, cursor, done_at_cursor)]
        self.logger.info(f"{self.stream.name}: {len(files)} file(s) to read")
        progress = Progress(self.logger, self.stream.name)
        for file in files:
            yield from self._file(file, progress)
            if file.modified_us > cursor:
                cursor, done_at_cursor = file.modified_us, {}
            done_at_cursor[file.url] = file.size
            yield state_message(self.stream.name, self.namespace, self._checkpoint(file, done_at_cursor))
        if not self.incremental:
            yield state_message(self.stream.name, self.namespace, {DONE: True})
        elif not files:  # nothing new: the state stays as it was, said again
            yield state_message(self.stream.name, self.namespace, state or {"modified_us": -1, "files_at_cursor": []})
        progress.finish()

    def _checkpoint(self, file: FileRef, done_at_cursor: Mapping[str, int | None]) -> dict[str, Any]:
        urls = sorted(done_at_cursor)
        sizes = {url: done_at_cursor[url] for url in urls if done_at_cursor[url] is not None}
        return {"cursor": file.modified, "modified_us": file.modified_us, "files_at_cursor": urls,
                "sizes_at_cursor": sizes} | self.mode_marker  # fmt: skip

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
