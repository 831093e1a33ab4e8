"""PostgreSQL as the shared SQL loader's dialect: psycopg 3, identifiers by `sql.Identifier`, rows by COPY CSV."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from destination_core.sql import SqlLoader
from destination_core.streams import EXTRACTED_AT, GENERATION_ID, META, RAW_ID, Kind, TargetStream

MAX_IDENTIFIER_BYTES = 63

_COLUMNS = """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
"""
_EXISTS = """
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
"""


def fold(name: str) -> str:
    """PostgreSQL keeps the first 63 bytes of a name: longer names that share them are the same table."""
    return name.encode()[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")


class PostgresLoader(SqlLoader):
    types = {
        Kind.INTEGER: "bigint",
        Kind.NUMBER: "numeric",
        Kind.BOOLEAN: "boolean",
        Kind.DATE: "date",
        Kind.TIMESTAMPTZ: "timestamp with time zone",
        Kind.TIMESTAMP: "timestamp without time zone",
        Kind.TIMETZ: "time with time zone",
        Kind.TIME: "time without time zone",
        Kind.STRING: "text",
        Kind.JSON: "jsonb",
    }
    metadata_types = {RAW_ID: "uuid", EXTRACTED_AT: "timestamp with time zone", GENERATION_ID: "bigint", META: "jsonb"}

    def __init__(self, conn: psycopg.Connection, streams: list[TargetStream]) -> None:
        super().__init__(streams)
        self.conn = conn
        conn.execute("SET TIME ZONE 'UTC'")

    def quote(self, name: str) -> str:
        return sql.Identifier(name).as_string(self.conn)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.RawCursor(self.conn) as cursor:  # native $n placeholders: a % in a name is just a character
            cursor.execute(statement.encode(), params or None)
            return cursor.fetchall() if cursor.description else []

    max_name_bytes = MAX_IDENTIFIER_BYTES
    fold = staticmethod(fold)

    def has_schema(self, schema: str) -> bool:
        return bool(self.run("SELECT 1 FROM pg_namespace WHERE nspname = $1", (schema,)))

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        if not self.run(_EXISTS, (schema, fold(table))):
            return None
        return dict(self.run(_COLUMNS, (schema, fold(table))))  # type: ignore[arg-type]

    def bulk_part(self, rows: pa.Table) -> memoryview:
        """`rows` as CSV: NULL is an empty field, an empty string is quoted (pyarrow quotes strings)."""
        for index, column in enumerate(rows.schema):
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                # the session's time zone is UTC: naive UTC text is cheaper to format than text with an offset
                rows = rows.set_column(index, column.name, rows.column(index).cast(pa.timestamp(column.type.unit)))
        buffer = io.BytesIO()
        pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
        return buffer.getbuffer()

    def bulk_load(self, table: str, schema: pa.Schema, parts: Iterator[memoryview]) -> None:
        """One COPY ... FROM STDIN (FORMAT csv) that sends the parts as they come."""
        columns = ", ".join(self.quote(name) for name in schema.names)
        statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)".encode()
        with self.conn.cursor() as cursor, cursor.copy(statement) as copying:
            for part in parts:
                copying.write(part)

    def commit_transaction(self) -> None:
        self.conn.commit()

    def rollback_transaction(self) -> None:
        self.conn.rollback()
