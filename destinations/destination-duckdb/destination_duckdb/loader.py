"""DuckDB as the shared SQL loader's dialect: rows inserted straight from Arrow, by column name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from destination_core.sql import SqlLoader
from destination_core.streams import EXTRACTED_AT, GENERATION_ID, META, RAW_ID, Kind, TargetStream

BATCH = "_airbyte_batch"
# An INSERT from an Arrow stream takes each Arrow batch as a batch of its own: one of whole row groups is written
# (compressed) as it comes, smaller ones are gathered and rewritten when the INSERT ends. So the rows go as batches
# of DuckDB's row group size where they allow: 1,000,000 benchmark rows in one INSERT took 1.65-1.71 s as batches
# of 44,000 (a chunk's rows), 0.84-0.85 s as batches of 122,880. At most ROW_GROUP_BYTES of rows are held back for
# that, besides the rest of the part the last of them came in (a slice keeps its part's buffers).
ROW_GROUP_ROWS = 122_880
ROW_GROUP_BYTES = 64 << 20


def quote(name: str) -> str:
    """SQL-standard quoting (DuckDB's own rule; its Python API has no quoting function): wrap, double quotes."""
    return '"' + name.replace('"', '""') + '"'


def fold(name: str) -> str:
    """DuckDB compares identifiers without regard to the case of ASCII letters (others stay distinct)."""
    return "".join(c.lower() if c.isascii() else c for c in name)


class DuckdbLoader(SqlLoader):
    types = {
        Kind.INTEGER: "BIGINT",
        Kind.NUMBER: "DOUBLE",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.DATE: "DATE",
        Kind.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
        Kind.TIMESTAMP: "TIMESTAMP",
        Kind.TIMETZ: "TIME WITH TIME ZONE",
        Kind.TIME: "TIME",
        Kind.STRING: "VARCHAR",
        Kind.JSON: "JSON",
    }
    metadata_types = {RAW_ID: "UUID", EXTRACTED_AT: "TIMESTAMP WITH TIME ZONE", GENERATION_ID: "BIGINT", META: "JSON"}
    # made by the INSERT: a UUID made as text by the parser and cast back here took 3% of a write's CPU
    makes_raw_ids = True

    def __init__(self, db: duckdb.DuckDBPyConnection, streams: list[TargetStream]) -> None:
        super().__init__(streams)
        self.db = db
        self.catalog = quote(db.execute("SELECT current_database()").fetchone()[0])
        self.db.begin()

    def quote(self, name: str) -> str:
        return quote(name)

    def qualified(self, schema: str, name: str | None = None) -> str:
        """Qualified by the database too: a file named like a schema (bench.duckdb, schema bench) is no riddle."""
        return f"{self.catalog}.{super().qualified(schema, name)}"

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        result = self.db.execute(statement, list(params))
        return result.fetchall() if result.description else []

    fold = staticmethod(fold)

    def has_schema(self, schema: str) -> bool:
        found = self.run("SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database()")
        return any(fold(name) == fold(schema) for (name,) in found)

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        found = self.run(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_type = 'BASE TABLE'"
        )
        match = [(s, t) for s, t in found if fold(s) == fold(schema) and fold(t) == fold(table)]
        if not match:
            return None
        rows = self.run(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            match[0],
        )
        return dict(rows)  # type: ignore[arg-type]

    def bulk_load(self, table: str, schema: pa.Schema, parts: Iterator[pa.Table]) -> None:
        """One INSERT that scans the parts as an Arrow stream and gives each row its raw id."""
        self.db.register(BATCH, pa.RecordBatchReader.from_batches(schema, row_groups(parts)))
        # not unregistered when the insert fails: in the failed transaction that would raise an error of its own
        # ("transaction is aborted") in place of the one that says why
        self.db.execute(f"INSERT INTO {table} BY NAME SELECT *, uuid() AS {quote(RAW_ID)} FROM {BATCH}")
        self.db.unregister(BATCH)

    def widening_loses(self, table: str, column: str, old: Kind, new: Kind) -> bool:
        """A DOUBLE holds every integer only up to 2^53: a BIGINT column holding a larger one becomes VARCHAR."""
        if (old, new) != (Kind.INTEGER, Kind.NUMBER):
            return False
        return bool(self.run(f"SELECT 1 FROM {table} WHERE {column}::DOUBLE::HUGEINT <> {column} LIMIT 1"))

    def commit_transaction(self) -> None:
        self.db.commit()
        self.db.begin()

    def rollback_transaction(self) -> None:
        self.db.rollback()
        self.db.begin()


def row_groups(parts: Iterator[pa.Table]) -> Iterator[pa.RecordBatch]:
    """The parts' rows, in order, as batches of ROW_GROUP_ROWS; the rest when the parts end or once more than
    ROW_GROUP_BYTES are held. Parts joined into one batch are copied with the system allocator: pyarrow's mimalloc
    mapped fresh pages for every batch, and the kernel's clearing them took a tenth of a write's CPU."""
    held: pa.Table | None = None
    for rows in parts:
        held = rows if held is None else pa.concat_tables([held, rows])
        whole = held.num_rows if held.nbytes > ROW_GROUP_BYTES else held.num_rows - held.num_rows % ROW_GROUP_ROWS
        if whole:
            yield from _batches(held.slice(0, whole))
            held = held.slice(whole)
    if held is not None and held.num_rows:
        yield from _batches(held)


def _batches(rows: pa.Table) -> list[pa.RecordBatch]:
    return rows.combine_chunks(pa.system_memory_pool()).to_batches(ROW_GROUP_ROWS)
