"""Writing streams as files: one part file per stream per commit, made whole before any STATE covers it.

Rows go to a local temporary file as they arrive (bounded memory). At a commit every open part is closed and
published: moved into place with a rename on a local disk, uploaded in one request (or a completed multipart
upload) to S3, so a reader never sees half a file and a crash leaves nothing behind but temporary files. Only
then are the STATEs echoed. An overwrite deletes the stream's files from earlier syncs once the stream is complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from destination_core.duckdb_session import connect
from destination_core.durable import place
from destination_core.parse import SEQ
from destination_core.streams import META, Kind, TargetStream
from source_core.config import config_error
from source_core.emit import string_array

logger = logging.getLogger("airbyte")

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
COMPRESSED = {"gzip": ".gz", "zstd": ".zst"}
VARYING = ("{date}", "{timestamp}", "{part}", "{generation}")
VARIABLE = re.compile(r"\{(namespace|stream|date|timestamp|part|generation)\}")
SHADOW = ".airbyte_tmp"
GENERATION_MARKER = "_airbyte_generation"
FINALIZING = "_airbyte_finalizing"  # the new files an overwrite's swap puts in place, written before it moves any
NOT_STORED = "DESTINATION_SERIALIZATION_ERROR"  # the reason of a value changed to be written

_NEWLINE, _NOTHING = string_array(["\n", ""])  # as Arrow scalars: pa.scalar of a str would import pandas


@dataclass(frozen=True)
class Target:
    """Where files go: a pyarrow filesystem and a base path in it (bucket/prefix on S3, a folder locally)."""

    fs: pafs.FileSystem
    base: str
    url: str  # as the user wrote it, for messages

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)


def finite_only(rows: pa.Table, numbers: list[str]) -> pa.Table:
    """The `numbers` columns as doubles, NaN and Infinity (which JSON has not) nulled and named in `_airbyte_meta`."""
    changes: dict[int, list[dict[str, str]]] = {}
    for name in numbers:
        index = rows.schema.get_field_index(name)
        values = pc.cast(rows.column(index), pa.float64()).combine_chunks()
        bad = pc.invert(pc.is_finite(values).fill_null(True))
        for row in pc.indices_nonzero(bad).to_pylist():
            changes.setdefault(row, []).append({"field": name, "change": "NULLED", "reason": NOT_STORED})
        rows = rows.set_column(index, name, pc.replace_with_mask(values, bad, pa.nulls(len(values), pa.float64())))
    if not changes:
        return rows
    metas = rows.column(META).to_pylist()
    for row, found in changes.items():
        meta = json.loads(metas[row])
        metas[row] = json.dumps(
            {**meta, "changes": [*meta["changes"], *found]}, separators=(",", ":"), ensure_ascii=False
        )
    return rows.set_column(rows.schema.get_field_index(META), META, string_array(metas))


class PartWriter:
    """One part file being written to a local temporary file, in the chosen format."""

    def __init__(self, path: str, fmt: str, compression: str, schema: pa.Schema) -> None:
        self.path, self.fmt, self.rows = path, fmt, 0
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(path, schema, compression=compression)
            return
        self.sink = pa.output_stream(path, compression=compression if compression in COMPRESSED else None)
        if fmt == "csv":
            self.writer = pacsv.CSVWriter(self.sink, schema)
        else:
            self.db = connect()

    def write(self, rows: pa.Table) -> None:
        self.rows += rows.num_rows
        if self.fmt == "jsonl":
            self.db.register("part", rows)
            try:
                lines = self.db.sql("SELECT to_json(part)::VARCHAR FROM part").to_arrow_table().column(0)
            finally:
                self.db.unregister("part")
            for chunk in lines.chunks:
                self.sink.write(pc.binary_join_element_wise(chunk, _NEWLINE, _NOTHING).buffers()[2])
            return
        self.writer.write_table(rows)

    def close(self) -> None:
        if self.fmt == "jsonl":
            self.sink.close()
            return
        self.writer.close()
        if self.fmt == "csv":
            self.sink.close()


class FileLoader:
    """Writes parts under each stream's folder; an overwrite writes them under `.airbyte_tmp/<stream>/` next to
    it instead, and moves them into the stream's folder (then deletes the old files) when the stream is complete.
    A rerun of the same generation keeps what an earlier, interrupted attempt left there; another generation drops
    it."""

    makes_raw_ids = False  # the parser gives each row its raw id (see destination_core.sync.Loader)

    def __init__(self, target: Target, streams: list[TargetStream], fmt: str, compression: str, template: str) -> None:
        self.target, self.fmt, self.template = target, fmt, template
        self.compression = compression
        self.streams = streams
        self.started = dt.datetime.now(dt.UTC)
        self.parts: Counter[tuple[str | None, str]] = Counter()
        self.open: dict[tuple[str | None, str], tuple[PartWriter, str]] = {}
        prefixes = [self.stream_prefix(s) for s in streams]
        if len(set(prefixes)) != len(prefixes):
            raise config_error(
                f"path_template {template!r} puts several streams in one folder (streams of different namespaces "
                "with the same name?): add {namespace} to it."
            )
        # a local target's part files are written next to their final place, so that publishing is one rename
        where = os.path.join(target.base, SHADOW) if target.local else None
        if where:
            os.makedirs(where, exist_ok=True)
        self.scratch = tempfile.TemporaryDirectory(prefix="destination-s3-", dir=where)
        for stream in streams:
            if stream.truncate:
                self._prepare_shadow(stream)

    # -- names ----------------------------------------------------------------------------------------------
    def _fill(self, template: str, stream: TargetStream, part: int = 0) -> str:
        """The template with its variables replaced in one pass (a name holding `{part}` stays as it is)."""
        values = {
            "namespace": stream.schema,
            "stream": stream.name,
            "date": self.started.strftime("%Y-%m-%d"),
            "timestamp": str(int(self.started.timestamp() * 1000)),
            "part": f"{part:05d}",
            "generation": str(stream.generation_id),
        }
        return VARIABLE.sub(lambda match: values[match.group(1)], template)

    def stream_prefix(self, stream: TargetStream) -> str:
        """The folder that holds this stream's files and nothing else (the template up to `{stream}/`)."""
        head = self.template[: self.template.index("{stream}/") + len("{stream}/")]
        return f"{self.target.base.rstrip('/')}/{self._fill(head, stream)}"

    def shadow_prefix(self, stream: TargetStream) -> str:
        """Where an overwrite's new files wait: `.airbyte_tmp/<stream>/` beside the stream's folder (hidden)."""
        folder = self.stream_prefix(stream).rstrip("/")
        parent, name = folder.rsplit("/", 1)
        return f"{parent}/{SHADOW}/{name}/"

    def _path(self, stream: TargetStream, part: int) -> str:
        path = f"{self.target.base.rstrip('/')}/{self._fill(self.template, stream, part)}"
        path += EXTENSIONS[self.fmt] + (COMPRESSED.get(self.compression, "") if self.fmt != "parquet" else "")
        if stream.truncate:
            path = self.shadow_prefix(stream) + path[len(self.stream_prefix(stream)) :]
        return path

    def _files(self, prefix: str) -> list[str]:
        selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
        return [i.path for i in self.target.fs.get_file_info(selector) if i.type == pafs.FileType.File]

    def _prepare_shadow(self, stream: TargetStream) -> None:
        shadow = self.shadow_prefix(stream)
        marker = shadow + GENERATION_MARKER
        found = self._files(shadow)
        if marker in found:
            with self.target.fs.open_input_stream(marker) as source:
                generation = source.read().decode().strip()
            if generation == str(stream.generation_id):
                logger.info(f"{stream.label}: resuming the unfinished overwrite of generation {generation}")
                return
        for path in found:
            self.target.fs.delete_file(path)
        self._mkdir(shadow)
        with self.target.fs.open_output_stream(marker) as out:
            out.write(str(stream.generation_id).encode())

    # -- the Loader protocol -------------------------------------------------------------------------------
    def load(self, stream: TargetStream, rows: pa.Table) -> None:
        rows = self._shape(stream, rows.drop_columns([SEQ]))
        if stream.key not in self.open:
            self.parts[stream.key] += 1
            final = self._path(stream, self.parts[stream.key])
            scratch = os.path.join(self.scratch.name, f"{len(self.open)}-{self.parts[stream.key]}")
            self.open[stream.key] = (PartWriter(scratch, self.fmt, self.compression, rows.schema), final)
        self.open[stream.key][0].write(rows)

    def wait(self) -> None:
        """Nothing in flight: parts are written as `load` is called."""

    def commit(self) -> None:
        for writer, final in self.open.values():
            writer.close()
            self._publish(writer.path, final)
            logger.info(f"wrote {writer.rows:,} rows to {final}")
        self.open.clear()

    def rollback(self) -> None:
        """Drop the parts not published yet."""
        for writer, _ in self.open.values():
            writer.close()
            os.remove(writer.path)
        self.open.clear()

    def finalize(self, stream: TargetStream) -> None:
        """An overwrite is complete: move the new files into the stream's folder, then delete the old ones, so that
        readers see the old files until every new one is there (a new file may take an old one's name: kept).

        The new files' final paths are written down before the first move: a swap interrupted halfway has moved
        some of them among the old files already, and its rerun must tell them from the old ones it deletes."""
        if not stream.truncate:
            return
        folder, shadow = self.stream_prefix(stream), self.shadow_prefix(stream)
        marker, manifest = shadow + GENERATION_MARKER, shadow + FINALIZING
        old = self._files(folder)
        new = sorted(path for path in self._files(shadow) if path not in (marker, manifest))
        moves = {path: folder + path[len(shadow) :] for path in new}
        placed = self._write_down(manifest, set(moves.values()))
        for path, destination in moves.items():
            self._move(path, destination)
        replaced = [path for path in old if path not in placed]
        for path in replaced:
            self.target.fs.delete_file(path)
        self.target.fs.delete_file(manifest)
        self.target.fs.delete_file(marker)
        if self.target.local:
            self.target.fs.delete_dir(shadow.rstrip("/"))
        logger.info(f"{stream.label}: overwrite complete: {len(placed)} new file(s) in place of {len(replaced)}")

    def _write_down(self, manifest: str, destinations: set[str]) -> set[str]:
        """Every final path of this overwrite's new files: `destinations` and those an interrupted swap of the same
        overwrite already moved (its manifest), written to `manifest` for good before any move."""
        if self.target.fs.get_file_info(manifest).type == pafs.FileType.File:
            with self.target.fs.open_input_stream(manifest) as source:
                destinations = destinations | set(json.loads(source.read()))
        text = json.dumps(sorted(destinations)).encode()
        if self.target.local:
            scratch = os.path.join(self.scratch.name, FINALIZING)
            with open(scratch, "wb") as out:
                out.write(text)
            place(scratch, manifest)
        else:
            with self.target.fs.open_output_stream(manifest) as out:
                out.write(text)
        return destinations

    def close(self) -> None:
        """Drop what no commit published (on success there is nothing left)."""
        self.open.clear()
        self.scratch.cleanup()
        if self.target.local:  # kept while another write uses it, or while it holds an interrupted write's files
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.target.base, SHADOW))

    # -- helpers --------------------------------------------------------------------------------------------
    def _shape(self, stream: TargetStream, rows: pa.Table) -> pa.Table:
        """Numbers as doubles (CSV keeps their text); JSON values as JSON (for JSONL: embedded, not quoted)."""
        kinds = {c.name: c.kind for c in stream.columns}
        if self.fmt == "jsonl":
            rows = finite_only(rows, [name for name, kind in kinds.items() if kind is Kind.NUMBER])
        for index, name in enumerate(rows.column_names):
            column = rows.column(index)
            if kinds.get(name) is Kind.NUMBER and self.fmt != "csv":
                rows = rows.set_column(index, name, pc.cast(column, pa.float64()))
            elif (kinds.get(name) is Kind.JSON or name == "_airbyte_meta") and self.fmt == "jsonl":
                storage = column.combine_chunks().cast(pa.string())
                rows = rows.set_column(index, name, pa.ExtensionArray.from_storage(pa.json_(pa.string()), storage))
            elif pa.types.is_timestamp(column.type) and self.fmt == "jsonl":
                text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S" + ("Z" if column.type.tz else ""))
                rows = rows.set_column(index, name, text)
        return rows

    def _mkdir(self, folder: str) -> None:
        if self.target.local:  # S3 has no folders: making one would only leave an empty marker object
            self.target.fs.create_dir(folder, recursive=True)

    def _publish(self, scratch: str, final: str) -> None:
        if self.target.local:
            place(scratch, final)  # same folder tree: one rename
            return
        fs = self.target.fs
        pafs.copy_files(scratch, final, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
        os.remove(scratch)

    def _move(self, path: str, destination: str) -> None:
        if self.target.local:
            place(path, destination)
        else:
            self.target.fs.move(path, destination)  # S3: a copy, then the delete of the source
