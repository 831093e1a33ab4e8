"""Tables, schema evolution, dedup merge, overwrite swap and generations: the SQL both databases share.

A subclass gives the dialect: identifier quoting (the driver's), column types, how to run a statement, how
to bulk-load an Arrow table, and how to read a table's columns. Everything here runs in the loader's one
transaction; `commit` ends it. Bulk loads run on a thread of their own, so that the next rows are parsed while
the database takes these: one bulk statement per table and transaction, fed the rows as they come (DuckDB took
1,000,000 rows in 1.3 s as one INSERT, in 2.2-2.6 s as four, since it rewrote each INSERT's blocks at the commit).
Every other statement waits for that statement to end first.

Where rows go: `append`/`append_dedup` streams write into their final table. Overwrites and truncate refreshes
write into `<table>_airbyte_tmp`, which is swapped in when the stream is complete, so the old table stays
readable until then; a leftover of the same generation is resumed, one of another generation is emptied.
Dedup streams first load into a staging table, merged into the target at each commit: the row kept for a key
is the one with the greatest cursor, then extraction time, then stdin position; `_ab_cdc_deleted_at` removes it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import Any

import pyarrow as pa

from destination_core.feed import Feed
from destination_core.streams import (
    CDC_DELETED_AT,
    EXTRACTED_AT,
    GENERATION_ID,
    META,
    RANK,
    RAW_ID,
    SEQ,
    WIDENING,
    Column,
    Kind,
    TargetStream,
    shadow_name,
)

logger = logging.getLogger("airbyte")

STAGE_PREFIX = "_airbyte_stage_"


class SqlLoader(ABC):
    types: Mapping[Kind, str]  # column type per kind, spelled as the database reports it back
    metadata_types: Mapping[str, str]  # the four _airbyte_ columns
    makes_raw_ids = False  # see `Loader`

    def __init__(self, streams: list[TargetStream]) -> None:
        self.streams = streams
        self.staged: set[int] = set()  # indexes of dedup streams with rows in their staging table
        self.stages: dict[int, str] = {}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self.feed: Feed | None = None

    # -- dialect -------------------------------------------------------------------------------------------
    @abstractmethod
    def quote(self, name: str) -> str: ...

    @abstractmethod
    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement in the open transaction; rows if it returns any. Parameters ($1, $2 ...) are bound."""

    @abstractmethod
    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        """Column name -> type name of a table, None if it does not exist."""

    @abstractmethod
    def has_schema(self, schema: str) -> bool: ...

    @staticmethod
    @abstractmethod
    def fold(name: str) -> str:
        """A name as the database compares it (see `target_streams`)."""

    max_name_bytes: int | None = None  # the database's limit on identifiers, if it has one

    def bulk_part(self, rows: pa.Table) -> Any:
        """`rows` as `bulk_load` takes them: work the connection is not needed for (formatting) is done here, on
        the parsing thread."""
        return rows

    @abstractmethod
    def bulk_load(self, table: str, schema: pa.Schema, parts: Iterator[Any]) -> None:
        """Append to `table` (quoted, qualified) every part (`bulk_part` of rows of `schema`) as `parts` yields
        it, in one statement, columns matched by name. Runs on the load thread; `parts` ends when the loader
        needs the connection for something else."""

    @abstractmethod
    def commit_transaction(self) -> None: ...

    @abstractmethod
    def rollback_transaction(self) -> None: ...

    # -- the connection, one thread at a time -------------------------------------------------------------------
    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.wait()
        return self.execute(statement, params)

    def wait(self) -> None:
        """End the bulk load in flight, raising its error."""
        if self.feed is not None:
            feed, self.feed = self.feed, None
            feed.end()

    def commit_now(self) -> None:
        self.wait()
        self.commit_transaction()

    def close(self) -> None:
        """Let the load in flight end (its error no longer matters: the transaction is rolled back after)."""
        with suppress(Exception):
            self.wait()
        self.worker.shutdown(wait=True, cancel_futures=True)

    def widening_loses(self, table: str, column: str, old: Kind, new: Kind) -> bool:
        """Whether `column` (quoted) of `table` holds a value that the type of `new` would change; the column then
        becomes text instead, which keeps every value. No by default: the types given are wide enough."""
        return False

    # -- names ----------------------------------------------------------------------------------------------
    def table(self, stream: TargetStream, shadow: bool = False) -> str:
        return self.qualified(stream.schema, self.shadow_name(stream) if shadow else stream.name)

    def qualified(self, schema: str, name: str | None = None) -> str:
        """A schema, or a table in it, quoted and qualified."""
        return self.quote(schema) if name is None else f"{self.quote(schema)}.{self.quote(name)}"

    def shadow_name(self, stream: TargetStream) -> str:
        return shadow_name(stream.name, self.max_name_bytes)

    def target(self, stream: TargetStream) -> str:
        return self.table(stream, shadow=stream.truncate)

    def stage_table(self, index: int) -> str:
        """The session-private staging table of dedup stream `index`: its target's columns plus `_airbyte_seq`."""
        if index not in self.stages:
            stage = self.quote(f"{STAGE_PREFIX}{index}")
            self.run(
                f"CREATE TEMP TABLE {stage} AS SELECT *, CAST(NULL AS BIGINT) AS {self.quote(SEQ)} "
                f"FROM {self.target(self.streams[index])} WHERE false"
            )
            self.stages[index] = stage
        return self.stages[index]

    # -- preparing tables -------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create or evolve every stream's table (and shadow); committed before any row is read."""
        for schema in sorted({s.schema for s in self.streams}):
            if not self.has_schema(schema):  # (IF NOT EXISTS alone would need CREATE on the database in PostgreSQL)
                self.run(f"CREATE SCHEMA {self.qualified(schema)}")
        for stream in self.streams:
            self._ensure(stream, stream.name)
            if stream.truncate:
                self._prepare_shadow(stream)
        self.commit_now()

    def _ensure(self, stream: TargetStream, name: str) -> None:
        table = self.qualified(stream.schema, name)
        existing = self.columns(stream.schema, name)
        if existing is None:
            definitions = [f"{self.quote(c.name)} {self.types[c.kind]}" for c in stream.columns]
            definitions += [f"{self.quote(n)} {t}" for n, t in self.metadata_types.items()]
            self.run(f"CREATE TABLE {table} ({', '.join(definitions)})")
            return
        existing = {self.fold(name_): type_ for name_, type_ in existing.items()}
        for name_, type_ in self.metadata_types.items():
            if self.fold(name_) not in existing:
                self.run(f"ALTER TABLE {table} ADD COLUMN {self.quote(name_)} {type_}")
        for column in stream.columns:
            self._evolve(stream, table, column, existing.get(self.fold(column.name)))

    def _evolve(self, stream: TargetStream, table: str, column: Column, current: str | None) -> None:
        wanted = self.types[column.kind]
        if current is None:
            logger.info(f"{stream.label}: new column {column.name!r} ({wanted})")
            self.run(f"ALTER TABLE {table} ADD COLUMN {self.quote(column.name)} {wanted}")
            return
        if current.lower() == wanted.lower():
            return
        kinds = {t.lower(): k for k, t in self.types.items()}
        old = kinds.get(current.lower())
        if old is None:
            return  # a type set by hand: leave it, the database casts on load or says why not
        quoted = self.quote(column.name)
        if old in WIDENING and column.kind in WIDENING:
            if WIDENING.index(old) >= WIDENING.index(column.kind):
                return  # already wide enough
            new = self.types[Kind.STRING] if self.widening_loses(table, quoted, old, column.kind) else wanted
        elif old is Kind.STRING:
            return  # text takes any value
        else:
            new = self.types[Kind.STRING]
        logger.info(f"{stream.label}: column {column.name!r} widened from {current} to {new}")
        self.run(f"ALTER TABLE {table} ALTER COLUMN {quoted} TYPE {new} USING {quoted}::{new}")

    def _prepare_shadow(self, stream: TargetStream) -> None:
        name = self.shadow_name(stream)
        shadow = self.table(stream, shadow=True)
        if self.columns(stream.schema, name) is not None:
            other = self.run(
                f"SELECT count(*) FROM {shadow} WHERE {self.quote(GENERATION_ID)} IS DISTINCT FROM $1",
                (stream.generation_id,),
            )[0][0]
            if other:
                logger.info(f"{stream.label}: dropping a leftover {name} of another generation")
                self.run(f"DROP TABLE {shadow}")
            else:
                logger.info(f"{stream.label}: resuming the unfinished overwrite in {name}")
        self._ensure(stream, name)

    # -- loading -------------------------------------------------------------------------------------------
    def load(self, stream: TargetStream, rows: pa.Table) -> None:
        if stream.dedup:
            index = self.streams.index(stream)
            table = self.stage_table(index)
            self.staged.add(index)
        else:
            table, rows = self.target(stream), rows.drop_columns([SEQ])
        key = (table, rows.schema)
        if self.feed is None or self.feed.key != key:
            self.wait()
            self.feed = Feed(key, self.worker, partial(self.bulk_load, table, rows.schema))
        self.feed.put(self.bulk_part(rows))

    def commit(self) -> None:
        for index in sorted(self.staged):
            self._merge(self.streams[index], self.stage_table(index))
        self.staged.clear()
        self.commit_now()

    def rollback(self) -> None:
        self.wait()
        self.staged.clear()  # their staged rows are gone with the rest
        self.rollback_transaction()

    def _merge(self, stream: TargetStream, stage: str) -> None:
        target = self.target(stream)
        names = [c.name for c in stream.columns] + [RAW_ID, EXTRACTED_AT, GENERATION_ID, META]
        columns = ", ".join(self.quote(n) for n in names)
        keys = [self.quote(k) for k in stream.primary_key]
        order = [f"{self.quote(stream.cursor)} DESC NULLS LAST"] if stream.cursor else []
        order += [f"{self.quote(EXTRACTED_AT)} DESC", f"{self.quote(SEQ)} DESC"]
        matches = [f"EXISTS (SELECT 1 FROM {stage} s WHERE {' AND '.join(f's.{k} = t.{k}' for k in keys)})"]
        if self.run(f"SELECT 1 FROM {stage} WHERE {' OR '.join(f'{k} IS NULL' for k in keys)} LIMIT 1"):
            # NULL is a key value like any other, as in the PARTITION BY below, so that where commits fall never
            # matters. No database hashes IS NOT DISTINCT FROM: it only compares the rows with a NULL in their key.
            same = " AND ".join(f"s.{k} IS NOT DISTINCT FROM t.{k}" for k in keys)
            matches.append(
                f"({' OR '.join(f't.{k} IS NULL' for k in keys)}) AND EXISTS (SELECT 1 FROM {stage} s "
                f"WHERE ({' OR '.join(f's.{k} IS NULL' for k in keys)}) AND {same})"
            )
        in_target = "".join(f" UNION ALL SELECT {columns}, -1 FROM {target} t WHERE {match}" for match in matches)
        winners, rank = self.quote("_airbyte_winners"), self.quote(RANK)
        self.run(
            f"CREATE TEMP TABLE {winners} AS SELECT {columns} FROM (SELECT u.*, row_number() OVER "
            f"(PARTITION BY {', '.join(keys)} ORDER BY {', '.join(order)}) AS {rank} FROM "
            f"(SELECT {columns}, {self.quote(SEQ)} FROM {stage}{in_target}) u) w WHERE {rank} = 1"
        )
        for match in matches:
            self.run(f"DELETE FROM {target} t WHERE {match}")
        alive = f" WHERE {self.quote(CDC_DELETED_AT)} IS NULL" if CDC_DELETED_AT in names else ""
        self.run(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {winners}{alive}")
        self.run(f"DROP TABLE {winners}")
        self.run(f"DELETE FROM {stage}")

    # -- finishing a stream ----------------------------------------------------------------------------------
    def finalize(self, stream: TargetStream) -> None:
        final = self.table(stream)
        if stream.truncate:
            self.run(f"DROP TABLE {final}")
            self.run(f"ALTER TABLE {self.table(stream, shadow=True)} RENAME TO {self.quote(stream.name)}")
            logger.info(f"{stream.label}: overwrite complete, new table swapped in")
        elif stream.minimum_generation_id > 0:
            self.run(
                f"DELETE FROM {final} WHERE {self.quote(GENERATION_ID)} IS NULL OR {self.quote(GENERATION_ID)} < $1",
                (stream.minimum_generation_id,),
            )
        self.commit_now()
