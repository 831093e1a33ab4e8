"""Reading one file as Arrow batches of raw values, with the line each row came from.

CSV is read with pyarrow's streaming reader, every column as text; JSONL in blocks of lines whose fields DuckDB
extracts as text (nested values as JSON); Parquet as the typed batches it holds. Typing is `convert.py`'s job,
so every format gets the same casts, the same null rules and the same errors. Compressed files (.gz, .zst,
.bz2, .lz4) are decompressed on the fly. Memory is bounded by the block size, whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from source_core.emit import int_array, string_array
from source_core.jsontext import number_pattern
from source_file.config import COMPRESSIONS, StreamConfig
from source_file.storage import FileRef, Storage

logger = logging.getLogger("airbyte")
LEADING_ZERO = r"^\s*[+-]?0[0-9]"  # 007, -0123: a code, not a number (0, 0.5 and 10 are numbers)


class FileError(Exception):
    """A file or a row in it that cannot be read: says which, and where."""


@dataclass
class RawBatch:
    table: pa.Table  # the stream's columns, as read: text (CSV), JSON text (JSONL) or typed (Parquet)
    lines: pa.Array  # where each row is: its line (JSONL), its row number (Parquet, CSV: see line_of)
    json: bool = False  # values are JSON texts (a string value still in quotes)
    nulls: tuple[str, ...] = ()  # CSV's null values, which pyarrow keeps as text when quoted ("")
    line_of: Callable[[int], int] = lambda position: position  # `lines` value -> line in the file (for errors)


def _open(storage: Storage, file: FileRef) -> pa.NativeFile:
    stream = storage.open(file)
    for suffix, codec in COMPRESSIONS.items():
        if file.path.lower().endswith(suffix):
            return pa.CompressedInputStream(stream, codec)
    return stream


def read_raw(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], numbers: set[str], block_bytes: int
) -> Iterator[RawBatch]:
    """`numbers`: the columns holding numbers, whose digits JSONL must keep beyond what a double holds."""
    match stream.format_of(file.path):
        case "csv":
            yield from _csv(storage, file, stream, columns, block_bytes)
        case "jsonl":
            yield from _jsonl(storage, file, stream, columns, numbers, block_bytes)
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
        newlines_in_values=True,
        invalid_row_handler=invalid_row_handler,
    )
    return read, parse


def _csv(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], block_bytes: int
) -> Iterator[RawBatch]:
    skipped = 0
    invalid: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal skipped
        if stream.skip_errors:
            skipped += 1
            return "skip"
        invalid.append(row)  # pyarrow raises its own error, without the line: ours says where
        return "error"

    read, parse = _csv_options(stream, block_bytes, on_invalid)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in columns},
        include_columns=columns,
        include_missing_columns=True,
        null_values=list(stream.csv.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    rows = 0
    with _open(storage, file) as source:
        try:
            for batch in _csv_reader(source, read, parse, convert):
                lines = int_array(np.arange(rows + 1, rows + 1 + batch.num_rows))  # data rows, counted from 1
                rows += batch.num_rows
                yield RawBatch(pa.Table.from_batches([batch]), lines, nulls=stream.csv.null_values,
                               line_of=lambda row: _csv_line(storage, file, stream, row=row))  # fmt: skip
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if invalid:
                row = invalid[0]
                line = _csv_line(storage, file, stream, text=row.text)
                raise FileError(f"{file.url}, line {line}: {row.text[:200]!r} has {row.actual_columns} fields, "
                                f"not {row.expected_columns}") from exc  # fmt: skip
            raise FileError(f"{file.url}: {exc}") from exc
    if skipped:
        logger.warning(f"{file.url}: skipped {skipped} rows that did not parse")


def _csv_reader(
    source: pa.NativeFile, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, convert: pacsv.ConvertOptions
) -> Iterator[pa.RecordBatch]:
    """pyarrow's batches of `source`; none for an empty file (or one of blank lines), where pyarrow raises."""
    try:
        return pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return iter(())
        raise


def _csv_line(storage: Storage, file: FileRef, stream: StreamConfig, row: int = 0, text: str | None = None) -> int:
    """The line where data row `row` (from 1), or the first row reading `text`, starts in the file: found by parsing
    it again (values may hold line breaks, pyarrow skips empty lines and does not say where a row was; used for
    error messages only)."""
    options = stream.csv
    with _open(storage, file) as source:
        lines = io.TextIOWrapper(io.BufferedReader(source), encoding=options.encoding, errors="replace", newline="")
        taken: list[str] = []  # the lines of the row being parsed

        def take() -> Iterator[str]:
            for line in lines:
                taken.append(line)
                yield line

        reader = csv.reader(take(), delimiter=options.delimiter, quotechar=options.quote_char,
                            escapechar=options.escape_char, strict=False)  # fmt: skip
        number, data_rows = 1, -1 if options.header else 0
        try:
            for fields in reader:
                start, content = number, "".join(taken).rstrip("\r\n")
                number += len(taken)
                taken.clear()
                if not fields:
                    continue
                data_rows += 1
                if data_rows > 0 and (content == text if text is not None else data_rows == row):
                    return start
        except csv.Error:  # a value beyond the csv module's field size limit: give the row's number
            pass
    return row + (1 if options.header else 0)


def _jsonl(
    storage: Storage, file: FileRef, stream: StreamConfig, columns: list[str], numbers: set[str], block_bytes: int
) -> Iterator[RawBatch]:
    structure = orjson.dumps({name: "JSON" for name in columns}).decode()
    db = duckdb.connect()
    line = 0
    with _open(storage, file) as source:
        rest = source.read(len(codecs.BOM_UTF8)).removeprefix(codecs.BOM_UTF8)  # a BOM is not part of line 1
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
            line_numbers = np.arange(line + 1, line + 1 + len(texts))
            line += len(texts)
            yield _json_lines(db, file, stream, texts, line_numbers, structure, columns, numbers)
            if not block:
                break


def _json_lines(
    db: duckdb.DuckDBPyConnection,
    file: FileRef,
    stream: StreamConfig,
    texts: list[str],
    line_numbers: np.ndarray,
    structure: str,
    columns: list[str],
    numbers: set[str],
) -> RawBatch:
    """One block of JSON lines -> a column per field, each value its JSON text (null when absent or null)."""
    block = pa.table({"n": int_array(line_numbers), "line": string_array(texts)})
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
            value = f"struct_extract(o, $f{i})::VARCHAR"
            if name in numbers:
                # DuckDB hands numbers over as doubles: a long one is taken again from the line, if the same number
                # (the pattern is inlined, so compiled once; it holds no quote, see number_pattern)
                exact = f"regexp_extract(line, '{number_pattern(name)}', 1)"
                same = f"TRY_CAST({exact} AS DOUBLE) = TRY_CAST({value} AS DOUBLE)"
                value = f"CASE WHEN length({value}) > 15 AND {same} THEN {exact} ELSE {value} END"
            fields.append(f", {value} AS c{i}")
        result = db.sql(
            f"SELECT n{''.join(fields)} FROM (SELECT n, line, json_transform(line, $structure) AS o FROM block "
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
                lines = int_array(np.arange(row + 1, row + 1 + batch.num_rows))
                row += batch.num_rows
                yield RawBatch(table.select(columns), lines)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileError(f"{file.url}: not a readable Parquet file: {exc}") from exc


_ISO_DATE = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}"  # a date's or date-time's start in ISO 8601
_ISO_TIME = r"^\s*[0-9]{2}:[0-9]{2}"


def sample_schema(
    storage: Storage, file: FileRef, stream: StreamConfig, rows: int, block_bytes: int
) -> tuple[pa.Schema, bool]:
    """The Arrow schema of `file`: Parquet's own, or the one inferred from its first `rows` rows (CSV: pyarrow;
    JSONL: DuckDB, which gives a field of several JSON types the JSON type); and whether the file has any row (an
    empty file, or one of blank lines or only a header, has none: its schema is its header's columns, if any)."""
    fmt = stream.format_of(file.path)
    try:
        if fmt == "parquet":
            with storage.open(file) as source:
                parquet = pq.ParquetFile(source)
                return parquet.schema_arrow, parquet.metadata.num_rows > 0
        if fmt == "jsonl":
            with _open(storage, file) as source:
                return _jsonl_schema(source, stream, rows)
        return _csv_schema(storage, file, stream, rows, block_bytes)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, duckdb.Error) as exc:
        raise FileError(f"{file.url}: cannot infer a schema: {exc}") from exc


def _csv_sample(
    storage: Storage, file: FileRef, stream: StreamConfig, rows: int, block_bytes: int, convert: pacsv.ConvertOptions
) -> pa.Table:
    read, parse = _csv_options(stream, block_bytes, lambda row: "skip")
    with _open(storage, file) as source:
        reader = pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
        batches, seen = [], 0
        for batch in reader:
            batches.append(batch)
            seen += batch.num_rows
            if seen >= rows:
                break
        return pa.Table.from_batches(batches, schema=reader.schema).slice(0, rows)


def _csv_schema(
    storage: Storage, file: FileRef, stream: StreamConfig, rows: int, block_bytes: int
) -> tuple[pa.Schema, bool]:
    """pyarrow's inference over the first `rows` rows, except that a number column with a value such as 007 or 0123
    (a code, whose zeros a number would lose; 0 and 0.5 are numbers) is a string."""
    convert = pacsv.ConvertOptions(null_values=list(stream.csv.null_values), strings_can_be_null=True)
    try:
        sample = _csv_sample(storage, file, stream, rows, block_bytes, convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):  # no line but blank ones (see _csv_reader)
            return pa.schema([]), False
        raise
    schema = sample.schema
    numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    if numeric:
        as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(numeric, pa.string()), include_columns=numeric)
        texts = _csv_sample(storage, file, stream, rows, block_bytes, as_text)
        for name in numeric:
            if pc.any(pc.match_substring_regex(texts[name], LEADING_ZERO)).as_py():
                schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
    return schema, sample.num_rows > 0


def _jsonl_schema(source: pa.NativeFile, stream: StreamConfig, rows: int) -> tuple[pa.Schema, bool]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as sample:
        lines = 0  # not blank
        for number, line in enumerate(io.BufferedReader(source), start=1):
            if number > rows:
                break
            sample.write(line)
            lines += bool(line.strip())
        sample.flush()
        if not lines:  # DuckDB would make up a column `json`
            return pa.schema([]), False
        with duckdb.connect() as db:
            relation = db.read_json(sample.name, format="newline_delimited", ignore_errors=stream.skip_errors)
            schema = relation.limit(0).to_arrow_table().schema
            types = dict(zip(relation.columns, relation.types, strict=True))
            return _iso_temporals(db, sample.name, stream, schema, types), True


def _iso_temporals(
    db: duckdb.DuckDBPyConnection, path: str, stream: StreamConfig, schema: pa.Schema, types: dict[str, Any]
) -> pa.Schema:
    """`schema` (as DuckDB inferred it from the sample at `path`; `types`: its DuckDB types) with each date, time
    or date-time field made a string unless the read takes every sample value of it: text in ISO 8601 (a
    four-digit year first; a time's hours first) that the read's cast (`TRY_CAST`) takes. DuckDB's inference also
    guesses day-first dates and two-digit years ("13-01-2024 10:00:00", "24-01-02"), which the read would refuse
    or put in the year 24."""
    temporal = [f.name for f in schema if pa.types.is_temporal(f.type) and not pa.types.is_duration(f.type)]
    if not temporal:
        return schema
    texts = db.read_json(
        path, format="newline_delimited", ignore_errors=stream.skip_errors, columns=dict.fromkeys(temporal, "VARCHAR")
    )
    columns = [duckdb.ColumnExpression(name) for name in temporal]  # each text, then (by position) its cast
    both = texts.select(*columns, *(c.try_cast(types[name]) for c, name in zip(columns, temporal, strict=True)))
    sample = both.to_arrow_table()
    for k, name in enumerate(temporal):
        text, cast = sample.column(k), sample.column(len(temporal) + k)
        iso = _ISO_TIME if pa.types.is_time(schema.field(name).type) else _ISO_DATE
        taken = pc.and_kleene(pc.match_substring_regex(text, iso), pc.is_valid(cast))
        if not pc.all(pc.or_kleene(pc.is_null(text), taken)).as_py():
            schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
    return schema
