"""What the acceptance suite (acceptance-tests/) prepares before it runs this connector: the seeded schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

HERE = Path(__file__).parent


@contextmanager
def environment() -> Iterator[None]:
    """(Re)create the `acceptance` schema of seed.sql in the database that config.json names."""
    config = json.loads((HERE / "config.json").read_text())
    with psycopg.connect(
        host=config["host"], port=config["port"], dbname=config["database"], user=config["username"], autocommit=True
    ) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute((HERE / "seed.sql").read_text())
    yield
