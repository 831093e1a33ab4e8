"""Fixtures for source-postgres tests: a real PostgreSQL server, one fresh schema per test, and the real CLI.

The server comes from SOURCE_POSTGRES_TEST_DSN (default: the local server over TCP as user postgres).
A missing server fails the tests; it never skips them.
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

DSN = os.environ.get("SOURCE_POSTGRES_TEST_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
CLI = [sys.executable, "-c", "from source_postgres.run import run; run()"]


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    try:
        with psycopg.connect(DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"source-postgres tests need a PostgreSQL server at {DSN!r} (set SOURCE_POSTGRES_TEST_DSN): {exc}",
            pytrace=False,
        )
    return DSN


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    return {
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "database": params["dbname"],
        "username": params["user"],
        **({"password": params["password"]} if "password" in params else {}),
        "schemas": [schema],
        "ssl_mode": "disable",
    }


@dataclass
class Run:
    """What one CLI invocation printed: every stdout line parsed as a message, plus exit code and stderr."""

    exit_code: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str
    non_json: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of("RECORD")]

    @property
    def data(self) -> list[dict[str, Any]]:
        return [r["data"] for r in self.records]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of("TRACE") if m["trace"]["type"] == "ERROR"]

    @property
    def statuses(self) -> list[tuple[str, str]]:
        return [
            (m["trace"]["stream_status"]["stream_descriptor"]["name"], m["trace"]["stream_status"]["status"])
            for m in self.of("TRACE")
            if m["trace"]["type"] == "STREAM_STATUS"
        ]


def parse(stdout: str, stderr: str, exit_code: int) -> Run:
    messages, non_json = [], []
    for line in stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            non_json.append(line)
    return Run(exit_code, messages, stdout, stderr, non_json)


class Connector:
    """Runs `source-postgres` commands as a separate process, with files written to a temp folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def _file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def command(self, command: str, config: dict | None = None, catalog: dict | None = None, state: Any = None):
        args = [command]
        if config is not None:
            args += ["--config", self._file("config", config)]
        if catalog is not None:
            args += ["--catalog", self._file("catalog", catalog)]
        if state is not None:
            args += ["--state", self._file("state", state)]
        return CLI + args

    def run(self, command: str, config: dict | None = None, catalog: dict | None = None, state: Any = None) -> Run:
        done = subprocess.run(
            self.command(command, config, catalog, state), capture_output=True, text=True, timeout=300
        )
        return parse(done.stdout, done.stderr, done.returncode)

    def catalog(self, config: dict, streams: list[str] | None = None, **per_stream: Any) -> dict:
        """A configured catalog from `discover`: all streams (or those named), with the given settings."""
        found = self.run("discover", config)
        assert found.exit_code == 0, found.stdout + found.stderr
        (catalog,) = [m["catalog"] for m in found.of("CATALOG")]
        configured = []
        for stream in catalog["streams"]:
            if streams is None or stream["name"] in streams:
                entry = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                entry.update(per_stream)
                if entry["sync_mode"] == "incremental":
                    entry["destination_sync_mode"] = "append"
                configured.append(entry)
        return {"streams": configured}


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path)


def state_list(state: dict[str, Any]) -> list[dict[str, Any]]:
    """A STATE message's payload as the `--state` file content for the next run."""
    return [{"type": "STREAM", "stream": state["stream"]}]
