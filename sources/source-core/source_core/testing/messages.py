"""Airbyte messages and configured catalogs as plain dicts, for tests to feed connectors."""

from __future__ import annotations

from typing import Any

EMITTED_AT = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z: milliseconds that must survive


def descriptor(stream: str, namespace: str | None = None) -> dict[str, Any]:
    return {"name": stream} | ({"namespace": namespace} if namespace is not None else {})


def record(
    stream: str, data: dict[str, Any], namespace: str | None = None, emitted_at: int = EMITTED_AT, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": emitted_at, **extra}
    if namespace is not None:
        body["namespace"] = namespace
    return {"type": "RECORD", "record": body}


def state(stream: str, value: Any, namespace: str | None = None) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": descriptor(stream, namespace), "stream_state": value},
        },
    }


def status(stream: str, value: str, namespace: str | None = None) -> dict[str, Any]:
    trace = {
        "type": "STREAM_STATUS",
        "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": descriptor(stream, namespace), "status": value},
    }
    return {"type": "TRACE", "trace": trace}


def source_error(failure_type: str = "transient_error") -> dict[str, Any]:
    """The TRACE ERROR a source sends when it fails."""
    error = {"message": "source broke", "failure_type": failure_type}
    return {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1.0, "error": error}}


def state_list(state_payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A STATE message's payload as the `--state` file content for the next run."""
    return [{"type": "STREAM", "stream": state_payload["stream"]}]


def stream_entry(
    name: str,
    properties: dict[str, Any],
    mode: str = "append",
    primary_key: list[str] | None = None,
    cursor: str | None = None,
    namespace: str | None = None,
    generation_id: int | None = None,
    minimum_generation_id: int | None = None,
    sync_id: int = 7,
) -> dict[str, Any]:
    """One configured stream: incremental when it has a cursor; with generations when `generation_id` is given."""
    stream: dict[str, Any] = {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    if namespace is not None:
        stream["namespace"] = namespace
    entry: dict[str, Any] = {
        "stream": stream,
        "sync_mode": "incremental" if cursor else "full_refresh",
        "destination_sync_mode": mode,
        "primary_key": [[k] for k in primary_key or []],
        "cursor_field": [cursor] if cursor else [],
    }
    if generation_id is not None:
        entry["generation_id"] = generation_id
        entry["minimum_generation_id"] = minimum_generation_id or 0
        entry["sync_id"] = sync_id
    return entry


def catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(entries)}
