"""Fixtures for destination-duckdb tests: a DuckDB file in the test's temp folder and the real CLI.

The connector runs as a separate process, exactly as a platform would run it: config and catalog as files,
messages on stdin (source_core.testing.Cli). What it wrote is read back with DuckDB, read-only.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from source_core.testing import Cli

CLI = [sys.executable, "-c", "from destination_duckdb.run import run; run()"]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(CLI, tmp_path / "cli")


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
