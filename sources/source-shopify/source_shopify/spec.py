"""The connector's config as JSON schema (also the form Airbyte's UI draws)."""

from __future__ import annotations

from typing import Any

from source_core.http import http_spec
from source_shopify.streams import STREAMS

DEFAULT_API_VERSION = "2026-10"
BULK_MODES = ["auto", "always", "never"]

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Shopify (GraphQL Admin API)",
    "type": "object",
    "required": ["shop", "access_token"],
    "additionalProperties": True,
    "properties": {
        "shop": {
            "type": "string",
            "title": "Shop",
            "description": "The shop's name, or its myshopify.com domain (`my-shop` or `my-shop.myshopify.com`).",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9-]*(\.myshopify\.com)?$",
            "order": 0,
        },
        "access_token": {
            "type": "string",
            "title": "Admin API access token",
            "description": "The custom app's Admin API access token (shpat_...), sent as X-Shopify-Access-Token.",
            "airbyte_secret": True,
            "order": 1,
        },
        "api_version": {
            "type": "string",
            "title": "API version",
            "pattern": r"^\d{4}-\d{2}$",
            "default": DEFAULT_API_VERSION,
            "order": 2,
        },
        "start_date": {
            "type": "string",
            "title": "Start date",
            "description": "Records updated before this instant are not read (RFC 3339, e.g. 2024-01-01T00:00:00Z).",
            "format": "date-time",
            "order": 3,
        },
        "streams": {
            "type": "array",
            "title": "Streams",
            "description": "The streams to offer (default: all).",
            "items": {"type": "string", "enum": [s.name for s in STREAMS]},
            "uniqueItems": True,
            "order": 4,
        },
        "bulk_mode": {
            "type": "string",
            "title": "Bulk operations",
            "description": (
                "auto: a bulk operation for a first sync or when the stream is more than `bulk_threshold_days` "
                "behind, paginated queries otherwise; always; never."
            ),
            "enum": BULK_MODES,
            "default": "auto",
            "order": 5,
        },
        "bulk_threshold_days": {
            "type": "number",
            "title": "Bulk threshold (days behind)",
            "minimum": 0,
            "default": 30,
            "order": 6,
        },
        "base_url": {
            "type": "string",
            "title": "Base URL override",
            "description": (
                "Instead of https://{shop}.myshopify.com, e.g. a proxy; `{shop}` is replaced by the shop name."
            ),
            "order": 7,
        },
        "http": {**http_spec(), "order": 8},
    },
}
