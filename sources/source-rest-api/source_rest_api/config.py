"""The simple config (base URL, auth, streams) as typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from source_core.config import config_error
from source_core.http import HttpSettings


@dataclass(frozen=True)
class Pagination:
    type: str = "none"
    page_size: int = 100
    offset_param: str = "offset"
    limit_param: str = "limit"
    page_param: str = "page"
    size_param: str = ""
    start_page: int = 1
    cursor_param: str = "cursor"
    cursor_path: str = ""
    next_url_path: str = ""

    @classmethod
    def parse(cls, given: Mapping[str, Any] | None) -> Pagination:
        given = dict(given or {"type": "none"})
        defaults = {"page": {"size_param": "per_page"}, "cursor": {"size_param": "limit"}}.get(given["type"], {})
        return cls(**{**defaults, **given})


@dataclass(frozen=True)
class Incremental:
    cursor_field: str
    request_param: str | None = None
    format: str = "as_is"
    start_value: Any = None
    cursor_format: str = "auto"


@dataclass(frozen=True)
class StreamConfig:
    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    record_selector: str = ""
    primary_key: list[str] = field(default_factory=list)
    pagination: Pagination = field(default_factory=Pagination)
    incremental: Incremental | None = None
    schema: dict[str, Any] | None = None

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> StreamConfig:
        incremental = given.get("incremental")
        pagination = Pagination.parse(given.get("pagination"))
        if incremental and pagination.type == "page":
            raise config_error(
                f"Stream {given['name']!r} has incremental settings and page-number pagination, which can lose a "
                "record for good (one updated during the read shifts the pages, and the record at a page boundary "
                "is skipped): use offset pagination (the connector checks every page boundary), cursor, next_url "
                "or link_header pagination, or remove the incremental settings."
            )
        return cls(
            name=given["name"],
            path=given["path"],
            params=dict(given.get("params") or {}),
            record_selector=given.get("record_selector") or "",
            primary_key=list(given.get("primary_key") or []),
            pagination=pagination,
            incremental=Incremental(**incremental) if incremental else None,
            schema=given.get("schema"),
        )


@dataclass(frozen=True)
class RestConfig:
    base_url: str
    auth: dict[str, Any]
    headers: dict[str, str]
    streams: list[StreamConfig]
    checkpoint_records: int
    http: HttpSettings

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RestConfig:
        streams = [StreamConfig.parse(s) for s in config["streams"]]
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise config_error(
                f"Stream names must be unique; repeated: {sorted({n for n in names if names.count(n) > 1})}."
            )
        return cls(
            base_url=config["base_url"].rstrip("/"),
            auth=dict(config.get("auth") or {"type": "none"}),
            headers=dict(config.get("headers") or {}),
            streams=streams,
            checkpoint_records=int(config.get("checkpoint_records") or 10000),
            http=HttpSettings.from_config(config),
        )

    def url(self, stream: StreamConfig) -> str:
        return self.base_url + "/" + stream.path.lstrip("/")


def dig(value: Any, path: str) -> Any:
    """The value at a dotted path (empty: `value` itself); None where the path leads nowhere."""
    for part in path.split(".") if path else []:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
