"""Arrow record batch -> Airbyte RECORD lines, vectorized.

Every column is turned into an array of JSON fragments with `pyarrow.compute` kernels, the fragments are
joined element-wise into one string per record, and the value buffer of that string array is the exact
byte sequence to write to stdout. No Python object is created per row.

Values that JSON cannot carry (NaN, infinities, timestamps outside years 1..9999) are written as null and
reported in the record's `meta.changes`, as the protocol asks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Kind(StrEnum):
    """How a column's Arrow values become JSON."""

    INTEGER = "integer"  # any Arrow integer
    NUMBER = "number"  # float32/float64; non-finite values are nulled
    DECIMAL = "decimal"  # exact decimal text from the database, written as a bare JSON number
    BOOLEAN = "boolean"
    STRING = "string"  # any text, JSON-escaped
    UUID = "uuid"  # 16-byte binary (or already text), written in canonical 8-4-4-4-12 form
    JSON = "json"  # text that already is JSON (json/jsonb, to_json of arrays)
    DATE = "date"  # date32
    TIMESTAMP = "timestamp"  # timestamp without time zone
    TIMESTAMPTZ = "timestamptz"  # timestamp with time zone, written in UTC with a Z
    TIME = "time"  # time64
    TIMETZ = "timetz"  # text like 10:00:00+05 or 10:00:00.5+05:30


def kind_of(schema: Mapping[str, Any]) -> Kind:
    """The kind of a column described by an Airbyte JSON schema (no type, or a union of types: JSON)."""
    found = schema.get("type", [])
    types = [t for t in ([found] if isinstance(found, str) else found) if t != "null"]
    if len(types) != 1:
        return Kind.JSON
    airbyte_type, fmt = schema.get("airbyte_type"), schema.get("format")
    match types[0]:
        case "integer":
            return Kind.INTEGER
        case "number":
            return Kind.INTEGER if airbyte_type == "integer" else Kind.NUMBER
        case "boolean":
            return Kind.BOOLEAN
        case "string" if fmt == "date":
            return Kind.DATE
        case "string" if fmt == "date-time":
            return Kind.TIMESTAMP if airbyte_type == "timestamp_without_timezone" else Kind.TIMESTAMPTZ
        case "string" if fmt == "time":
            return Kind.TIMETZ if airbyte_type == "time_with_timezone" else Kind.TIME
        case "string":
            return Kind.STRING
        case _:
            return Kind.JSON


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


# Airbyte's RFC 3339 values need four-digit years; anything else (PostgreSQL's infinity, BC dates) is nulled.
_MIN_DAY, _MAX_DAY = -719162, 2932896  # 0001-01-01 and 9999-12-31 as days since 1970-01-01
_US_PER_DAY = 86_400_000_000


def string_array(values: list[str] | list[str | None]) -> pa.Array:
    """A string array built from buffers: `pa.array` would import pandas (0.2 s) to inspect its input."""
    data = [b"" if v is None else v.encode() for v in values]
    offsets = np.cumsum([0, *map(len, data)], dtype=np.int32)
    valid = np.array([v is not None for v in values], dtype=bool)
    nulls = len(values) - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes()) if nulls else None
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(data)), bitmap, nulls
    )


def int_array(values: np.ndarray, type_: pa.DataType | None = None) -> pa.Array:
    """An integer array over `values`' memory (int64 unless `type_` says); like `string_array`, without pandas."""
    return pa.Array.from_buffers(type_ or pa.int64(), len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])


def int_values(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An int64 array without nulls as numpy, read-only: `to_numpy` would import pandas (0.2 s) to convert it."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not len(values):
        return np.empty(0, np.int64)
    return np.frombuffer(values.buffers()[1], np.int64, count=len(values), offset=values.offset * 8)


@functools.cache
def _lit(value: str | int) -> pa.Scalar:
    """A constant as an Arrow scalar. Passing plain Python values to pyarrow.compute makes pyarrow import
    pandas (0.2 s a run) to check whether they are pandas objects."""
    return string_array([value])[0] if isinstance(value, str) else int_array(np.array([value], np.int64))[0]


_NULL_STRING = pa.nulls(1, pa.string())[0]
_ZERO_DAY = int_array(np.zeros(1, np.int32), pa.int32())[0]
_NON_FINITE_DECIMALS = string_array(["nan", "inf", "-inf", "NaN", "Infinity", "-Infinity"])
_CONTROL = r"[\x00-\x1f]"


def _quote(values: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(_lit('"'), values, _lit('"'), _lit(""))


def json_string(values: pa.Array) -> pa.Array:
    """JSON-escape and quote every string (RFC 8259: quote, backslash and control characters)."""
    if pc.any(pc.match_substring(values, "\\")).as_py():
        values = pc.replace_substring(values, "\\", "\\\\")
    if pc.any(pc.match_substring(values, '"')).as_py():
        values = pc.replace_substring(values, '"', '\\"')
    # ascii_is_printable is a cheap test that clears plain ASCII text; anything else gets the regex.
    if not pc.all(pc.ascii_is_printable(values)).as_py() and pc.any(pc.match_substring_regex(values, _CONTROL)).as_py():
        for char, escaped in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
            values = pc.replace_substring(values, char, escaped)
        rare = pc.match_substring_regex(values, _CONTROL)
        if pc.any(rare).as_py():
            values = _escape_rare_controls(values, rare)
    return _quote(values)


def _escape_rare_controls(values: pa.Array, mask: pa.Array) -> pa.Array:
    """Escape the few remaining control characters with \\u00XX (rows that hold them are rare)."""
    escaped = [
        "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 else c for c in value) for value in values.filter(mask).to_pylist()
    ]
    return pc.replace_with_mask(values, mask.fill_null(False), string_array(escaped))


def _hex4() -> np.ndarray:
    """Four hex digits for every 16-bit value, as one uint32 of ASCII each (index = the two bytes as read, so the
    low byte's digits first); built with numpy, since 65,536 f-strings cost every process 40 ms at start."""
    value = np.arange(65536)
    nibbles = (value >> 4 & 15, value & 15, value >> 12, value >> 8 & 15)
    return np.ascontiguousarray(np.stack([_HEX_DIGITS[n] for n in nibbles], axis=1)).view(np.uint32).ravel()


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_HEX4 = _hex4()
_UUID_GROUPS = ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20))  # text span <- hex offset


def uuid_text(values: pa.Array) -> pa.Array:
    """Canonical text of 16-byte UUIDs, formatted with a numpy table look-up."""
    rows = values.offset + len(values)
    raw = np.frombuffer(values.buffers()[1], np.uint16, count=rows * 8).reshape(rows, 8)
    digits = _HEX4[raw].view(np.uint8).reshape(rows, 32)
    text = np.full((rows, 36), ord("-"), np.uint8)
    for start, end, source in _UUID_GROUPS:
        text[:, start:end] = digits[:, source : source + end - start]
    offsets = pa.py_buffer(np.arange(0, 36 * (rows + 1), 36, dtype=np.int32))
    return pa.StringArray.from_buffers(len(values), offsets, pa.py_buffer(text), values.buffers()[0], -1, values.offset)


def plain(values: pa.Array) -> pa.Array:
    """Extension arrays (ADBC's opaque numeric, arrow.json, arrow.uuid) are encoded from their storage."""
    return values.storage if isinstance(values, pa.ExtensionArray) else values


_THREE_DIGITS = string_array([f"{i:03d}" for i in range(1000)])


def _days(days: pa.Array) -> pa.Array:
    """YYYY-MM-DD for days since 1970-01-01 (int32): strftime runs once per distinct day only."""
    encoded = pc.dictionary_encode(days)
    names = pc.strftime(encoded.dictionary.view(pa.date32()), "%Y-%m-%d")
    return pc.take(names, encoded.indices)


@functools.cache
def _seconds_of_day() -> pa.Array:
    """ "HH:MM:SS" for every second of a day, index = second, and "24:00:00" (a valid PostgreSQL time) last."""
    seconds = int_array(np.arange(86_401, dtype=np.int64))
    minutes = pc.divide(seconds, _lit(60))
    hours = pc.divide(minutes, _lit(60))
    two = _THREE_DIGITS.slice(0, 100)  # "000".."099": the last two characters are the two digits
    two = pc.utf8_slice_codeunits(two, 1)
    return pc.binary_join_element_wise(
        pc.take(two, hours),
        _lit(":"),
        pc.take(two, pc.subtract(minutes, pc.multiply(hours, _lit(60)))),
        _lit(":"),
        pc.take(two, pc.subtract(seconds, pc.multiply(minutes, _lit(60)))),
        _lit(""),
    )


def _clock(micros: pa.Array) -> pa.Array:
    """HH:MM:SS.ffffff for microseconds since midnight (int64, 0 <= value <= one day), by table look-ups."""
    seconds = pc.divide(micros, _lit(1_000_000))
    fraction = pc.subtract(micros, pc.multiply(seconds, _lit(1_000_000)))
    millis = pc.divide(fraction, _lit(1000))
    return pc.binary_join_element_wise(
        pc.take(_seconds_of_day(), seconds),
        _lit("."),
        pc.take(_THREE_DIGITS, millis),
        pc.take(_THREE_DIGITS, pc.subtract(fraction, pc.multiply(millis, _lit(1000)))),
        _lit(""),
    )


def _in_day_range(days: pa.Array) -> pa.Array:
    return pc.and_(pc.greater_equal(days, _lit(_MIN_DAY)), pc.less_equal(days, _lit(_MAX_DAY)))


def _timestamps(values: pa.Array, zone_suffix: str) -> tuple[pa.Array, pa.Array]:
    """RFC 3339 text for timestamps (UTC when zoned), and the mask of those outside years 1..9999."""
    micros = values.cast(pa.timestamp("us", values.type.tz), safe=False).view(pa.int64())
    # Shifted to count from 0001-01-01, every valid value is >= 0, so truncating division is floor division.
    shifted = pc.subtract(micros, _lit(_MIN_DAY * _US_PER_DAY))
    days = pc.divide(shifted, _lit(_US_PER_DAY))
    valid = pc.and_(pc.greater_equal(shifted, _lit(0)), _in_day_range(pc.add(days, _lit(_MIN_DAY))))
    clock = pc.if_else(valid, pc.subtract(shifted, pc.multiply(days, _lit(_US_PER_DAY))), _lit(0))
    days = pc.if_else(valid, days, _lit(-_MIN_DAY))  # invalid rows format as 1970-01-01 and are nulled after
    text = pc.binary_join_element_wise(
        _lit('"'),
        _days(pc.cast(pc.add(days, _lit(_MIN_DAY)), pa.int32())),
        _lit("T"),
        _clock(clock),
        _lit(zone_suffix + '"'),
        _lit(""),
    )
    return text, pc.invert(valid)


def _fragments(values: pa.Array, kind: Kind) -> tuple[pa.Array, pa.Array | None]:
    """JSON fragments for one column (nulls left null) and a mask of values that had to be nulled."""
    values = plain(values)
    bad = None
    if kind is Kind.INTEGER:
        out = pc.cast(values, pa.string())
    elif kind is Kind.NUMBER:
        bad = pc.invert(pc.is_finite(values))
        out = pc.cast(values, pa.string())
    elif kind is Kind.DECIMAL:
        bad = pc.is_in(values, _NON_FINITE_DECIMALS)
        out = values
    elif kind is Kind.BOOLEAN:
        out = pc.if_else(values, _lit("true"), _lit("false"))
    elif kind is Kind.STRING:
        out = json_string(values)
    elif kind is Kind.UUID:
        out = _quote(uuid_text(values) if pa.types.is_fixed_size_binary(values.type) else values)
    elif kind is Kind.JSON:
        # json (unlike jsonb) keeps the document's own whitespace; raw line breaks would split our line.
        clean = pc.all(pc.ascii_is_printable(values)).as_py()
        if not clean and pc.any(pc.match_substring_regex(values, r"[\n\r\t]")).as_py():
            values = pc.replace_substring_regex(values, r"[\n\r\t]", " ")
        out = values
    elif kind is Kind.DATE:
        days = values.view(pa.int32())
        bad = pc.invert(_in_day_range(days))
        out = _quote(_days(pc.if_else(bad, _ZERO_DAY, days)))
    elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        out, bad = _timestamps(values, "Z" if kind is Kind.TIMESTAMPTZ else "")
    elif kind is Kind.TIME:
        out = _quote(_clock(values.cast(pa.time64("us"), safe=False).view(pa.int64())))
    elif kind is Kind.TIMETZ:
        out = _quote(pc.replace_substring_regex(values, r"([+-]\d\d)$", r"\1:00"))
    else:  # pragma: no cover - Kind is exhaustive
        raise ValueError(f"unknown column kind {kind}")
    if bad is not None:
        bad = pc.and_kleene(bad, pc.is_valid(values))  # NULL values are fine: never null in the mask
        if not pc.any(bad).as_py():
            bad = None
        else:
            out = pc.if_else(bad, _NULL_STRING, out)
    return out, bad


class RecordEncoder:
    """Encodes batches of one stream into newline-terminated RECORD messages."""

    def __init__(self, stream: str, namespace: str | None, columns: list[Column]):
        self.stream = stream
        self.namespace = namespace
        self.columns = columns
        head = {"stream": stream} | ({"namespace": namespace} if namespace is not None else {})
        self._head = (
            '{"type":"RECORD","record":'
            + json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
            + ',"emitted_at":'
        )
        self._keys = [
            _lit(("," if i else "{") + json.dumps(col.name, ensure_ascii=False) + ":") for i, col in enumerate(columns)
        ]
        self._changes = {
            col.name: _lit(
                json.dumps({"field": col.name, "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}) + ","
            )
            for col in columns
        }

    def encode(self, batch: pa.RecordBatch, emitted_at: int) -> pa.Array:
        """One string per record, each ending in a newline; `as_bytes` gives the stdout payload."""
        parts: list[pa.Array | pa.Scalar] = [string_array([self._head + str(emitted_at) + ',"data":'])[0]]
        changes: list[pa.Array] = []
        for key, col in zip(self._keys, self.columns, strict=True):
            out, bad = _fragments(batch.column(col.name), col.kind)
            parts += [key, pc.coalesce(out, _lit("null"))]
            if bad is not None:
                changes.append(pc.if_else(bad, self._changes[col.name], _lit("")))
        if not self.columns:
            parts.append(string_array(["{"] * len(batch)))
        parts.append(_lit("}"))
        if changes:
            joined = pc.binary_join_element_wise(*changes, _lit(""))
            meta = pc.binary_join_element_wise(
                _lit(',"meta":{"changes":['), pc.utf8_slice_codeunits(joined, 0, -1), _lit("]}"), _lit("")
            )
            parts.append(pc.if_else(pc.equal(joined, _lit("")), _lit(""), meta))
        parts.append(_lit("}}\n"))
        if len(batch) == 0:
            return string_array([])
        lines = pc.binary_join_element_wise(*parts, _lit(""))
        if lines.null_count:  # a null line would silently drop its record from the output
            raise ValueError(f"{self.stream}: {lines.null_count} records could not be encoded")
        return lines


def as_bytes(lines: pa.Array) -> memoryview:
    """The contiguous bytes of a string array's values (its slice of the value buffer)."""
    if len(lines) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=lines.offset + len(lines) + 1)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:end]
