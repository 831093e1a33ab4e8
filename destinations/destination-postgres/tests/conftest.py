"""Fixtures for destination-postgres tests: the real local PostgreSQL, a fresh schema per test, the real CLI.

The server comes from DESTINATION_POSTGRES_TEST_DSN (default: the local server over TCP as user postgres).
A missing server fails the tests; it never skips them. The connector runs as a separate process, exactly as a
platform would run it: config and catalog as files, messages on stdin, every stdout line parsed as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

DSN = os.environ.get("DESTINATION_POSTGRES_TEST_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
CLI = [sys.executable, "-c", "from destination_postgres.run import run; run()"]


@dataclass
class Run:
    """What one CLI invocation printed: every stdout line parsed as a message, plus exit code and stderr."""

    exit_code: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str
    non_json: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def output(self) -> str:
        """Everything the process printed, on both streams."""
        return self.stdout + self.stderr

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of("TRACE") if m["trace"]["type"] == "ERROR"]

    @property
    def connection_status(self) -> dict[str, Any]:
        (only,) = [m["connectionStatus"] for m in self.of("CONNECTION_STATUS")]
        return only

    def tail(self) -> str:
        """A short account of the run for assertion messages: the errors if any, else the end of the output."""
        if self.errors:
            return "\n".join(
                f"{e.get('failure_type')}: {e.get('message')} | {e.get('internal_message')}" for e in self.errors
            )
        return (self.stdout[-2000:] + "\n--- stderr ---\n" + self.stderr[-2000:]).strip()


def parse(stdout: str, stderr: str, exit_code: int) -> Run:
    messages, non_json = [], []
    for line in stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            non_json.append(line)
    return Run(exit_code, messages, stdout, stderr, non_json)


def lines(messages: list[dict[str, Any] | str]) -> bytes:
    """stdin for `write`: each message as one JSON line (a str is taken as an already serialized line)."""
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages).encode()


class Cli:
    """Runs `destination-postgres` commands as a separate process, with its files written to a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def _file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def run(
        self,
        command: str,
        config: dict[str, Any] | None = None,
        catalog: dict[str, Any] | None = None,
        messages: list[dict[str, Any] | str] | None = None,
    ) -> Run:
        args = [command]
        if config is not None:
            args += ["--config", self._file("config", config)]
        if catalog is not None:
            args += ["--catalog", self._file("catalog", catalog)]
        done = subprocess.run(CLI + args, input=lines(messages or []), capture_output=True, timeout=300)
        return parse(done.stdout.decode(), done.stderr.decode(), done.returncode)

    def spec(self) -> Run:
        return self.run("spec")

    def check(self, config: dict[str, Any]) -> Run:
        return self.run("check", config)

    def write(self, config: dict[str, Any], catalog: dict[str, Any], messages: list[dict[str, Any] | str]) -> Run:
        return self.run("write", config, catalog, messages)


# -- messages and catalogs ---------------------------------------------------------------------------------


def record(stream: str, data: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": 1_700_000_000_000}
    if namespace is not None:
        body["namespace"] = namespace
    return {"type": "RECORD", "record": body}


def state(stream: str, value: Any, namespace: str | None = None) -> dict[str, Any]:
    descriptor = {"name": stream, **({"namespace": namespace} if namespace is not None else {})}
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": value}},
    }


def stream_entry(
    name: str,
    properties: dict[str, Any],
    mode: str = "append",
    primary_key: list[str] | None = None,
    cursor: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    if namespace is not None:
        stream["namespace"] = namespace
    return {
        "stream": stream,
        "sync_mode": "incremental" if cursor else "full_refresh",
        "destination_sync_mode": mode,
        "primary_key": [[k] for k in primary_key or []],
        "cursor_field": [cursor] if cursor else [],
    }


def catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(entries)}


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    try:
        with psycopg.connect(DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"destination-postgres tests need PostgreSQL at {DSN!r} (set DESTINATION_POSTGRES_TEST_DSN): {exc}",
            pytrace=False,
        )
    return DSN


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit admin connection, to set up and to read back what the connector wrote."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    """A fresh, empty schema of its own for one test, dropped (with everything in it) afterwards."""
    name = f"d_{uuid.uuid4().hex[:10]}"
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def drop_schemas(pg: psycopg.Connection) -> Iterator[list[str]]:
    """Schemas a test expects the connector to create: append their names, they are dropped afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    return {
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "database": params["dbname"],
        "username": params["user"],
        **({"password": params["password"]} if "password" in params else {}),
        "schema": schema,
        "ssl_mode": "disable",
    }


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


# -- reading back ------------------------------------------------------------------------------------------


def relations(pg: psycopg.Connection, schema: str) -> set[str]:
    """Every relation (table, view, sequence, index ...) in `schema`."""
    found = pg.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
        (schema,),
    ).fetchall()
    return {name for (name,) in found}


def schema_exists(pg: psycopg.Connection, schema: str) -> bool:
    return pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def rows(pg: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """The given columns of every row, sorted; names quoted by psycopg, so any name is read as it is."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, table)
    )
    return sorted(pg.execute(query).fetchall(), key=repr)
