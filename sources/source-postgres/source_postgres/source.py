"""source-postgres: spec, check, discover and read, on airbyte-cdk's Source and source_core's batch runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
    Status,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import stream_states
from source_core.config import config_error
from source_core.launch import BatchSource, Records
from source_core.lifecycle import read_streams
from source_postgres.catalog import Relation, relations
from source_postgres.config import PostgresConfig
from source_postgres.errors import connect_error, is_connection_lost
from source_postgres.plan import ReadPlan, plan_stream
from source_postgres.reader import TableReader

_SCHEMA_ACCESS = """
SELECT s.name, n.oid IS NOT NULL, n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE'),
       count(c.oid), count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'SELECT')
                                          OR has_any_column_privilege(c.oid, 'SELECT'))
FROM unnest(%s::text[]) AS s(name)
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
GROUP BY s.name, n.oid
"""


def connect(config: PostgresConfig) -> psycopg.Connection:
    try:
        return psycopg.connect(config.conninfo(), autocommit=True)
    except psycopg.OperationalError as exc:
        raise connect_error(exc, config) from exc


def introspect(config: PostgresConfig, schemas: list[str]) -> list[Relation]:
    """The readable relations of `schemas`; a connection lost meanwhile is a transient error."""
    with connect(config) as conn:
        try:
            return relations(conn, schemas)
        except psycopg.OperationalError as exc:
            if not is_connection_lost(exc):
                raise
            raise AirbyteTracedException(
                message=f"Lost the connection to {config.address} while listing tables: try again.",
                internal_message=str(exc),
                failure_type=FailureType.transient_error,
            ) from exc


def access_problems(conn: psycopg.Connection, config: PostgresConfig) -> list[str]:
    """What keeps the user from reading the configured schemas, each said as what to do about it."""
    problems = []
    for schema, exists, usable, tables, readable in conn.execute(_SCHEMA_ACCESS, (config.schemas,)):
        if not exists:
            problems.append(f"Schema {schema!r} does not exist in database {config.database!r}.")
        elif not usable:
            problems.append(
                f"User {config.username!r} has no USAGE privilege on schema {schema!r}: GRANT USAGE ON SCHEMA."
            )
        elif tables and not readable:
            problems.append(
                f"User {config.username!r} cannot SELECT from any of the {tables} tables or views "
                f"in schema {schema!r}: GRANT SELECT on them."
            )
    return problems


class SourcePostgres(BatchSource):
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            settings = PostgresConfig.parse(config)
            with connect(settings) as conn:
                problems = access_problems(conn, settings)
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        if problems:
            return AirbyteConnectionStatus(status=Status.FAILED, message=" ".join(problems))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        settings = PostgresConfig.parse(config)
        found = introspect(settings, settings.schemas)
        logger.info(f"Discovered {len(found)} tables and views in schemas {settings.schemas}.")
        return AirbyteCatalog(streams=[r.airbyte_stream() for r in found])

    def _plans(self, settings: PostgresConfig, catalog: ConfiguredAirbyteCatalog) -> list[ReadPlan]:
        """Check every configured stream against the database before anything is read."""
        wanted = [(s.stream.namespace, s.stream.name) for s in catalog.streams]
        schemas = sorted({ns for ns, _ in wanted if ns} | set(settings.schemas))
        found = {(r.schema, r.name): r for r in introspect(settings, schemas)}
        plans = []
        for configured in catalog.streams:
            relation = self._relation(found, settings, configured)
            cursor = None
            if configured.sync_mode == SyncMode.incremental:
                if not configured.cursor_field:
                    raise config_error(
                        f"Stream {relation.schema}.{relation.name} is incremental but has no cursor_field: choose one."
                    )
                cursor = configured.cursor_field[0]
            elif configured.sync_mode != SyncMode.full_refresh:
                raise config_error(f"Unsupported sync_mode {configured.sync_mode} for stream {relation.name}.")
            properties = (configured.stream.json_schema or {}).get("properties")
            key = [path[0] for path in configured.primary_key or [] if path]
            plans.append(plan_stream(relation, list(properties) if properties else None, cursor, key or None))
        return plans

    @staticmethod
    def _relation(
        found: dict[tuple[str, str], Relation], settings: PostgresConfig, configured: ConfiguredAirbyteStream
    ) -> Relation:
        stream = configured.stream
        candidates = [stream.namespace] if stream.namespace else settings.schemas
        for schema in candidates:
            if (schema, stream.name) in found:
                return found[(schema, stream.name)]
        raise config_error(
            f"Stream {stream.name!r} (namespace {stream.namespace!r}) is not a table or view the user can read in "
            f"schemas {candidates}: run discover again and update the configured catalog."
        )

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage | Records]:
        settings = PostgresConfig.parse(config)
        retries = int(config.get("max_connection_retries", 5))
        states = stream_states(state)
        plans = self._plans(settings, catalog)

        def read_one(plan: ReadPlan) -> Iterator[AirbyteMessage | Records]:
            rel = plan.relation
            stream_state = states.get((rel.schema, rel.name)) or states.get((None, rel.name))
            return TableReader(settings, plan, logger, retries).read(stream_state)

        yield from read_streams(
            logger,
            plans,
            lambda plan: [StreamDescriptor(name=plan.relation.name, namespace=plan.relation.schema)],
            read_one,
        )
