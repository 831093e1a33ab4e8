"""SQLFlow 0.1.7 connectors: `SOURCE s TYPE AIRBYTE PARAMS {...}` and `EXPORT ... TYPE AIRBYTE OPTIONS {...}`.

Importing this module registers both (as AIRBYTE and airbyte: SQLFlow's lookup is case-sensitive) and adds the
AIRBYTE parameter schema to SQLFlow's parse-time validation. SQLFlow has no plugin mechanism: the `sqlflow-airbyte`
command imports this module and then runs SQLFlow's own CLI.

SQLFlow 0.1.7 loads only the first chunk a connector yields, so `read` yields exactly one, holding every record.
Its states are committed after SQLFlow took that chunk; under `sqlflow-airbyte` only once the whole pipeline
succeeded, so a pipeline that fails after the LOAD reads the same rows again next time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlflow.connectors.base import ConnectionTestResult, Connector, ConnectorState, ExportConnector, Schema
from sqlflow.connectors.data_chunk import DataChunk
from sqlflow.connectors.registry import (
    CONNECTOR_REGISTRY,
    EXPORT_CONNECTOR_REGISTRY,
    register_connector,
    register_export_connector,
)
from sqlflow.validation.schemas import CONNECTOR_SCHEMAS, ConnectorSchema, FieldSchema

from destination_core.streams import read_catalog
from sqlflow_bridge.arrow import arrow_schema
from sqlflow_bridge.connector import AirbyteConnector
from sqlflow_bridge.errors import ConnectorError, config_error
from sqlflow_bridge.state import DeferredStateStore, DuckDBStateStore, FileStateStore, StateStore

RUNNERS = ("command", "in_process", "image")
SYNC_MODES = ("incremental", "full_refresh")

SOURCE_SCHEMA = ConnectorSchema(
    name="AIRBYTE",
    description="Any Airbyte-protocol source (command, in-process package or image) through sqlflow_bridge",
    fields=[
        FieldSchema("connector", description="Command or package name (source-postgres), or image (runner image)"),
        FieldSchema("runner", required=False, allowed_values=list(RUNNERS)),
        FieldSchema("config", required=False, field_type="object", description="Connector config; ${ENV} allowed"),
        FieldSchema("stream", required=False, description="Stream to load (default: the SOURCE name)"),
        FieldSchema("sync_mode", required=False, allowed_values=list(SYNC_MODES)),
        FieldSchema("cursor_field", required=False),
        FieldSchema("state_path", required=False, description="State file (.json) or DuckDB file (.duckdb)"),
        FieldSchema("state_key", required=False, description="Scope of the states (default: the SOURCE name)"),
    ],
)
EXPORT_FIELDS = ("connector", "runner", "config", "stream", "destination_sync_mode")

# Stores whose commits wait for the pipeline's success (set by `sqlflow-airbyte`; None: commit after the read).
deferred: list[DeferredStateStore] | None = None


def _connector(params: dict[str, Any]) -> AirbyteConnector:
    name = params.get("connector")
    if not isinstance(name, str) or not name:
        raise config_error('AIRBYTE needs "connector": a command or package name such as "source-postgres".')
    runner = params.get("runner", "command")
    if runner == "command":
        return AirbyteConnector.command(name)
    if runner == "in_process":
        return AirbyteConnector.in_process(name)
    if runner == "image":
        return AirbyteConnector.image(name)
    raise config_error(f'AIRBYTE "runner" must be one of {", ".join(RUNNERS)}, not {runner!r}.')


def _state_store(path: str) -> StateStore:
    return DuckDBStateStore(path) if path.endswith((".duckdb", ".db")) else FileStateStore(path)


class AirbyteSource(Connector):
    """A SQLFlow source over any Airbyte source, with incremental reads that continue from a state store."""

    def __init__(self) -> None:
        super().__init__()
        self.params: dict[str, Any] = {}
        self.connector: AirbyteConnector | None = None

    def validate_params(self, params: dict[str, Any]) -> list[str]:
        """What is wrong with `params` (empty when nothing is)."""
        return SOURCE_SCHEMA.validate(params)

    def configure(self, params: dict[str, Any]) -> None:
        problems = self.validate_params(params)
        if problems:
            raise config_error("; ".join(problems))
        self.params = dict(params)
        self.connector = _connector(self.params)
        self.state = ConnectorState.CONFIGURED

    @property
    def _config(self) -> dict[str, Any]:
        return self.params.get("config") or {}

    def test_connection(self) -> ConnectionTestResult:
        try:
            status = self.connector.check(self._config)
        except ConnectorError as exc:
            return ConnectionTestResult(False, exc.message)
        return ConnectionTestResult(status.status.value == "SUCCEEDED", status.message)

    def check_health(self) -> dict[str, Any]:
        return self.connector.check_health(self._config)

    def supports_incremental(self) -> bool:
        return bool(self.connector.spec().supportsIncremental)

    def get_performance_metrics(self) -> dict[str, Any]:
        return self.connector.get_performance_metrics()

    def discover(self) -> list[str]:
        return [s.name for s in self.connector.discover(self._config).streams]

    def _catalog(self, stream: str, cursor_field: str | None = None) -> dict[str, Any]:
        return self.connector.configured_catalog(
            self._config, [stream], self.params.get("sync_mode"), cursor_field or self.params.get("cursor_field")
        )

    def get_schema(self, object_name: str) -> Schema:
        (stream,) = read_catalog(self._catalog(self.params.get("stream") or object_name))
        return Schema(arrow_schema(stream))

    def read(
        self, object_name: str, columns: list[str] | None = None, filters: Any = None, batch_size: int = 10000
    ) -> Iterator[DataChunk]:
        yield from self._read(self.params.get("stream") or object_name, columns)

    def read_incremental(
        self, object_name: str, cursor_field: str, cursor_value: Any = None, **kwargs: Any
    ) -> Iterator[DataChunk]:
        """Rows after the stored state; with `cursor_value` and no stored state, only rows whose cursor is greater."""
        yield from self._read(
            self.params.get("stream") or object_name, kwargs.get("columns"), cursor_field, "incremental", cursor_value
        )

    def _read(
        self,
        stream: str,
        columns: list[str] | None,
        cursor_field: str | None = None,
        sync_mode: str | None = None,
        cursor_value: Any = None,
    ) -> Iterator[DataChunk]:
        store = DeferredStateStore(_state_store(self.params["state_path"])) if self.params.get("state_path") else None
        scope = self.params.get("state_key") or self.name or stream
        catalog = self.connector.configured_catalog(
            self._config,
            [stream],
            sync_mode or self.params.get("sync_mode"),
            cursor_field or self.params.get("cursor_field"),
        )
        (configured,) = catalog["streams"]
        (target,) = read_catalog(catalog)
        fresh = store is None or not store.load(scope)
        chunks = self.connector.read(self._config, state=store, scope=scope, catalog=catalog)
        parts = [part.chunk.arrow_table for part in chunks]
        table = pa.concat_tables(parts) if parts else arrow_schema(target).empty_table()
        if cursor_value is not None and fresh:
            cursor = (configured.get("cursor_field") or [cursor_field])[0]
            column_type = table.schema.field(cursor).type
            try:
                bound = pa.scalar(cursor_value).cast(column_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise config_error(
                    f"cursor_value {cursor_value!r} cannot be compared with {cursor!r} ({column_type}): give a value "
                    f"of that type (a timestamp with a time zone as '2024-01-01T00:00:00Z'). {exc}"
                ) from None
            table = table.filter(pc.greater(table.column(cursor), bound))
        if columns:
            table = table.select(columns)
        # SQLFlow 0.1.7 uses only the first chunk (every record is in this one), as `pandas_df`: with Arrow-backed
        # columns, so that a nullable BIGINT stays BIGINT (plain `to_pandas()` makes it float64).
        yield DataChunk(table.to_pandas(types_mapper=pd.ArrowDtype))
        if store is not None:  # SQLFlow took the chunk
            if deferred is None:
                store.flush()
            else:
                deferred.append(store)


class AirbyteExport(ExportConnector):
    """A SQLFlow export into any Airbyte destination (the EXPORT's target names the stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.options: dict[str, Any] = {}
        self.connector: AirbyteConnector | None = None

    def configure(self, params: dict[str, Any]) -> None:
        unknown = set(params) - set(EXPORT_FIELDS)
        if unknown:
            raise config_error(f"Unknown AIRBYTE export options: {', '.join(sorted(unknown))}.")
        self.options = dict(params)
        self.connector = _connector(self.options)
        self.state = ConnectorState.CONFIGURED

    def test_connection(self) -> ConnectionTestResult:
        try:
            status = self.connector.check(self.options.get("config") or {})
        except ConnectorError as exc:
            return ConnectionTestResult(False, exc.message)
        return ConnectionTestResult(status.status.value == "SUCCEEDED", status.message)

    def write(self, object_name: str, data_chunk: DataChunk, mode: str = "append") -> None:
        stream = self.options.get("stream") or object_name
        sync_mode = self.options.get("destination_sync_mode") or ("overwrite" if mode == "replace" else "append")
        result = self.connector.write(
            self.options.get("config") or {}, [(stream, data_chunk)], destination_sync_mode=sync_mode
        )
        if not result.complete:
            raise ConnectorError(
                f"{self.connector.label} did not acknowledge all {result.rows_sent} rows of {stream} it was sent."
            )


def register() -> None:
    """Make AIRBYTE known to SQLFlow's registry and validation (idempotent)."""
    for name in ("AIRBYTE", "airbyte"):
        if name not in CONNECTOR_REGISTRY:
            register_connector(name)(AirbyteSource)
        if name not in EXPORT_CONNECTOR_REGISTRY:
            register_export_connector(name)(AirbyteExport)
    CONNECTOR_SCHEMAS["AIRBYTE"] = SOURCE_SCHEMA


register()
