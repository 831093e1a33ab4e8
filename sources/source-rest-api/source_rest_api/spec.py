"""The connector's config as JSON schema (also the form Airbyte's UI draws)."""

from __future__ import annotations

from typing import Any

from source_core.http import http_spec

MANIFEST_KEY = "__injected_declarative_manifest"  # as Airbyte's source-declarative-manifest takes it


def _choice(kind: str, title: str, properties: dict[str, Any] | None = None, required: list[str] = ()) -> dict:
    return {
        "title": title,
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"type": "string", "const": kind, "default": kind}, **(properties or {})},
    }


def _secret(title: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "airbyte_secret": True}


def _param(default: str, title: str) -> dict[str, Any]:
    return {"type": "string", "default": default, "title": title}


PAGE_SIZE = {"type": "integer", "minimum": 1, "default": 100, "title": "Page size"}

AUTH = {
    "title": "Authentication",
    "type": "object",
    "default": {"type": "none"},
    "oneOf": [
        _choice("none", "None"),
        _choice("bearer", "Bearer token", {"token": _secret("Token")}, ["token"]),
        _choice(
            "basic",
            "Basic (user and password)",
            {"username": {"type": "string", "title": "Username"}, "password": _secret("Password")},
            ["username", "password"],
        ),
        _choice(
            "api_key",
            "API key",
            {
                "name": {"type": "string", "title": "Header or parameter name", "examples": ["X-API-Key"]},
                "value": _secret("Key"),
                "in": {"type": "string", "enum": ["header", "query"], "default": "header", "title": "Sent in"},
            },
            ["name", "value"],
        ),
        _choice(
            "oauth2",
            "OAuth 2 (client credentials or refresh token)",
            {
                "endpoint": {"type": "string", "format": "uri", "title": "Token endpoint"},
                "grant_type": {
                    "type": "string",
                    "enum": ["client_credentials", "refresh_token"],
                    "default": "client_credentials",
                    "title": "Grant type",
                },
                "client_id": {"type": "string", "title": "Client ID"},
                "client_secret": _secret("Client secret"),
                "refresh_token": _secret("Refresh token (grant type refresh_token)"),
                "scopes": {"type": "array", "items": {"type": "string"}, "title": "Scopes"},
            },
            ["endpoint", "client_id", "client_secret"],
        ),
    ],
}

PAGINATION = {
    "title": "Pagination",
    "type": "object",
    "default": {"type": "none"},
    "oneOf": [
        _choice("none", "None (one request)"),
        _choice(
            "offset",
            "Offset and limit",
            {
                "offset_param": _param("offset", "Offset parameter"),
                "limit_param": _param("limit", "Limit parameter"),
                "page_size": PAGE_SIZE,
            },
        ),
        _choice(
            "page",
            "Page number",
            {
                "page_param": _param("page", "Page parameter"),
                "size_param": _param("per_page", "Page size parameter (empty: not sent)"),
                "page_size": PAGE_SIZE,
                "start_page": {"type": "integer", "default": 1, "title": "First page number"},
            },
        ),
        _choice(
            "cursor",
            "Cursor from a body field",
            {
                "cursor_path": {
                    "type": "string",
                    "title": "Path of the next cursor in the body",
                    "examples": ["meta.next"],
                },
                "cursor_param": _param("cursor", "Cursor parameter"),
                "size_param": _param("limit", "Page size parameter (empty: not sent)"),
                "page_size": PAGE_SIZE,
            },
            ["cursor_path"],
        ),
        _choice(
            "next_url",
            "Next URL in the body",
            {"next_url_path": {"type": "string", "title": "Path of the next URL in the body", "examples": ["next"]}},
            ["next_url_path"],
        ),
        _choice("link_header", "RFC 8288 Link header (rel=next)"),
    ],
}

INCREMENTAL = {
    "title": "Incremental",
    "description": "Records must come in ascending cursor order; the request parameter must select cursor >= value.",
    "type": "object",
    "required": ["cursor_field"],
    "properties": {
        "cursor_field": {"type": "string", "title": "Cursor field (path with dots)", "examples": ["updated_at"]},
        "request_param": {"type": "string", "title": "Request parameter taking the start value"},
        "format": {
            "type": "string",
            "enum": ["as_is", "epoch_seconds", "date"],
            "default": "as_is",
            "title": "Start value format sent",
        },
        "start_value": {"title": "Start value (first sync)", "type": ["string", "number"]},
        "cursor_format": {
            "type": "string",
            "default": "auto",
            "title": "How cursor values compare",
            "description": "auto: numbers by value, RFC 3339 / ISO 8601 and RFC 1123 dates by instant; "
            "epoch_seconds: numbers are epoch seconds (comparable with dates); text: plain text order; "
            "or a strptime pattern of the values' dates (UTC unless it has %z).",
            "examples": ["auto", "epoch_seconds", "text", "%m/%d/%Y %H:%M"],
        },
    },
}

STREAM = {
    "type": "object",
    "required": ["name", "path"],
    "properties": {
        "name": {"type": "string", "title": "Stream name", "pattern": "^[A-Za-z0-9_.-]+$"},
        "path": {"type": "string", "title": "Path (after the base URL)", "examples": ["/v1/orders"]},
        "params": {
            "type": "object",
            "title": "Query parameters",
            "additionalProperties": {"type": ["string", "number"]},
        },
        "record_selector": {
            "type": "string",
            "default": "",
            "title": "Path of the record list in the body (dots; empty: the body itself)",
            "examples": ["data.items"],
        },
        "primary_key": {"type": "array", "items": {"type": "string"}, "title": "Primary key fields"},
        "pagination": PAGINATION,
        "incremental": INCREMENTAL,
        "schema": {"type": "object", "title": "JSON schema of a record (overrides the inferred one)"},
    },
}

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "REST API",
    "type": "object",
    "anyOf": [{"required": ["base_url", "streams"]}, {"required": [MANIFEST_KEY]}],
    "properties": {
        "base_url": {"type": "string", "title": "Base URL", "pattern": "^https?://", "order": 0},
        "auth": {**AUTH, "order": 1},
        "headers": {
            "type": "object",
            "title": "Headers sent with every request",
            "additionalProperties": {"type": "string"},
            "order": 2,
        },
        "streams": {"type": "array", "minItems": 1, "items": STREAM, "title": "Streams", "order": 3},
        "checkpoint_records": {
            "type": "integer",
            "minimum": 1,
            "default": 10000,
            "title": "Records between STATE messages",
            "order": 4,
        },
        "http": {**http_spec(), "order": 5},
        MANIFEST_KEY: {
            "type": "object",
            "title": "Declarative manifest (compatibility mode: runs an Airbyte low-code manifest instead)",
            "order": 6,
        },
    },
}
