"""destinations: write, then read back through the destination's own database or files: equal to what was sent,
for every sync mode the connector supports; every STATE echoed once, in order, with destinationStats."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

from acceptance.checks import normalized
from acceptance.protocol import spec_of
from acceptance.runner import invoke

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "amount": {"type": ["null", "number"]},
        "active": {"type": ["null", "boolean"]},
        "day": {"type": ["null", "string"], "format": "date"},
        "updated_at": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
    },
}
FIRST = [
    {"id": i, "name": f"item {i}", "amount": i * 1.25, "active": i % 2 == 0, "day": f"2024-03-{i:02d}",
     "updated_at": f"2024-03-{i:02d}T10:00:00+00:00"}
    for i in range(1, 7)
]  # fmt: skip
SECOND = [
    {"id": i, "name": f"item {i} v2", "amount": None, "active": None, "day": None,
     "updated_at": f"2024-04-{i:02d}T08:30:00+02:00"}
    for i in range(4, 9)
]  # fmt: skip


def _catalog(stream: str, mode: str, generation: int) -> dict[str, Any]:
    configured = {
        "stream": {"name": stream, "json_schema": SCHEMA, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental" if mode.startswith("append") else "full_refresh",
        "destination_sync_mode": mode,
        "primary_key": [["id"]],
        "cursor_field": ["updated_at"],
        "generation_id": generation,
        "minimum_generation_id": generation if mode.startswith("overwrite") else 0,
        "sync_id": generation,
    }
    return {"streams": [configured]}


def _messages(stream: str, batches: list[list[dict[str, Any]]], run: int) -> tuple[bytes, list[dict[str, Any]]]:
    """Records in batches, a STATE after each batch, then the stream's COMPLETE status."""
    lines, states = [], []
    for number, batch in enumerate(batches):
        lines += [
            {"type": "RECORD", "record": {"stream": stream, "data": r, "emitted_at": 1_700_000_000_000}} for r in batch
        ]
        state = {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"run": run, "batch": number}},
        }
        states.append(state)
        lines.append({"type": "STATE", "state": state})
    status = {"stream_descriptor": {"name": stream}, "status": "COMPLETE"}
    lines.append({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.7e12, "stream_status": status}})
    return "".join(json.dumps(line) + "\n" for line in lines).encode(), states  # fmt: skip


def _write(destination, tmp_path, config, stream, mode, batches, run) -> None:
    stdin, sent = _messages(stream, batches, run)
    out = invoke(destination.runner, tmp_path, "write", config=config, catalog=_catalog(stream, mode, run), stdin=stdin)
    assert out.exit_code == 0 and not out.errors, f"write ({mode}): {out.describe()}"
    echoed = out.states
    assert [{k: v for k, v in s.items() if k != "destinationStats"} for s in echoed] == sent, (
        "states not echoed in order"
    )
    assert [s["destinationStats"]["recordCount"] for s in echoed] == [len(b) for b in batches]


def _rows(rows: list[dict[str, Any]]) -> Counter:
    props = SCHEMA["properties"]
    return Counter(tuple((k, normalized(row.get(k), props[k])) for k in sorted(props)) for row in rows)


def _latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({row["id"]: row for row in rows}.values())


EXPECTED = {
    "append": lambda: FIRST + SECOND,
    "overwrite": lambda: SECOND,
    "append_dedup": lambda: _latest(FIRST + SECOND),
    "overwrite_dedup": lambda: _latest(SECOND),
}


def test_write_then_read_back_in_every_supported_mode(destination, tmp_path) -> None:
    """Two syncs of one stream per mode: the stored rows are what the mode makes of both."""
    entry = next(e for e in destination.connector.tests("connection") if e["status"] == "succeed")
    config = destination.connector.json_file(entry["config_path"], tmp_path)
    for mode in spec_of(destination)["supported_destination_sync_modes"]:
        stream = f"acceptance_{mode}_{uuid.uuid4().hex[:8]}"
        _write(destination, tmp_path, config, stream, mode, [FIRST[:3], FIRST[3:]], run=1)
        _write(destination, tmp_path, config, stream, mode, [SECOND], run=2)
        stored = destination.connector.hooks.read_back(config, stream)
        assert _rows(stored) == _rows(EXPECTED[mode]()), f"{mode}: the stored rows differ from what was sent"
