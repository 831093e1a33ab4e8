"""Fixtures for the bridge's tests: a real PostgreSQL server with one fresh schema per test, and the connectors of
this repository, run as commands (real processes) and in-process.

The server comes from SQLFLOW_BRIDGE_TEST_DSN (default: the local server over TCP as user postgres). A missing
server fails the tests; it never skips them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from source_core.testing.postgres import connection_config, fresh_schema, postgres_dsn
from sqlflow_bridge.connector import AirbyteConnector


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return postgres_dsn("SQLFLOW_BRIDGE_TEST_DSN")


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    with fresh_schema(pg, "b") as name:
        yield name


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    return connection_config(admin_dsn, schemas=[schema])


FAKE = Path(__file__).with_name("fake_connector.py")


def fake_connector(**kwargs: Any) -> AirbyteConnector:
    """tests/fake_connector.py as a command: behaviour the connectors of this repository do not show."""
    return AirbyteConnector.command([sys.executable, str(FAKE)], **kwargs)


def make_connector(how: str, name: str) -> AirbyteConnector:
    if how == "command":
        return AirbyteConnector.command(name)
    return AirbyteConnector.in_process(name, arrow=how == "in_process")


@pytest.fixture(scope="session", params=["command", "in_process"])
def source(request: pytest.FixtureRequest) -> AirbyteConnector:
    """source-postgres as a process and in-process (a session's connector keeps its spec: it does not change)."""
    return make_connector(request.param, "source-postgres")


def table_of(parts: list) -> pa.Table:
    return pa.concat_tables([p.chunk.arrow_table for p in parts])
