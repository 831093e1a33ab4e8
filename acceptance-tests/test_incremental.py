"""incremental: a read from the final state returns no record already read; a read from any intermediate state
returns exactly the records that followed it; a state far in the future returns nothing."""

from __future__ import annotations

from typing import Any

import pytest

from acceptance.checks import canonical, multiset, state_key
from acceptance.protocol import configured_catalog, read
from acceptance.runner import Output

# Intermediate states resumed from per test, evenly spread over the read. An image runs the same code as the
# command, so its pass samples fewer (each container start costs seconds).
MAX_RESUMES = {"command": 8, "image": 3}


def _incremental_entries(source) -> list[dict]:
    """Incremental is optional: a source without it declares no such tests."""
    entries = source.connector.tests("incremental")
    if not entries:
        pytest.skip(f"{source.connector.name} declares no incremental tests")
    return entries


def _prepare(source, entry: dict, tmp_path) -> tuple[dict, dict]:
    config = source.connector.json_file(entry["config_path"], tmp_path)
    catalog = configured_catalog(source, entry, config, tmp_path, sync_mode="incremental")
    assert catalog["streams"], "no stream of the catalog supports incremental"
    return config, catalog


def _state_after(out: Output, position: int) -> list[dict[str, Any]]:
    """The state a run would keep after the message at `position`: the latest STATE of each stream."""
    latest: dict[tuple, dict] = {}
    for message in out.messages[: position + 1]:
        if message["type"] == "STATE":
            state = {k: v for k, v in message["state"].items() if k != "sourceStats"}
            latest[state_key(state)] = state
    return list(latest.values())


def _records_after(out: Output, position: int) -> list[dict[str, Any]]:
    """Per stream, the records emitted after that stream's last STATE at or before `position`."""
    last_state: dict[tuple, int] = {}
    for index, message in enumerate(out.messages[: position + 1]):
        if message["type"] == "STATE":
            last_state[state_key(message["state"])] = index
    return [
        m["record"]
        for index, m in enumerate(out.messages)
        if m["type"] == "RECORD" and index > last_state.get((m["record"].get("namespace"), m["record"]["stream"]), -1)
    ]


def test_read_from_final_state_returns_nothing_already_read(source, tmp_path) -> None:
    for entry in _incremental_entries(source):
        config, catalog = _prepare(source, entry, tmp_path)
        first = read(source, tmp_path, config, catalog)
        assert first.records and first.states, "the first incremental read gave no records or no state"
        second = read(source, tmp_path, config, catalog, state=_state_after(first, len(first.messages)))
        already = {canonical(r) for r in first.records}
        repeated = [r for r in second.records if canonical(r) in already]
        assert not repeated, f"{len(repeated)} record(s) read again, e.g. {repeated[0]}"


def test_read_from_each_intermediate_state_returns_exactly_the_rest(source, tmp_path) -> None:
    for entry in _incremental_entries(source):
        config, catalog = _prepare(source, entry, tmp_path)
        first = read(source, tmp_path, config, catalog)
        positions = [i for i, m in enumerate(first.messages) if m["type"] == "STATE"][:-1]
        assert positions, "the read emitted fewer than two states: nothing intermediate to resume from"
        step = max(1, len(positions) // MAX_RESUMES["image" if source.image else "command"])
        for position in positions[::step]:
            resumed = read(source, tmp_path, config, catalog, state=_state_after(first, position))
            expected = _records_after(first, position)
            assert multiset(resumed.records) == multiset(expected), (
                f"resuming from the state at message {position}: {len(resumed.records)} records, "
                f"expected {len(expected)}"
            )


def test_read_from_future_state_returns_nothing(source, tmp_path) -> None:
    for entry in _incremental_entries(source):
        future = entry.get("future_state") or {}
        if "future_state_path" not in future:
            pytest.fail(f"{source.connector.name}: incremental test without future_state.future_state_path")
        config, catalog = _prepare(source, entry, tmp_path)
        state = source.connector.json_file(future["future_state_path"])
        stated = {state_key(s) for s in state}
        out = read(source, tmp_path, config, catalog, state=state)
        leaked = [r for r in out.records if (r.get("namespace"), r["stream"]) in stated]
        assert not leaked, f"{len(leaked)} record(s) after a state in the future, e.g. {leaked[0]}"
