"""Arrow types -> Airbyte JSON schema (what discover reports), and the two columns every record carries."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

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
