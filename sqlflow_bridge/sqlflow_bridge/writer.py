"""Arrow tables (DataChunks) -> RECORD and STATE lines for a destination's `write`.

Tables are encoded with source_core's vectorized `RecordEncoder` (the encoder the sources use), after each
column is put into the Arrow type its JSON schema kind expects. Nested values (structs, lists) become JSON text
through DuckDB's `to_json`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from destination_core.duckdb_session import connect
from source_core.emit import Column, Kind, RecordEncoder, as_bytes, kind_of
from sqlflow_bridge.arrow import ARROW_TYPES
from sqlflow_bridge.errors import config_error
from sqlflow_bridge.reader import State


@dataclass
class WriteResult:
    """What a destination acknowledged: the STATE objects it echoed after committing, in order."""

    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    rows_sent: int = 0
    last_sent: dict[str, Any] | None = None  # the last STATE sent to the destination

    @property
    def rows_committed(self) -> int:
        return sum(int((s.get("destinationStats") or {}).get("recordCount") or 0) for s in self.acknowledged)

    @property
    def complete(self) -> bool:
        """Whether the destination committed everything: by its counts when each acknowledged STATE has them (the
        destinations of this repository add `destinationStats`; airbyte-cdk's echo STATEs as they came), else by its
        acknowledging the last STATE sent."""
        if not self.acknowledged:
            return False
        if all("destinationStats" in s for s in self.acknowledged):
            return self.rows_committed == self.rows_sent
        return {k: v for k, v in self.acknowledged[-1].items() if k != "destinationStats"} == self.last_sent


def json_schema_of(arrow_type: pa.DataType) -> dict[str, Any]:
    """The Airbyte JSON schema of an Arrow column (nullable)."""
    t = arrow_type
    if pa.types.is_integer(t):
        schema: dict[str, Any] = {"type": "integer"}
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        schema = {"type": "number"}
    elif pa.types.is_boolean(t):
        schema = {"type": "boolean"}
    elif pa.types.is_date(t):
        schema = {"type": "string", "format": "date"}
    elif pa.types.is_timestamp(t) and t.tz:
        schema = {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
    elif pa.types.is_timestamp(t):
        schema = {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"}
    elif pa.types.is_time(t):
        schema = {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"}
    elif pa.types.is_struct(t) or pa.types.is_map(t):
        schema = {"type": "object"}
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        schema = {"type": "array"}
    else:
        schema = {"type": "string"}
    return {**schema, "type": ["null", schema["type"]]}


def is_bridge_state(state: dict[str, Any]) -> bool:
    """Whether an acknowledged STATE is one the bridge added after a chunk (`{"bridge_chunk": n}`)."""
    return list((state.get("stream") or {}).get("stream_state") or {}) == ["bridge_chunk"]


def _named_tables(items: Iterable[Any]) -> Iterator[tuple[str, str | None, pa.Table] | dict[str, Any]]:
    """(stream, namespace, table) per chunk, and STATE objects (also a read's `State`s) as they are."""
    for item in items:
        if isinstance(item, dict):
            yield item
            continue
        if isinstance(item, State):
            yield item.message
            continue
        if isinstance(item, tuple):
            name, data = item
            namespace = None
        else:  # a StreamChunk
            name, namespace, data = item.stream, item.namespace, item.chunk
        table = data.arrow_table if hasattr(data, "arrow_table") else data
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        yield name, namespace, table


def catalog_for(items: list[Any], destination_sync_mode: str = "append") -> dict[str, Any]:
    """A configured catalog with one stream per name in `items`, its schema taken from the first table."""
    streams: dict[str, dict[str, Any]] = {}
    for item in _named_tables(items):
        if isinstance(item, dict) or item[0] in streams:
            continue
        name, namespace, table = item
        properties = {f.name: json_schema_of(f.type) for f in table.schema}
        stream = {"name": name, "json_schema": {"type": "object", "properties": properties}}
        stream |= {"supported_sync_modes": ["full_refresh"]} | ({"namespace": namespace} if namespace else {})
        streams[name] = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": destination_sync_mode}
    if not streams:
        raise config_error("Nothing to write: no chunks were given.")
    return {"streams": list(streams.values())}


def _nested_json(values: pa.ChunkedArray) -> pa.ChunkedArray:
    with connect() as db:  # in UTC: a nested timestamp's text carries no host offset
        db.register("t", pa.table({"v": values}))
        return db.sql("SELECT to_json(v)::VARCHAR AS v FROM t").to_arrow_table().column("v")


def _prepare(values: pa.ChunkedArray, kind: Kind) -> tuple[pa.ChunkedArray, Kind]:
    """A column in the Arrow type the encoder expects for `kind` (decimals keep their exact digits)."""
    t = values.type
    if kind is Kind.NUMBER and pa.types.is_decimal(t):
        return pc.cast(values, pa.string()), Kind.DECIMAL
    if kind is Kind.JSON and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return _nested_json(values), kind
    if kind is Kind.STRING and not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        return _nested_json(values) if pa.types.is_nested(t) else pc.cast(values, pa.string()), kind
    if kind is Kind.INTEGER and pa.types.is_integer(t):
        return values, kind  # written as they are (uint64 too): a cast to int64 would wrap what it cannot hold
    return values.cast(ARROW_TYPES[kind], safe=False), kind


def encode_table(name: str, namespace: str | None, table: pa.Table, json_schema: Mapping[str, Any]) -> bytes:
    """RECORD lines for `table`: the catalog's columns (missing ones null), typed from the JSON schema."""
    properties = json_schema.get("properties") or {}
    columns, arrays = [], {}
    for column, schema in properties.items():
        kind = kind_of(schema or {})
        if column in table.column_names:
            values, kind = _prepare(table.column(column), kind)
        else:
            values = pa.chunked_array([pa.nulls(table.num_rows, ARROW_TYPES[kind])])
        columns.append(Column(column, kind))
        arrays[column] = values
    batch = pa.table(arrays).combine_chunks().to_batches()
    encoder = RecordEncoder(name, namespace, columns)
    emitted_at = int(time.time() * 1000)
    return b"".join(bytes(as_bytes(encoder.encode(b, emitted_at))) for b in batch)


def record_blocks(items: Iterable[Any], streams: Mapping[str, dict[str, Any]], result: WriteResult) -> Iterator[bytes]:
    """The destination's stdin: each chunk's RECORD lines followed by a STATE of the bridge's own
    (`{"bridge_chunk": n}`), and the caller's STATE objects where they come."""
    n = 0
    for item in _named_tables(items):
        if isinstance(item, dict):
            result.last_sent = item
            yield orjson.dumps({"type": "STATE", "state": item}) + b"\n"
            continue
        n += 1
        name, _, table = item
        if name not in streams:
            raise config_error(f"Chunk of stream {name!r}, which the catalog does not hold ({', '.join(streams)}).")
        stream = streams[name]["stream"]
        result.rows_sent += table.num_rows
        yield encode_table(name, stream.get("namespace"), table, stream.get("json_schema") or {})
        descriptor = {"name": name} | ({"namespace": stream["namespace"]} if stream.get("namespace") else {})
        state = {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": {"bridge_chunk": n}}}
        result.last_sent = state
        yield orjson.dumps({"type": "STATE", "state": state}) + b"\n"
