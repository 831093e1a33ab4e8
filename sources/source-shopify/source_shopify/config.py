"""The config as typed settings: shop, endpoint, token, version, streams, bulk mode, HTTP behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from source_core.config import config_error
from source_core.http import HttpSettings
from source_shopify.spec import DEFAULT_API_VERSION
from source_shopify.streams import STREAMS

DEFAULT_BASE_URL = "https://{shop}.myshopify.com"


def parse_instant(text: str, what: str) -> datetime:
    """An RFC 3339 instant in UTC; a value without an offset is taken as UTC."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise config_error(f"{what} {text!r} is not an RFC 3339 date-time (e.g. 2024-01-01T00:00:00Z).") from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ShopifyConfig:
    shop: str
    token: str = field(repr=False)  # never in a repr, hence in no traceback or log
    api_version: str
    start_date: datetime | None
    streams: list[str]
    bulk_mode: str
    bulk_threshold_days: float
    base_url: str
    http: HttpSettings

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ShopifyConfig:
        shop = str(config["shop"]).strip().lower().removesuffix(".myshopify.com")
        start = config.get("start_date")
        return cls(
            shop=shop,
            token=config["access_token"],
            api_version=config.get("api_version") or DEFAULT_API_VERSION,
            start_date=parse_instant(start, "start_date") if start else None,
            streams=list(config.get("streams") or [s.name for s in STREAMS]),
            bulk_mode=config.get("bulk_mode") or "auto",
            bulk_threshold_days=float(config.get("bulk_threshold_days", 30)),
            base_url=(config.get("base_url") or DEFAULT_BASE_URL).rstrip("/").replace("{shop}", shop),
            http=HttpSettings.from_config(config),
        )

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"
