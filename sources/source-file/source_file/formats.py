"""Reading one file as Arrow batches of raw values, with the line each row came from.

CSV is read with pyarrow's streaming reader, every column as text; JSONL in blocks of lines whose fields DuckDB
extracts as text (nested values as JSON); Parquet as the typed batches it holds. Typing is `convert.py`'s job,
so every format gets the same casts, the same null rules and the same errors. Compressed files (.gz, .zst,
.bz2, .lz4) are decompressed on the fly. Memory is bounded by the block size, whatever the file's size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from source_file.config import COMPRESSIONS, StreamConfig
from source_file.storage import FileRef, Storage

logger = logging.getLogger("airbyte")


class FileError(Exception):
    """A file or a row in it that cannot be read: says which, and where."""


@dataclass
class RawBatch:
    table: pa.Table  # the stream's columns, as read: text (CSV), JSON text (JSONL) or typed (Parquet)
    lines: pa.Array  # the line (1-based) each row starts on; for Parquet, the row number
    json: bool = False  # values are JSON texts (a string value still in quotes)


def _open(storage: Storage, file: FileRef) -> pa.NativeFile:
    stream = storage.open(file)
    for suffix, codec in COMPRESSIONS.items():
        if file.path.lower().endswith(suffix):
            return pa.CompressedInputStream(stream, codec)
    return stream


def read_raw(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], block_bytes: int
) -> Iterator[RawBatch]:
    match stream.format_of(file.path):
        case "csv":
            yield from _csv(storage, file, stream, columns, block_bytes)
        case "jsonl":
            yield from _jsonl(storage, file, stream, columns, block_bytes)
        case "parquet":
            yield from _parquet(storage, file, columns)


def _csv_options(stream: StreamConfig, block_bytes: int, invalid_row_handler=None):
    csv = stream.csv
    read = pacsv.ReadOptions(
        block_size=block_bytes,
        encoding=csv.encoding,
        column_names=list(csv.column_names) or None,
        skip_rows=1 if csv.column_names and csv.header else 0,
    )
    parse = pacsv.ParseOptions(
        delimiter=csv.delimiter,
        quote_char=csv.quote_char,
        escape_char=csv.escape_char or False,
        newlines_in_values=False,
        invalid_row_handler=invalid_row_handler,
    )
    return read, parse


def _csv(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], block_bytes: int
) -> Iterator[RawBatch]:
    skipped = 0

    def on_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal skipped
        if stream.skip_errors:
            skipped += 1
            return "skip"
        line = f"line {row.number}" if row.number is not None else "a line"
        raise FileError(f"{file.url}, {line}: {row.text[:200]!r} has {row.actual_columns} fields, "
                        f"not {row.expected_columns}")  # fmt: skip

    read, parse = _csv_options(stream, block_bytes, on_invalid)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in columns},
        include_columns=columns,
        include_missing_columns=True,
        null_values=list(stream.csv.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    header_lines = 1 if stream.csv.header and not stream.csv.column_names else 0
    header_lines += 1 if stream.csv.header and stream.csv.column_names else 0
    rows = 0
    with _open(storage, file) as source:
        try:
            reader = pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                # line numbers assume no line breaks inside values (newlines_in_values is off)
                lines = pa.array(np.arange(rows, rows + batch.num_rows) + header_lines + 1 + skipped)
                rows += batch.num_rows
                yield RawBatch(pa.Table.from_batches([batch]), lines)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise FileError(f"{file.url}: {exc}") from exc
    if skipped:
        logger.warning(f"{file.url}: skipped {skipped} rows that did not parse")


def _jsonl(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], block_bytes: int
) -> Iterator[RawBatch]:
    structure = orjson.dumps({name: "JSON" for name in columns}).decode()
    db = duckdb.connect()
    line = 0
    rest = b""
    with _open(storage, file) as source:
        while True:
            block = source.read(block_bytes)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if not cut:
                if not block:
                    break
                rest = data
                continue
            texts = data[:cut].decode("utf-8", errors="replace").split("\n")
            if texts and texts[-1] == "":
                texts.pop()
            rest = data[cut:]
            numbers = np.arange(line + 1, line + 1 + len(texts))
            line += len(texts)
            yield _json_lines(db, file, stream, texts, numbers, structure, columns)
            if not block:
                break


def _json_lines(
    db: duckdb.DuckDBPyConnection,
    file: FileRef,
    stream: StreamConfig,
    texts: list[str],
    numbers: np.ndarray,
    structure: str,
    columns: list[str],
) -> RawBatch:
    """One block of JSON lines -> a column per field, each value its JSON text (null when absent or null)."""
    block = pa.table({"n": numbers, "line": texts})
    db.register("block", block)
    try:
        bad = db.execute(
            "SELECT n, line FROM block WHERE trim(line) <> '' AND (NOT json_valid(line) OR json_type(line) <> 'OBJECT')"
        ).fetchall()
        if bad and not stream.skip_errors:
            number, text = bad[0]
            raise FileError(f"{file.url}, line {number}: not a JSON object: {text[:200]!r}")
        if bad:
            logger.warning(f"{file.url}: skipped {len(bad)} lines that are not JSON objects")
        params: dict[str, str] = {"structure": structure}
        fields = []
        for i, name in enumerate(columns):
            params[f"f{i}"] = name
            fields.append(f", struct_extract(o, $f{i})::VARCHAR AS c{i}")
        result = db.sql(
            f"SELECT n{''.join(fields)} FROM (SELECT n, json_transform(line, $structure) AS o FROM block "
            "WHERE trim(line) <> '' AND json_valid(line) AND json_type(line) = 'OBJECT')",
            params=params,
        ).to_arrow_table()
    finally:
        db.unregister("block")
    table = pa.table({name: result.column(f"c{i}") for i, name in enumerate(columns)})
    return RawBatch(table, result.column("n").combine_chunks(), json=True)


def _parquet(storage: Storage, file: FileRef, columns: list[str]) -> Iterator[RawBatch]:
    try:
        with storage.open(file) as source:
            parquet = pq.ParquetFile(source)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            row = 0
            for batch in parquet.iter_batches(batch_size=65_536, columns=present):
                table = pa.Table.from_batches([batch])
                for name in columns:
                    if name not in present:
                        table = table.append_column(name, pa.nulls(batch.num_rows))
                lines = pa.array(np.arange(row + 1, row + 1 + batch.num_rows))
                row += batch.num_rows
                yield RawBatch(table.select(columns), lines)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileError(f"{file.url}: not a readable Parquet file: {exc}") from exc


def sample_schema(storage: Storage, file: FileRef, stream: StreamConfig, rows: int, block_bytes: int) -> pa.Schema:
    """The Arrow schema pyarrow infers from the first `rows` rows of `file` (Parquet: its own schema)."""
    fmt = stream.format_of(file.path)
    try:
        if fmt == "parquet":
            with storage.open(file) as source:
                return pq.ParquetFile(source).schema_arrow
        with _open(storage, file) as source:
            if fmt == "csv":
                read, parse = _csv_options(stream, block_bytes, lambda row: "skip")
                convert = pacsv.ConvertOptions(null_values=list(stream.csv.null_values), strings_can_be_null=True)
                reader = pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
            else:
                reader = pajson.open_json(source, read_options=pajson.ReadOptions(block_size=block_bytes))
            batches, seen = [], 0
            for batch in reader:
                batches.append(batch)
                seen += batch.num_rows
                if seen >= rows:
                    break
            return pa.Table.from_batches(batches, schema=reader.schema).slice(0, rows).schema
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise FileError(f"{file.url}: cannot infer a schema: {exc}") from exc
