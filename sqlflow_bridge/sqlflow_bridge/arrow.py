"""Arrow types of a stream's columns, from its JSON schema, and the two ways records become such a table.

The JSON path: RECORD lines parsed in bulk by destination-core's parser (the same one the destinations use), then
`from_parsed`. The fast path: a source's own Arrow batch (`source_core.launch.Records`), converted column by
column in `from_records`. Both give the same table; a value that does not fit its column is null in both, and
counted.

| JSON schema                                   | Arrow                |
| integer                                       | int64                |
| number                                        | float64              |
| boolean                                       | bool                 |
| string, format date                           | date32               |
| string, format date-time                      | timestamp[us, UTC]   |
| ... airbyte_type timestamp_without_timezone   | timestamp[us]        |
| string, format time (without time zone)       | time64[us]           |
| ... airbyte_type time_with_timezone           | string (10:00:00+05:00) |
| string                                        | string               |
| object, array, unions, no type                | string holding the JSON text |
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from destination_core.duckdb_session import connect
from destination_core.streams import META, TargetStream
from source_core.emit import Kind, plain, uuid_text
from source_core.launch import Records

ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INTEGER: pa.int64(),
    Kind.NUMBER: pa.float64(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.TIME: pa.time64("us"),
    Kind.TIMETZ: pa.string(),
    Kind.STRING: pa.string(),
    Kind.JSON: pa.string(),
}
_MIN_DAY, _MAX_DAY = -719162, 2932896  # 0001-01-01 and 9999-12-31: what RFC 3339 text (the JSON path) can hold
_US_PER_DAY = 86_400_000_000
_NO_CHANGES = '"changes":[]'


def arrow_schema(stream: TargetStream) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in stream.columns])


@dataclass(frozen=True)
class Typed:
    """One stream's rows as a typed table, and how many of them had a value nulled (named in the log)."""

    table: pa.Table
    nulled_rows: int
    nulled_fields: frozenset[str] = frozenset()


def from_parsed(stream: TargetStream, parsed: pa.Table) -> Typed:
    """The parser's table (numbers as their text, metadata columns) -> the stream's typed columns."""
    meta = parsed.column(META)
    changed = pc.invert(pc.match_substring(meta, _NO_CHANGES))
    columns, fields = [], set()
    for column in stream.columns:
        values = parsed.column(column.name)
        if column.kind is Kind.NUMBER:
            values, bad = _numbers(values)
            if bad is not None:
                fields.add(column.name)
                changed = pc.or_(changed, bad)
        columns.append(values.cast(ARROW_TYPES[column.kind]))
    nulled = pc.sum(changed).as_py() or 0
    if nulled:
        for text in meta.filter(changed).to_pylist():
            fields.update(c.name for c in stream.columns if f'"field":"{c.name}"' in text)
    return Typed(pa.table(columns, schema=arrow_schema(stream)), nulled, frozenset(fields))


def _numbers(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    """Number text as float64, NaN and infinities nulled (as on the fast path), and a mask of those if any."""
    try:
        values = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:  # text the parser's DuckDB took but Arrow does not (" 1.5")
        with _duckdb().cursor() as db:
            db.register("t", pa.table({"v": text}))
            values = db.sql("SELECT TRY_CAST(v AS DOUBLE) AS v FROM t").to_arrow_table().column("v")
    bad = pc.and_kleene(pc.invert(pc.is_finite(values)), pc.is_valid(values))
    if not pc.any(bad).as_py():
        return values, None
    return pc.if_else(bad, pa.scalar(None, pa.float64()), values), pc.fill_null(bad, False)


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    return connect()


def _json_text(values: pa.Array) -> pa.Array:
    """JSON text in the form the JSON path gives (DuckDB's minified JSON), so that both paths are equal."""
    if pa.types.is_null(values.type) or values.null_count == len(values):
        return pa.nulls(len(values), pa.string())
    with _duckdb().cursor() as db:  # a cursor of one connection: a new connection costs about 10 ms
        db.register("t", pa.table({"v": values.cast(pa.string())}))
        return db.sql("SELECT json(v)::VARCHAR AS v FROM t").to_arrow_table().column("v").combine_chunks()


def _column(values: pa.Array, source: Kind, target: Kind) -> tuple[pa.Array, pa.Array | None]:
    """One column of a source batch in the target type, and a mask of the values that had to be nulled."""
    values = plain(values)
    bad = None
    if source is Kind.UUID:
        values = uuid_text(values) if pa.types.is_fixed_size_binary(values.type) else values
    if target is Kind.NUMBER:
        if pa.types.is_float32(values.type):  # via its text, as on the JSON path: 0.1, not 0.10000000149011612
            values = pc.cast(values, pa.string())
        values = pc.cast(values, pa.float64())
        bad = pc.invert(pc.is_finite(values))
    elif target is Kind.INTEGER and pa.types.is_uint64(values.type):  # beyond int64: nulled, as the JSON path does
        bad = pc.greater(values, pa.scalar(2**63 - 1, pa.uint64()))
    elif target is Kind.DATE:
        days = values.view(pa.int32())
        bad = pc.or_(pc.less(days, _MIN_DAY), pc.greater(days, _MAX_DAY))
    elif target in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        values = values.cast(pa.timestamp("us", values.type.tz), safe=False)
        micros = values.view(pa.int64())
        bad = pc.or_(pc.less(micros, _MIN_DAY * _US_PER_DAY), pc.greater_equal(micros, (_MAX_DAY + 1) * _US_PER_DAY))
    elif target is Kind.TIME:
        values = values.cast(pa.time64("us"), safe=False)
    elif target is Kind.TIMETZ:
        values = pc.replace_substring_regex(values.cast(pa.string()), r"([+-]\d\d)$", r"\1:00")
    elif target is Kind.JSON:
        values = _json_text(values)
    if bad is not None:
        bad = pc.and_kleene(bad, pc.is_valid(values))
        if pc.any(bad).as_py():
            values = pc.if_else(bad, pa.scalar(None, values.type), values)
        else:
            bad = None
    if target is Kind.TIMESTAMPTZ:
        return values.cast(pa.timestamp("us", "UTC")), bad
    return values.cast(ARROW_TYPES[target]), bad


def from_records(stream: TargetStream, records: Records) -> Typed:
    """A source's Arrow batch -> the stream's typed columns (the fast path: no JSON in between)."""
    source = {c.name: c.kind for c in records.encoder.columns}
    batch = records.batch
    columns, nulled, fields = [], None, set()
    for column in stream.columns:
        if column.name not in source:
            columns.append(pa.nulls(len(batch), ARROW_TYPES[column.kind]))
            continue
        values, bad = _column(batch.column(column.name), source[column.name], column.kind)
        columns.append(values)
        if bad is not None:
            fields.add(column.name)
            nulled = bad if nulled is None else pc.or_(nulled, bad)
    count = pc.sum(nulled).as_py() if nulled is not None else 0
    return Typed(pa.table(columns, schema=arrow_schema(stream)), count or 0, frozenset(fields))
