"""The connector's config: streams of files (globs, format, options) and S3 access."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from source_core.config import config_error

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".lz4": "lz4"}
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    quote_char: str = '"'
    escape_char: str | None = None
    encoding: str = "utf8"
    header: bool = True
    column_names: tuple[str, ...] = ()
    null_values: tuple[str, ...] = ("", "NULL", "null", "NA", "N/A")


@dataclass(frozen=True)
class StreamConfig:
    name: str
    globs: tuple[str, ...]
    format: str | None
    csv: CsvOptions
    schema: Mapping[str, Any] | None
    skip_errors: bool

    def format_of(self, path: str) -> str:
        """The stream's format, or the one its extension names (a compression suffix is looked through)."""
        if self.format:
            return self.format
        name = path.lower()
        for suffix in COMPRESSIONS:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        for suffix, fmt in FORMATS.items():
            if name.endswith(suffix):
                return fmt
        raise config_error(f"Stream '{self.name}': cannot tell the format of {path} from its name; set `format`.")


@dataclass(frozen=True)
class FileConfig:
    streams: tuple[StreamConfig, ...]
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    sample_rows: int = 10_000
    batch_bytes: int = 4 << 20
    checkpoint_seconds: float = 10.0  # a STATE follows a file when the last one is this old (and the last file)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> FileConfig:
        streams = []
        for item in raw["streams"]:
            options = dict(item.get("csv") or {})
            encoding = options.get("encoding", "utf8")
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise config_error(f"Stream '{item['name']}': unknown CSV encoding {encoding!r}.") from exc
            if not options.get("header", True) and not options.get("column_names"):
                raise config_error(f"Stream '{item['name']}': csv.header is false, so give csv.column_names.")
            csv = CsvOptions(
                delimiter=options.get("delimiter", ","),
                quote_char=options.get("quote_char", '"'),
                escape_char=options.get("escape_char"),
                encoding=encoding,
                header=bool(options.get("header", True)),
                column_names=tuple(options.get("column_names") or ()),
                null_values=tuple(options.get("null_values", CsvOptions.null_values)),
            )
            schema = item.get("schema")
            if schema is not None and not isinstance(schema.get("properties"), dict):
                raise config_error(f"Stream '{item['name']}': schema needs a `properties` object.")
            for prop, value in (schema or {}).get("properties", {}).items():
                if not isinstance(value, dict):
                    raise config_error(
                        f"Stream '{item['name']}': schema property '{prop}' is {json.dumps(value)}, not a JSON schema "
                        f'object: write it as {{"{prop}": {{"type": "string"}}}} (or another type).'
                    )
            streams.append(
                StreamConfig(
                    name=item["name"],
                    globs=tuple(item["globs"]),
                    format=item.get("format"),
                    csv=csv,
                    schema=schema,
                    skip_errors=item.get("on_error", "fail") == "skip",
                )
            )
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise config_error(f"Stream names must be unique: {names}.")
        return cls(
            streams=tuple(streams),
            aws_access_key_id=raw.get("aws_access_key_id"),
            aws_secret_access_key=raw.get("aws_secret_access_key"),
            region=raw.get("region"),
            endpoint_url=raw.get("endpoint_url"),
            sample_rows=int(raw.get("sample_rows", 10_000)),
            batch_bytes=int(raw.get("batch_bytes", 4 << 20)),
            checkpoint_seconds=float(raw.get("checkpoint_interval_seconds", cls.checkpoint_seconds)),
        )
