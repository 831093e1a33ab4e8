"""The local PostgreSQL for tests: the server named by an environment variable (failing, never skipping, when
it does not answer), a fresh schema per test, and a connector config for it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

DEFAULT_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def postgres_dsn(variable: str) -> str:
    """The DSN in `variable` (default: the local server over TCP as user postgres), once it answers."""
    dsn = os.environ.get(variable, DEFAULT_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"these tests need PostgreSQL at {dsn!r} (set {variable}): {exc}", pytrace=False)
    return dsn


@contextmanager
def fresh_schema(conn: psycopg.Connection, prefix: str, create: bool = True) -> Iterator[str]:
    """A schema of its own for one test (created unless `create` is False), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    if create:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def connection_config(dsn: str, **settings: Any) -> dict[str, Any]:
    """The host/port/database/username(/password) part of a PostgreSQL connector's config, plus `settings`."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return {
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "database": params["dbname"],
        "username": params["user"],
        **({"password": params["password"]} if "password" in params else {}),
        "ssl_mode": "disable",
        **settings,
    }
