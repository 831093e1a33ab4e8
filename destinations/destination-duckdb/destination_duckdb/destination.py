"""destination-duckdb: spec, check and write into a DuckDB file, on the shared SQL destination core."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import duckdb
from airbyte_cdk.models import AirbyteConnectionStatus, FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.duckdb_session import connect
from destination_core.launch import BatchDestination
from destination_core.streams import TargetStream
from destination_duckdb.loader import DuckdbLoader, fold, quote
from source_core.config import config_error

# DuckDB caches the pages it writes up to its memory limit (80% of RAM by default): bounded, whatever the sync size
MEMORY_LIMIT = "512MB"


def open_database(config: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    path = str(config["destination_path"]).strip()
    if not path:
        raise config_error("destination_path is empty: give the DuckDB file to write, e.g. /data/warehouse.duckdb.")
    if path.startswith(":memory:"):
        raise config_error(
            "destination_path is ':memory:', an in-memory database that vanishes when the write ends: "
            "give a file path, for example /data/warehouse.duckdb."
        )
    if path.startswith(("md:", "motherduck:")):
        raise config_error("destination_path points at MotherDuck, which this connector does not support: use a file.")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise config_error(f"destination_path's folder {folder!r} is a file, not a folder: choose another path.")
    try:
        os.makedirs(folder, exist_ok=True)
        return connect(path, config={"memory_limit": MEMORY_LIMIT})
    except OSError as exc:
        raise config_error(f"Cannot create the folder {folder!r} for the DuckDB file: {exc.strerror}.") from exc
    except duckdb.IOException as exc:
        lock = "lock" in str(exc).lower()
        raise AirbyteTracedException(
            message=(
                f"The DuckDB file {path!r} is open in another process (DuckDB allows one writer): close it and retry."
                if lock
                else f"Cannot open the DuckDB file {path!r}: {exc}"
            ),
            internal_message=str(exc),
            failure_type=FailureType.transient_error if lock else FailureType.config_error,
        ) from exc


class DestinationDuckdb(BatchDestination):
    default_schema = "main"
    fold = staticmethod(fold)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Create, write, read back and drop a table in the default schema of the file."""
        schema = config.get("schema") or self.default_schema
        try:
            with open_database(config) as db:
                catalog = quote(db.execute("SELECT current_database()").fetchone()[0])
                table = f"{catalog}.{quote(schema)}.{quote(f'_airbyte_check_{uuid.uuid4().hex[:12]}')}"
                db.begin()  # rolled back at the end: the check leaves nothing behind, a new schema included
                db.execute(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{quote(schema)}")
                db.execute(f"CREATE TABLE {table} (id BIGINT, note VARCHAR)")
                db.execute(f"INSERT INTO {table} VALUES ($1, $2)", [1, "check"])
                db.execute(f"SELECT count(*) FROM {table}").fetchall()
                db.execute(f"DROP TABLE {table}")
                db.rollback()
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        except duckdb.Error as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=f"DuckDB refused the test table: {exc}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @contextmanager
    def loader(self, config: Mapping[str, Any], streams: list[TargetStream]) -> Iterator[DuckdbLoader]:
        with open_database(config) as db:
            loader = DuckdbLoader(db, streams)
            try:
                loader.prepare()
                yield loader
            except duckdb.Error as exc:
                raise AirbyteTracedException(
                    message=f"DuckDB refused a statement: {exc}",
                    internal_message=str(exc),
                    failure_type=FailureType.system_error,
                ) from exc
            finally:
                loader.close()
                db.rollback()
