"""PostgreSQL types -> what the read query selects, how the encoder writes it, and its Airbyte JSON schema.

Domains are resolved to their base type first. Types that the Arrow driver does not carry natively
(timetz, interval, inet, money, enums, ranges, ...) are cast to text (or numeric, or JSON) by the server,
so the client only ever sees a handful of Arrow types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from source_core.emit import Kind


@dataclass(frozen=True)
class PgType:
    """A row of pg_type with domains already resolved to their base type."""

    oid: int
    schema: str
    name: str
    typtype: str  # b base, c composite, e enum, r range, m multirange, p pseudo
    category: str  # pg_type.typcategory: A array, N numeric, S string, D datetime, ...
    element: PgType | None = None  # for arrays


@dataclass(frozen=True)
class Mapping:
    kind: Kind
    schema: dict[str, Any]
    cast: str | None = None  # "text", "numeric", "json", "base64": what the server converts the value to


_STRING = {"type": "string"}
_DATE_TIME = {"type": "string", "format": "date-time"}
_TIMESTAMP_TZ = _DATE_TIME | {"airbyte_type": "timestamp_with_timezone"}
_TIMESTAMP = _DATE_TIME | {"airbyte_type": "timestamp_without_timezone"}
_ANY_JSON = {"type": ["object", "array", "string", "number", "boolean"]}

_BASE: dict[str, Mapping] = {
    "int2": Mapping(Kind.INTEGER, {"type": "integer"}),
    "int4": Mapping(Kind.INTEGER, {"type": "integer"}),
    "int8": Mapping(Kind.INTEGER, {"type": "integer"}),
    "oid": Mapping(Kind.INTEGER, {"type": "integer"}),
    "float4": Mapping(Kind.NUMBER, {"type": "number"}),
    "float8": Mapping(Kind.NUMBER, {"type": "number"}),
    "numeric": Mapping(Kind.DECIMAL, {"type": "number"}),  # the driver gives its exact decimal text
    "money": Mapping(Kind.DECIMAL, {"type": "number"}, "numeric"),
    "bool": Mapping(Kind.BOOLEAN, {"type": "boolean"}),
    "text": Mapping(Kind.STRING, _STRING),
    "varchar": Mapping(Kind.STRING, _STRING),
    "bpchar": Mapping(Kind.STRING, _STRING),
    "name": Mapping(Kind.STRING, _STRING),
    "char": Mapping(Kind.STRING, _STRING, "text"),
    "uuid": Mapping(Kind.UUID, {"type": "string", "format": "uuid"}),
    "date": Mapping(Kind.DATE, {"type": "string", "format": "date"}),
    "time": Mapping(Kind.TIME, {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"}),
    "timetz": Mapping(Kind.TIMETZ, {"type": "string", "format": "time", "airbyte_type": "time_with_timezone"}, "text"),
    "timestamp": Mapping(Kind.TIMESTAMP, _TIMESTAMP),
    "timestamptz": Mapping(Kind.TIMESTAMPTZ, _TIMESTAMP_TZ),
    "interval": Mapping(Kind.STRING, _STRING, "text"),  # ISO 8601 (the session sets IntervalStyle)
    "json": Mapping(Kind.JSON, _ANY_JSON),
    "jsonb": Mapping(Kind.JSON, _ANY_JSON),
    "bytea": Mapping(Kind.STRING, {"type": "string", "contentEncoding": "base64"}, "base64"),
}
_AS_TEXT = Mapping(Kind.STRING, _STRING, "text")  # enums, inet, cidr, macaddr, bit, xml, ranges, ...

# Types a cursor may use: their order is meaningful and their text form casts back exactly.
_ORDERABLE_CATEGORIES = {"N", "D", "S", "E", "T"}  # numeric, datetime, string, enum, timespan


def orderable(pg_type: PgType) -> bool:
    if pg_type.element is not None:
        return False
    return pg_type.category in _ORDERABLE_CATEGORIES or (pg_type.schema, pg_type.name) == ("pg_catalog", "uuid")


# Array elements are written by the server's to_json, which differs from the element's own mapping for a few types:
# money as its text ("$1.50"), bytea in PostgreSQL's hex form ("\\x0102"), oid quoted ("1"), and NaN and Infinity
# of floats and numeric as strings
_ITEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "money": _STRING,
    "bytea": _STRING,
    "oid": _STRING,
    "float4": {"type": ["number", "string"]},
    "float8": {"type": ["number", "string"]},
    "numeric": {"type": ["number", "string"]},
}


def mapping(pg_type: PgType) -> Mapping:
    if pg_type.element is not None:
        element = pg_type.element
        own = _ITEM_SCHEMAS.get(element.name) if element.schema == "pg_catalog" else None
        item = nullable(own or mapping(element).schema)  # arrays may hold NULL elements
        return Mapping(Kind.JSON, {"type": "array", "items": item}, "json")
    if pg_type.typtype == "c":
        return Mapping(Kind.JSON, {"type": "object"}, "json")
    if pg_type.schema == "pg_catalog" and pg_type.name in _BASE:
        return _BASE[pg_type.name]
    return _AS_TEXT


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return schema | {"type": ["null", *types]}


def select_expression(column: sql.Composable, how: Mapping) -> sql.Composable:
    """The SELECT-list expression that gives the encoder the value in the form it expects."""
    if how.cast == "text":
        return sql.SQL("CAST({} AS text)").format(column)
    if how.cast == "numeric":
        return sql.SQL("CAST({} AS numeric)").format(column)
    if how.cast == "json":
        return sql.SQL("CAST(to_json({}) AS text)").format(column)
    if how.cast == "base64":
        # encode() wraps base64 every 76 characters; the protocol wants one unbroken string.
        return sql.SQL("translate(encode({}, 'base64'), E'\\n', '')").format(column)
    return column
