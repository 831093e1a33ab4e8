"""Arrow types <-> Airbyte JSON schema, and the column kinds source_core's encoder writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from source_core.emit import Kind

FILE_URL = "_ab_source_file_url"
FILE_MODIFIED = "_ab_source_file_last_modified"


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": ["null", schema["type"]]}


def json_schema_of(type_: pa.DataType) -> dict[str, Any]:
    """The Airbyte JSON schema of an Arrow type (what discover reports)."""
    if pa.types.is_integer(type_):
        return nullable({"type": "integer"})
    if pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return nullable({"type": "number"})
    if pa.types.is_boolean(type_):
        return nullable({"type": "boolean"})
    if pa.types.is_date(type_):
        return nullable({"type": "string", "format": "date"})
    if pa.types.is_timestamp(type_):
        kind = "timestamp_with_timezone" if type_.tz else "timestamp_without_timezone"
        return nullable({"type": "string", "format": "date-time", "airbyte_type": kind})
    if pa.types.is_time(type_):
        return nullable({"type": "string", "format": "time", "airbyte_type": "time_without_timezone"})
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        return nullable({"type": "array"})
    if pa.types.is_struct(type_) or pa.types.is_map(type_):
        return nullable({"type": "object"})
    return nullable({"type": "string"})  # strings, binary (base64), nulls, anything else as text


def _types(schema: Mapping[str, Any]) -> list[str]:
    found = schema.get("type", [])
    return [t for t in ([found] if isinstance(found, str) else found) if t != "null"]


def kind_of(schema: Mapping[str, Any]) -> Kind:
    """How a column described by `schema` is written."""
    types = _types(schema)
    if len(types) != 1:
        return Kind.JSON
    fmt, airbyte_type = schema.get("format"), schema.get("airbyte_type")
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
            return Kind.TIME
        case "string":
            return Kind.STRING
        case _:
            return Kind.JSON


# the DuckDB type each kind is cast to before encoding (JSON stays text that is JSON)
DUCKDB_TYPES = {
    Kind.INTEGER: "BIGINT",
    Kind.NUMBER: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.DATE: "DATE",
    Kind.TIMESTAMPTZ: "TIMESTAMPTZ",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.TIME: "TIME",
    Kind.STRING: "VARCHAR",
    Kind.JSON: "JSON",
}
