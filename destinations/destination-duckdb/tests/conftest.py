"""Fixtures for destination-duckdb tests: a DuckDB file in the test's temp folder and the real CLI.

The connector runs as a separate process, exactly as a platform would run it: config and catalog as files,
messages on stdin, every stdout line parsed as JSON. What it wrote is read back with DuckDB, read-only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

CLI = [sys.executable, "-c", "from destination_duckdb.run import run; run()"]


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


def lines(messages: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(m) + "\n" for m in messages).encode()


class Cli:
    """Runs `destination-duckdb` commands as a separate process; its config and catalog files go to `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
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
        messages: list[dict[str, Any]] | None = None,
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

    def write(self, config: dict[str, Any], catalog: dict[str, Any], messages: list[dict[str, Any]]) -> Run:
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


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cli")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's DuckDB file goes; it does not exist yet."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def config(db_path: Path) -> dict[str, Any]:
    return {"destination_path": str(db_path)}


class Holder:
    """Another process that opens a DuckDB file for writing and keeps it open until `release`."""

    def __init__(self, path: Path) -> None:
        script = (
            "import duckdb, sys\n"
            "db = duckdb.connect(sys.argv[1])\n"
            "db.execute('CREATE TABLE IF NOT EXISTS held_by_another_process (x INTEGER)')\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n"
            "db.close()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = self.process.stdout.readline() if self.process.stdout else ""
        if ready.strip() != "ready":
            self.release()
            raise AssertionError(f"the holder process could not open {path}: {self.process.stderr.read()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()  # only this test's own child, by its handle
                self.process.wait(timeout=30)


@pytest.fixture
def holder(db_path: Path) -> Iterator[Holder]:
    held = Holder(db_path)
    yield held
    held.release()


# -- reading back ------------------------------------------------------------------------------------------


def query(path: Path, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(statement, params or []).fetchall()


def tables(path: Path) -> set[tuple[str, str]]:
    """(schema, table) of every table and view in the file."""
    return set(query(path, "SELECT table_schema, table_name FROM information_schema.tables"))  # type: ignore[arg-type]


def columns(path: Path, schema: str, table: str) -> list[str]:
    found = query(
        path,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position",
        [schema, table],
    )
    return [name for (name,) in found]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rows(path: Path, schema: str, table: str, names: list[str]) -> list[tuple[Any, ...]]:
    selected = ", ".join(quote(n) for n in names)
    with duckdb.connect(str(path), read_only=True) as db:
        catalog = quote(db.execute("SELECT current_database()").fetchone()[0])
        found = db.execute(f"SELECT {selected} FROM {catalog}.{quote(schema)}.{quote(table)}").fetchall()
    return sorted(found, key=repr)
