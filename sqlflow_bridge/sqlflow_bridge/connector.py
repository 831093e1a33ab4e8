"""`AirbyteConnector`: one connector, however it runs, as a Python object.

    source = AirbyteConnector.command("source-postgres")            # or .image(...), .in_process(...)
    for part in source.read(config, ["customers"], state=FileStateStore("state.json"), scope="crm"):
        part.stream, part.chunk.arrow_table                           # a SQLFlow DataChunk per batch

Configs may say `"password": "${DB_PASSWORD}"`: the bridge resolves such references, and masks their values (and
every value of a field the spec marks `airbyte_secret`) in everything it logs or raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    FailureType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from sqlflow.connectors.data_chunk import DataChunk

from destination_core.streams import read_catalog, target_streams
from sqlflow_bridge.errors import ConnectorError, config_error
from sqlflow_bridge.reader import Batch, State, connector_failure, handle_control, read_events
from sqlflow_bridge.runners import CommandRunner, ImageRunner, InProcessRunner, Runner
from sqlflow_bridge.secrets import Masker, resolve
from sqlflow_bridge.state import StateStore
from sqlflow_bridge.writer import WriteResult, catalog_for, is_bridge_state, record_blocks

logger = logging.getLogger("sqlflow_bridge")


@dataclass(frozen=True)
class StreamChunk:
    """Records of one stream as a SQLFlow DataChunk; `nulled_rows` of them had a value that did not fit."""

    stream: str
    namespace: str | None
    chunk: DataChunk
    nulled_rows: int = 0


@dataclass
class Metrics:
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    errors: int = 0  # rows with a value nulled because it did not fit its column, plus failed runs
    http: dict[str, Any] = field(default_factory=dict)  # an API connector's last HTTP figures (source_core.http)

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "rows_per_second": self.rows / self.seconds if self.seconds else 0.0,
            "errors": self.errors,
        }
        return figures | ({"http": dict(self.http)} if self.http else {})


@dataclass
class _Messages:
    """The parsed output of spec, check or discover."""

    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def first(self, kind: str) -> dict[str, Any] | None:
        found = self.by_type.get(kind)
        return found[0] if found else None


class Reading(Iterator[StreamChunk]):
    """The chunks of one `read`. Iterating it commits each STATE to the store once the caller asks for the chunk
    after it; `write` takes the STATEs along instead (`with_states`) and commits those the destination acknowledged.
    """

    def __init__(self, events: Iterator[StreamChunk | State], store: StateStore | None, scope: str):
        self._events = events
        self.store = store
        self.scope = scope

    def __next__(self) -> StreamChunk:
        for event in self._events:
            if not isinstance(event, State):
                return event
            if self.store is not None:
                self.store.commit(self.scope, [event.message])
        raise StopIteration

    def with_states(self) -> Iterator[StreamChunk | State]:
        """The chunks and, in their place among them, the STATEs (not committed)."""
        return self._events

    def close(self) -> None:
        """Stop the connector (as leaving a loop over the read does)."""
        self._events.close()


class AirbyteConnector:
    def __init__(self, runner: Runner, environ: Mapping[str, str] | None = None):
        self.runner = runner
        self.environ = environ
        self.masker = Masker()
        self.metrics = Metrics()
        self._spec: ConnectorSpecification | None = None

    @classmethod
    def command(cls, command: str | Sequence[str], **kwargs: Any) -> AirbyteConnector:
        return cls(CommandRunner(command), **kwargs)

    @classmethod
    def image(
        cls,
        image: str,
        client: Any = None,
        network_mode: str | None = "host",
        volumes: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AirbyteConnector:
        return cls(ImageRunner(image, client, network_mode, volumes), **kwargs)

    @classmethod
    def in_process(cls, connector: Any, arrow: bool = True, **kwargs: Any) -> AirbyteConnector:
        return cls(InProcessRunner(connector, arrow), **kwargs)

    @property
    def label(self) -> str:
        return self.runner.label

    # ------------------------------------------------------------------ config and secrets

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with `${ENV}` references resolved; their values, and the spec's secret fields, get masked."""
        resolved, used = resolve(dict(config), self.environ)
        self.masker.add(used)
        self.masker.add_spec_secrets(self.spec().connectionSpecification, resolved)
        return resolved

    # ------------------------------------------------------------------ spec, check, discover

    def _collect(self, command: str, files: Mapping[str, Any]) -> _Messages:
        errors: list[dict[str, Any]] = []
        found = _Messages()
        with self.runner.start(command, files) as run:
            for line in run.output().splitlines():
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    if line.strip():
                        logger.warning(
                            "%s: not a protocol line, skipped: %s",
                            self.label,
                            self.masker(line.decode(errors="replace"))[:200],
                        )
                    continue
                if not isinstance(message, dict):
                    continue
                handle_control(message, self.label, self.masker, logger, errors, self.metrics.http)
                found.by_type.setdefault(message.get("type"), []).append(message)
            failure = connector_failure(run, self.label, errors, self.masker)
        if failure is not None:
            self.metrics.errors += 1
            raise failure
        return found

    def _expect(self, found: _Messages, kind: str, command: str) -> AirbyteMessage:
        message = found.first(kind)
        if message is None:
            raise ConnectorError(f"{self.label} {command} ended without a {kind} message.", FailureType.system_error)
        return AirbyteMessageSerializer.load(message)

    def spec(self) -> ConnectorSpecification:
        if self._spec is None:
            self._spec = self._expect(self._collect("spec", {}), "SPEC", "spec").spec
        return self._spec

    def check(self, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The connector's verdict; a FAILED status is a result (its message says what to fix), not an error."""
        status = self._expect(self._collect("check", {"config": self.resolve(config)}), "CONNECTION_STATUS", "check")
        status.connectionStatus.message = self.masker(status.connectionStatus.message)
        return status.connectionStatus

    def discover(self, config: Mapping[str, Any]) -> AirbyteCatalog:
        return self._expect(self._collect("discover", {"config": self.resolve(config)}), "CATALOG", "discover").catalog

    def configured_catalog(
        self,
        config: Mapping[str, Any],
        streams: Sequence[str] | None = None,
        sync_mode: str | None = None,
        cursor_field: str | None = None,
        primary_key: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A configured catalog from `discover`: the named streams (all if None), incremental where possible.

        `sync_mode` None means incremental when the stream supports it and has a cursor (its own, its default, or
        `cursor_field`), else full_refresh.
        """
        catalog = AirbyteMessageSerializer.dump(AirbyteMessage(type=Type.CATALOG, catalog=self.discover(config)))[
            "catalog"
        ]
        by_name = {s["name"]: s for s in catalog["streams"]}
        wanted = list(streams) if streams is not None else list(by_name)
        configured = []
        for name in wanted:
            stream = by_name.get(name)
            if stream is None:
                raise config_error(
                    f"{self.label} has no stream {name!r}; it has: {', '.join(sorted(by_name)) or 'none'}."
                )
            cursor = [cursor_field] if cursor_field else stream.get("default_cursor_field") or []
            incremental = "incremental" in (stream.get("supported_sync_modes") or [])
            mode = sync_mode or (
                "incremental" if incremental and (cursor or stream.get("source_defined_cursor")) else "full_refresh"
            )
            if mode not in ("incremental", "full_refresh"):
                raise config_error(f"sync_mode must be incremental or full_refresh, not {mode!r}.")
            if mode == "incremental" and not incremental:
                raise config_error(f"Stream {name!r} of {self.label} cannot be read incrementally.")
            entry = {"stream": stream, "sync_mode": mode, "destination_sync_mode": "append"}
            if mode == "incremental" and cursor:
                entry["cursor_field"] = cursor
            key = [[k] for k in primary_key] if primary_key else stream.get("source_defined_primary_key")
            if key:
                entry["primary_key"] = key
            configured.append(entry)
        return {"streams": configured}

    # ------------------------------------------------------------------ read

    def read(
        self,
        config: Mapping[str, Any],
        streams: Sequence[str] | None = None,
        state: StateStore | list[dict[str, Any]] | None = None,
        scope: str = "default",
        catalog: Mapping[str, Any] | None = None,
        sync_mode: str | None = None,
        cursor_field: str | None = None,
    ) -> Reading:
        """Records as DataChunks, one per batch the connector produced, in its order.

        `state`: the states to start from (a list, as `--state` takes), or a `StateStore` whose states for `scope`
        are read first and to which every STATE is committed once the caller has taken every chunk before it (asked
        for the next one); handed to `write`, only once the destination acknowledged the records before it. The next
        read from the same store continues after the last committed state.
        """
        store = state if isinstance(state, StateStore) else None
        return Reading(self._events(config, streams, state, scope, catalog, sync_mode, cursor_field), store, scope)

    def _events(
        self,
        config: Mapping[str, Any],
        streams: Sequence[str] | None,
        state: StateStore | list[dict[str, Any]] | None,
        scope: str,
        catalog: Mapping[str, Any] | None,
        sync_mode: str | None,
        cursor_field: str | None,
    ) -> Iterator[StreamChunk | State]:
        """The chunks and STATEs of one read, in the connector's order."""
        resolved = self.resolve(config)
        catalog = (
            dict(catalog)
            if catalog is not None
            else self.configured_catalog(config, streams, sync_mode, cursor_field)  # resolves `config` itself
        )
        try:
            targets = target_streams(read_catalog(catalog), lambda name: name, lambda namespace: namespace or "")
        except AirbyteTracedException as exc:
            raise ConnectorError.from_traced(exc) from None
        start = state.load(scope) if isinstance(state, StateStore) else state
        files = {"config": resolved, "catalog": catalog, "state": start or None}
        started = time.perf_counter()  # the read's own time: what the caller spends between chunks is not counted
        try:
            with self.runner.start("read", files) as run:
                for event in read_events(run, targets, self.label, self.masker, logger, self.metrics.http):
                    out = event if isinstance(event, State) else self._chunk(event)
                    self.metrics.seconds += time.perf_counter() - started
                    yield out
                    started = time.perf_counter()
        except ConnectorError:
            self.metrics.errors += 1
            raise
        finally:
            self.metrics.seconds += time.perf_counter() - started

    def _chunk(self, batch: Batch) -> StreamChunk:
        typed = batch.typed
        if typed.nulled_rows:
            logger.warning(
                "%s: %d rows of %s had values that did not fit their column (%s): nulled",
                self.label,
                typed.nulled_rows,
                batch.stream.label,
                ", ".join(sorted(typed.nulled_fields)),
            )
        self.metrics.rows += typed.table.num_rows
        self.metrics.bytes += typed.table.nbytes
        self.metrics.errors += typed.nulled_rows
        return StreamChunk(batch.stream.name, batch.stream.namespace, DataChunk(typed.table), typed.nulled_rows)

    # ------------------------------------------------------------------ write

    def write(
        self,
        config: Mapping[str, Any],
        chunks: Iterable[Any],
        catalog: Mapping[str, Any] | None = None,
        destination_sync_mode: str = "append",
    ) -> WriteResult:
        """Send records to a destination's `write`; which STATEs it acknowledged (committed) comes back.

        `chunks`: `StreamChunk`s, (stream name, DataChunk or Arrow table) pairs, and STATE objects (dicts with a
        `type`) to pass on in order. After each chunk the bridge adds a STATE of its own (`{"bridge_chunk": n}`), so
        the acknowledged states say how far the destination committed. `chunks` may be a `read` itself: its STATEs
        then go to the destination too, and reach the read's store only once the destination acknowledged them.
        Without `catalog`, one is built from the chunks' Arrow schemas (which means reading them all first).
        """
        store, scope = (chunks.store, chunks.scope) if isinstance(chunks, Reading) else (None, "")
        items = chunks.with_states() if isinstance(chunks, Reading) else chunks
        resolved = self.resolve(config)
        if catalog is None:
            items = list(items)
            catalog = catalog_for(items, destination_sync_mode)
        streams = {s["stream"]["name"]: s for s in catalog["streams"]}
        started = time.perf_counter()
        result = WriteResult()
        errors: list[dict[str, Any]] = []
        with self.runner.start(
            "write", {"config": resolved, "catalog": catalog}, record_blocks(items, streams, result)
        ) as run:
            for line in run.output().splitlines():
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(message, dict) and message.get("type") == "STATE":
                    result.acknowledged.append(message["state"])
                elif isinstance(message, dict):
                    handle_control(message, self.label, self.masker, logger, errors, self.metrics.http)
            if store is not None:  # also when the source or destination failed afterwards: these rows are written
                store.commit(scope, [s for s in result.acknowledged if not is_bridge_state(s)])
            failure = connector_failure(run, self.label, errors, self.masker)
        self.metrics.seconds += time.perf_counter() - started
        if failure is not None:
            self.metrics.errors += 1
            failure.acknowledged = result.acknowledged
            raise failure
        self.metrics.rows += result.rows_sent
        return result

    # ------------------------------------------------------------------ health and metrics

    def check_health(self, config: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            status = self.check(config)
        except ConnectorError as exc:
            return {"healthy": False, "message": exc.message, "failure_type": exc.failure_type.value}
        seconds = time.perf_counter() - started
        health = {"healthy": status.status.value == "SUCCEEDED", "message": status.message, "seconds": seconds}
        return health | ({"http": dict(self.metrics.http)} if self.metrics.http else {})

    def get_performance_metrics(self) -> dict[str, Any]:
        return self.metrics.as_dict()
