"""Configured streams as the destinations see them: typed columns, sync mode, generations, names checked."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, ConfiguredAirbyteStream

from source_core.config import config_error
from source_core.emit import Kind, kind_of

RAW_ID = "_airbyte_raw_id"
EXTRACTED_AT = "_airbyte_extracted_at"
GENERATION_ID = "_airbyte_generation_id"
META = "_airbyte_meta"
METADATA_COLUMNS = (RAW_ID, EXTRACTED_AT, GENERATION_ID, META)
SEQ = "_airbyte_seq"  # the line number: orders rows of one key that share cursor and extraction time
RANK = "_airbyte_rank"  # a row's place among those of its key, in the dedup merge
RESERVED_COLUMNS = (*METADATA_COLUMNS, SEQ, RANK)  # names a stream's columns cannot take
CDC_DELETED_AT = "_ab_cdc_deleted_at"
SHADOW_SUFFIX = "_airbyte_tmp"


# Types that widen into each other without loss, narrowest first: a column of an earlier kind can take the later.
WIDENING = (Kind.INTEGER, Kind.NUMBER, Kind.STRING)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


@dataclass(frozen=True)
class TargetStream:
    """One configured stream: where it goes and how it is written."""

    name: str
    namespace: str | None
    columns: tuple[Column, ...]
    dedup: bool
    truncate: bool  # the new data replaces the old once the stream is complete (overwrite, or a truncate refresh)
    primary_key: tuple[str, ...]
    cursor: str | None
    generation_id: int
    minimum_generation_id: int
    sync_id: int
    schema: str = ""  # where its table lives: set by `target_streams`

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.namespace, self.name)

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    @classmethod
    def of(cls, configured: ConfiguredAirbyteStream, mode: str) -> TargetStream:
        stream = configured.stream
        label = f"{stream.namespace}.{stream.name}" if stream.namespace else stream.name
        properties = (stream.json_schema or {}).get("properties") or {}
        columns = tuple(Column(name, kind_of(schema or {})) for name, schema in properties.items())
        names = {c.name for c in columns}
        dedup = mode in ("append_dedup", "overwrite_dedup")
        primary_key: tuple[str, ...] = ()
        cursor = None
        if dedup:  # only dedup uses key and cursor: append and overwrite take any, even nested or unknown ones
            primary_key = tuple(_top_level(path, "primary key", label) for path in (configured.primary_key or []))
            cursor_path = configured.cursor_field or []
            cursor = _top_level(cursor_path, "cursor", label) if cursor_path else None
            if not primary_key:
                raise config_error(f"Stream '{label}' is {mode} but has no primary_key: dedup needs one.")
            for column in (*primary_key, *([cursor] if cursor else [])):
                if column not in names:
                    raise config_error(f"Stream '{label}': key or cursor column '{column}' is not in its json_schema.")
        generation = int(getattr(configured, "generation_id", None) or 0)
        minimum = int(getattr(configured, "minimum_generation_id", None) or 0)
        return cls(
            name=stream.name,
            namespace=stream.namespace,
            columns=columns,
            dedup=dedup,
            truncate=mode in ("overwrite", "overwrite_dedup") or (minimum > 0 and minimum >= generation),
            primary_key=primary_key,
            cursor=cursor,
            generation_id=generation,
            minimum_generation_id=minimum,
            sync_id=int(getattr(configured, "sync_id", None) or 0),
        )


def _top_level(path: list[str], what: str, label: str) -> str:
    if len(path) != 1:
        joined = ".".join(path)
        raise config_error(f"Stream '{label}': a nested {what} ({joined}) is not supported; use a top-level field.")
    return path[0]


def read_catalog(raw: Mapping[str, Any]) -> list[TargetStream]:
    """Parse a configured catalog leniently: `overwrite_dedup`, which the models do not know, is accepted."""
    raw = copy.deepcopy(dict(raw))
    modes = []
    for configured in raw.get("streams") or []:
        mode = configured.get("destination_sync_mode") or "append"
        modes.append(mode)
        if mode == "overwrite_dedup":
            configured["destination_sync_mode"] = "overwrite"
    try:
        catalog = ConfiguredAirbyteCatalogSerializer.load(raw)
    except Exception as exc:  # serpyco's validation error lists what is wrong
        raise config_error(f"The configured catalog is invalid: {exc}") from exc
    if not catalog.streams:
        raise config_error("The configured catalog has no streams.")
    return [TargetStream.of(configured, mode) for configured, mode in zip(catalog.streams, modes, strict=True)]


def shadow_name(name: str, max_name_bytes: int | None = None) -> str:
    """An overwrite's temporary table: `<name>_airbyte_tmp`, the name cut first where the database would cut the
    whole."""
    if max_name_bytes is not None:
        name = name.encode()[: max_name_bytes - len(SHADOW_SUFFIX.encode())].decode(errors="ignore")
    return name + SHADOW_SUFFIX


def target_streams(
    streams: list[TargetStream],
    fold: Callable[[str], str],
    schema_of: Callable[[str | None], str],
    shadow: Callable[[str], str | None] = lambda name: None,
) -> dict[tuple[str | None, str], TargetStream]:
    """The streams by (namespace, name), each given its schema, refusing names that would land on the same
    table (an overwrite's temporary table included) or column. `fold` is how the database compares identifiers
    (DuckDB ignores case, PostgreSQL cuts them at 63 bytes); `schema_of` maps a stream's namespace to a schema;
    `shadow` a stream's name to its temporary table's, where overwrites have one.
    """
    streams = [dataclasses.replace(s, schema=schema_of(s.namespace)) for s in streams]
    tables: dict[tuple[str, str], str] = {}  # folded (schema, table) -> what it holds

    def claim(schema: str, table: str, holder: str) -> None:
        key = (fold(schema), fold(table))
        if key in tables:
            raise config_error(
                f"These would be the same table '{table}' in schema '{schema}': {tables[key]} and {holder}. "
                "Rename one of the streams (or its namespace)."
            )
        tables[key] = holder

    for stream in streams:
        claim(stream.schema, stream.name, f"stream '{stream.label}'")
        _refuse_collisions(stream.label, (*RESERVED_COLUMNS, *(c.name for c in stream.columns)), fold)
    for stream in streams:
        temporary = shadow(stream.name) if stream.truncate else None
        if temporary is not None:
            claim(stream.schema, temporary, f"the temporary table of overwrite '{stream.label}'")
    return {s.key: s for s in streams}


def _refuse_collisions(label: str, names: Iterable[str], fold: Callable[[str], str]) -> None:
    """Names that fold alike are one column; the reserved columns come first, so a clash with one says so."""
    seen: dict[str, str] = {}
    for name in names:
        folded = fold(name)
        if folded in seen and seen[folded] in RESERVED_COLUMNS:
            raise config_error(f"Stream '{label}': column '{name}' clashes with the destination's '{seen[folded]}'.")
        if folded in seen:
            raise config_error(
                f"Stream '{label}': columns '{seen[folded]}' and '{name}' would be the same column in this database."
            )
        seen[folded] = name
