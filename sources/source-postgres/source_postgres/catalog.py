"""What the user can read: tables, views and materialized views, their columns, types and primary keys."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from airbyte_cdk.models import AirbyteStream, SyncMode

from source_postgres.types import Mapping, PgType, mapping, nullable

_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relhassubclass
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND has_schema_privilege(n.oid, 'USAGE')
  AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
  AND (%(names)s::text[] IS NULL OR (n.nspname || '.' || c.relname) = ANY(%(names)s::text[]))
ORDER BY n.nspname, c.relname
"""
_COLUMNS = """
SELECT a.attrelid, a.attname, a.atttypid
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""
_PRIMARY_KEYS = """
SELECT i.indrelid, array_agg(a.attname ORDER BY k.ord)
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisprimary AND i.indrelid = ANY(%s)
GROUP BY i.indrelid
"""
_TYPES = """
SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typbasetype, t.typelem
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""


@dataclass(frozen=True)
class PgColumn:
    name: str
    type: PgType
    how: Mapping


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # pg_class.relkind
    columns: tuple[PgColumn, ...]
    primary_key: tuple[str, ...]
    has_children: bool  # pg_class.relhassubclass: inheritance children are read with it

    @property
    def has_ctid(self) -> bool:
        """Whether ctid is a row's own position: views (and foreign tables) have none, and a table with
        inheritance children shares ctid values with them."""
        return self.kind in ("r", "m") and not self.has_children

    def column(self, name: str) -> PgColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def airbyte_stream(self) -> AirbyteStream:
        properties = {c.name: nullable(c.how.schema) for c in self.columns}
        return AirbyteStream(
            name=self.name,
            namespace=self.schema,
            json_schema={
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": properties,
            },
            supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
            source_defined_cursor=False,
            source_defined_primary_key=[[k] for k in self.primary_key] or None,
            is_resumable=bool(self.primary_key) or self.has_ctid,
        )


def _resolve_types(conn: psycopg.Connection) -> dict[int, PgType]:
    rows = {row[0]: row for row in conn.execute(_TYPES)}
    resolved: dict[int, PgType] = {}

    def resolve(oid: int) -> PgType:
        if oid not in resolved:
            _, schema, name, typtype, category, base, element = rows[oid]
            if typtype == "d":  # a domain reads as its base type
                resolved[oid] = resolve(base)
            else:
                is_array = category == "A" and element != 0
                resolved[oid] = PgType(oid, schema, name, typtype, category, resolve(element) if is_array else None)
        return resolved[oid]

    return {oid: resolve(oid) for oid in rows}


def relations(conn: psycopg.Connection, schemas: list[str], names: list[str] | None = None) -> list[Relation]:
    """Readable relations in `schemas` (optionally only those named 'schema.name'), with their readable columns."""
    found = conn.execute(_RELATIONS, {"schemas": schemas, "names": names}).fetchall()
    oids = [row[0] for row in found]
    types = _resolve_types(conn)
    columns: dict[int, list[PgColumn]] = {oid: [] for oid in oids}
    for relid, name, type_oid in conn.execute(_COLUMNS, (oids,)):
        pg_type = types[type_oid]
        columns[relid].append(PgColumn(name, pg_type, mapping(pg_type)))
    keys = dict(conn.execute(_PRIMARY_KEYS, (oids,)).fetchall())
    return [
        Relation(schema, name, kind, tuple(columns[oid]), tuple(keys.get(oid) or ()), has_children)
        for oid, schema, name, kind, has_children in found
    ]
