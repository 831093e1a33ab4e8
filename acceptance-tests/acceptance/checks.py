"""Protocol checks shared by the tests: secrets in specs and output, Airbyte JSON schemas, catalogs, values."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

AIRBYTE_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
AIRBYTE_FORMATS = {"date", "date-time", "time"}
AIRBYTE_TYPE_HINTS = {
    "timestamp_with_timezone",
    "timestamp_without_timezone",
    "time_with_timezone",
    "time_without_timezone",
    "integer",
}
# Spec properties whose name says they hold a credential (aws_access_key_id is an identifier, not a secret).
SECRET_NAME = re.compile(r"password|secret|token|private_key|client_key|api_key|access_key(?!_id)")


def spec_properties(schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """Every property of a spec's connectionSpecification, nested objects and oneOf alternatives included."""
    for name, prop in (schema.get("properties") or {}).items():
        yield (*path, name), prop
        yield from spec_properties(prop, (*path, name))
        for alternative in prop.get("oneOf") or []:
            yield from spec_properties(alternative, (*path, name))
    for alternative in schema.get("oneOf") or []:
        yield from spec_properties(alternative, path)


def unmarked_secrets(connection_specification: dict[str, Any]) -> list[str]:
    return [
        ".".join(path)
        for path, prop in spec_properties(connection_specification)
        if SECRET_NAME.search(path[-1]) and prop.get("type") == "string" and not prop.get("airbyte_secret")
    ]


def secret_values(connection_specification: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The config's values at properties that the spec marks `airbyte_secret`."""
    found = []
    for path, prop in spec_properties(connection_specification):
        if not prop.get("airbyte_secret"):
            continue
        value: Any = config
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            found.append(value)
    return found


def schema_problems(schema: dict[str, Any], where: str = "") -> list[str]:
    """Departures of a stream's JSON schema from the Airbyte type system."""
    problems = []
    types = schema.get("type")
    for kind in [types] if isinstance(types, str) else types or []:
        if kind not in AIRBYTE_TYPES:
            problems.append(f"{where or 'stream'}: type {kind!r} is not an Airbyte type")
    if "format" in schema and schema["format"] not in AIRBYTE_FORMATS:
        problems.append(f"{where}: format {schema['format']!r} is not an Airbyte format")
    if "airbyte_type" in schema and schema["airbyte_type"] not in AIRBYTE_TYPE_HINTS:
        problems.append(f"{where}: airbyte_type {schema['airbyte_type']!r} is unknown")
    for name, prop in (schema.get("properties") or {}).items():
        problems += schema_problems(prop, f"{where}.{name}" if where else name)
    if isinstance(schema.get("items"), dict):
        problems += schema_problems(schema["items"], f"{where}[]")
    return problems


def has_field(schema: dict[str, Any], path: list[str]) -> bool:
    for part in path:
        schema = (schema.get("properties") or {}).get(part)
        if schema is None:
            return False
    return True


def stream_key(message: dict[str, Any]) -> tuple[str | None, str]:
    """(namespace, name) of a RECORD or a STREAM state or status's descriptor."""
    return message.get("namespace"), message["name"]


def state_key(state: dict[str, Any]) -> tuple[str | None, str]:
    return stream_key(state["stream"]["stream_descriptor"])


def canonical(record: dict[str, Any]) -> tuple:
    """A record's data as a hashable value, for comparing reads as multisets."""
    return (record.get("namespace"), record["stream"], repr(sorted(record["data"].items())))


def multiset(records: list[dict[str, Any]]) -> Counter:
    return Counter(canonical(r) for r in records)


def normalized(value: Any, field_schema: dict[str, Any]) -> Any:
    """A value as sent in JSON or as read back from a database or file, brought to one comparable form."""
    if value is None:
        return None
    fmt = field_schema.get("format")
    types = field_schema.get("type")
    types = {types} if isinstance(types, str) else set(types or [])
    if fmt == "date-time":
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        return moment if moment.tzinfo is None else moment.astimezone(dt.UTC)
    if fmt == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if "integer" in types:
        return int(value)
    if "number" in types:
        return float(Decimal(str(value)))
    return value
