"""One write-behaviour suite, run against both SQL destinations as real processes on real databases.

`dest` is parametrized over PostgreSQL (a fresh schema on the local server, from DESTINATION_POSTGRES_TEST_DSN)
and DuckDB (a fresh file). It writes messages through the connector's CLI and reads the resulting tables back.
A missing PostgreSQL server fails the tests; it never skips them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

DSN = os.environ.get("DESTINATION_POSTGRES_TEST_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
CLI = {
    "postgres": [sys.executable, "-c", "from destination_postgres.run import run; run()"],
    "duckdb": [sys.executable, "-c", "from destination_duckdb.run import run; run()"],
}


@dataclass
class Run:
    exit_code: int
    messages: list[dict[str, Any]]
    stderr: str
    non_json: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of("TRACE") if m["trace"]["type"] == "ERROR"]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of("LOG")]


def parse_output(stdout: str, stderr: str, exit_code: int) -> Run:
    messages, non_json = [], []
    for line in stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            non_json.append(line)
    return Run(exit_code, messages, stderr, non_json)


def record(stream: str, data: dict[str, Any], emitted_at: int = 1_700_000_000_000, **extra: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": emitted_at, **extra}}


def state(stream: str, value: Any) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": value}},
    }


def status(stream: str, value: str) -> dict[str, Any]:
    descriptor = {"name": stream}
    trace = {
        "type": "STREAM_STATUS",
        "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": descriptor, "status": value},
    }
    return {"type": "TRACE", "trace": trace}


def stream_entry(
    name: str, properties: dict[str, Any], mode: str = "append", primary_key: list[str] | None = None,
    cursor: str | None = None, generation_id: int | None = None, minimum_generation_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    entry: dict[str, Any] = {
        "stream": {
            "name": name,
            "json_schema": {"type": "object", "properties": properties},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "incremental" if cursor else "full_refresh",
        "destination_sync_mode": mode,
        "primary_key": [[k] for k in primary_key or []],
        "cursor_field": [cursor] if cursor else [],
    }
    if generation_id is not None:
        entry["generation_id"] = generation_id
        entry["minimum_generation_id"] = minimum_generation_id or 0
        entry["sync_id"] = 7
    return entry


def catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(entries)}


def lines(messages: list[dict[str, Any] | str]) -> bytes:
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages).encode()


class Destination:
    """A destination under test: its CLI, its config, and a way to read what it wrote."""

    kind: str

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.config: dict[str, Any] = {}

    def file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def command(self, command: str, catalog: dict[str, Any] | None = None, config: dict | None = None) -> list[str]:
        args = [command, "--config", self.file("config", config if config is not None else self.config)]
        if catalog is not None:
            args += ["--catalog", self.file("catalog", catalog)]
        return CLI[self.kind] + args

    def write(self, catalog: dict[str, Any], messages: list[dict[str, Any] | str] | bytes, **config: Any) -> Run:
        data = messages if isinstance(messages, bytes) else lines(messages)
        done = subprocess.run(
            self.command("write", catalog, {**self.config, **config}), input=data, capture_output=True, timeout=600
        )
        return parse_output(done.stdout.decode(), done.stderr.decode(), done.returncode)

    def check(self, config: dict[str, Any] | None = None) -> Run:
        done = subprocess.run(self.command("check", config=config), capture_output=True, text=True, timeout=120)
        return parse_output(done.stdout, done.stderr, done.returncode)

    # reading back -----------------------------------------------------------------------------------------
    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:
        raise NotImplementedError

    def tables(self) -> set[str]:
        raise NotImplementedError


class PostgresDestination(Destination):
    kind = "postgres"

    def __init__(self, folder: Path, conn: psycopg.Connection, schema: str) -> None:
        super().__init__(folder)
        self.conn, self.schema = conn, schema
        params = psycopg.conninfo.conninfo_to_dict(DSN)
        self.config = {
            "host": params.get("host", "127.0.0.1"),
            "port": int(params.get("port", 5432)),
            "database": params["dbname"],
            "username": params["user"],
            **({"password": params["password"]} if "password" in params else {}),
            "schema": schema,
            "ssl_mode": "disable",
        }

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement, params).fetchall()

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(self.schema, table))
        if order_by:
            query += sql.SQL(" ORDER BY {}").format(sql.Identifier(order_by))
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(query).fetchall()

    def columns(self, table: str) -> dict[str, str]:
        found = self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        )
        return dict(found)  # type: ignore[arg-type]

    def tables(self) -> set[str]:
        found = self.query("SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,))
        return {name for (name,) in found}


class DuckdbDestination(Destination):
    kind = "duckdb"
    schema = "main"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.path = folder / "warehouse.duckdb"
        self.config = {"destination_path": str(self.path)}

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True)

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as db:
            return db.execute(statement, list(params)).fetchall()

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        quoted = '"' + table.replace('"', '""') + '"'
        order = f' ORDER BY "{order_by}"' if order_by else ""
        with self._connect() as db:
            cursor = db.execute(f"SELECT * FROM {quoted}{order}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def columns(self, table: str) -> dict[str, str]:
        found = self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 "
            "ORDER BY ordinal_position",
            (table,),
        )
        return dict(found)  # type: ignore[arg-type]

    def tables(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {name for (name,) in self.query("SELECT table_name FROM information_schema.tables")}


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    try:
        with psycopg.connect(DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"destination tests need PostgreSQL at {DSN!r} (DESTINATION_POSTGRES_TEST_DSN): {exc}", pytrace=False
        )
    return DSN


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(pg: psycopg.Connection) -> Iterator[str]:
    name = f"d_{uuid.uuid4().hex[:10]}"
    yield name
    pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["postgres", "duckdb"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Destination:
    if request.param == "postgres":
        return PostgresDestination(tmp_path, request.getfixturevalue("pg"), request.getfixturevalue("pg_schema"))
    return DuckdbDestination(tmp_path)


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
