"""destination-postgres: spec, check and write on the shared SQL destination core."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from airbyte_cdk.models import AirbyteConnectionStatus, FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from psycopg import errors, sql

from destination_core.launch import BatchDestination
from destination_core.streams import TargetStream
from destination_postgres.loader import MAX_IDENTIFIER_BYTES, PostgresLoader, fold
from source_postgres.config import PostgresConfig
from source_postgres.errors import connect_error, is_connection_lost

APPLICATION = "destination-postgres"


def connect(config: PostgresConfig) -> psycopg.Connection:
    try:
        return psycopg.connect(config.conninfo())
    except psycopg.OperationalError as exc:
        raise connect_error(exc, config) from exc


def database_error(exc: psycopg.Error, config: PostgresConfig) -> AirbyteTracedException:
    """A server error during a write, said as what to do; a lost connection is transient (the sync can rerun)."""
    if is_connection_lost(exc):
        return AirbyteTracedException(
            message=f"Lost the connection to {config.address} during the write; nothing after the last "
            "acknowledged state was committed. Run the sync again.",
            internal_message=str(exc),
            failure_type=FailureType.transient_error,
        )
    if isinstance(exc, errors.InsufficientPrivilege):
        return AirbyteTracedException(
            message=f"User {config.username!r} lacks a privilege: {exc.diag.message_primary}. "
            "GRANT CREATE ON DATABASE (for new schemas) or CREATE ON SCHEMA, and ownership of existing tables.",
            internal_message=str(exc),
            failure_type=FailureType.config_error,
        )
    return AirbyteTracedException(
        message=f"PostgreSQL refused a statement: {exc.diag.message_primary or exc}",
        internal_message=str(exc),
        failure_type=FailureType.system_error,
    )


class DestinationPostgres(BatchDestination):
    default_schema = "public"
    fold = staticmethod(fold)
    max_name_bytes = MAX_IDENTIFIER_BYTES

    def exact_numbers(self, config: Mapping[str, Any]) -> bool:
        return True  # number columns are numeric

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Create, write, read back and drop a table in the default schema."""
        try:
            settings = PostgresConfig.parse(config, APPLICATION)
            schema = config.get("schema") or self.default_schema
            table = sql.Identifier(schema, f"_airbyte_check_{uuid.uuid4().hex[:12]}")
            with connect(settings) as conn:
                try:
                    if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
                        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                    conn.execute(sql.SQL("CREATE TABLE {} (id bigint, note text)").format(table))
                    conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), (1, "check"))
                    conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
                    conn.execute(sql.SQL("DROP TABLE {}").format(table))
                finally:
                    conn.rollback()  # leaves nothing behind, whatever happened
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        except psycopg.Error as exc:
            failure = database_error(exc, settings)
            return AirbyteConnectionStatus(status=Status.FAILED, message=f"In schema {schema!r}: {failure.message}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @contextmanager
    def loader(self, config: Mapping[str, Any], streams: list[TargetStream]) -> Iterator[PostgresLoader]:
        settings = PostgresConfig.parse(config, APPLICATION)
        with connect(settings) as conn:
            loader = PostgresLoader(conn, streams)
            try:
                loader.prepare()
                yield loader
            except psycopg.Error as exc:
                raise database_error(exc, settings) from exc
            finally:
                loader.close()
                if not conn.closed:
                    conn.rollback()
