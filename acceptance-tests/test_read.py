"""read: records match their stream's schema; STATE messages are per stream and count the records since the
stream's previous state; stream statuses come in order around a stream's records; an invalid catalog fails with a
TRACE ERROR; two full-refresh reads give the same records."""

from __future__ import annotations

from collections import Counter, defaultdict

import jsonschema

from acceptance.checks import multiset, state_key, stream_key
from acceptance.protocol import configured_catalog, read
from acceptance.runner import Output, invoke


def assert_protocol_order(out: Output) -> None:
    """Per stream: STARTED, then records and states, then COMPLETE; each STATE counts the records since the
    previous STATE of its stream."""
    status: dict[tuple, str] = {}
    since_state: Counter = Counter()
    for message in out.messages:
        if message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
            update = message["trace"]["stream_status"]
            key, new = stream_key(update["stream_descriptor"]), update["status"]
            allowed = {"STARTED": [None], "RUNNING": ["STARTED", "RUNNING"], "COMPLETE": ["STARTED", "RUNNING"]}
            assert status.get(key) in allowed.get(new, [status.get(key)]), f"{key}: {status.get(key)} -> {new}"
            status[key] = new
        elif message["type"] == "RECORD":
            key = stream_key({"namespace": message["record"].get("namespace"), "name": message["record"]["stream"]})
            assert status.get(key) in ("STARTED", "RUNNING"), f"a record of {key} outside STARTED..COMPLETE"
            since_state[key] += 1
        elif message["type"] == "STATE":
            state = message["state"]
            assert state["type"] == "STREAM", f"STATE must be per stream: {state}"
            key = state_key(state)
            assert state["sourceStats"]["recordCount"] == since_state[key], f"{key}: sourceStats {state}"
            since_state[key] = 0
    assert set(status.values()) <= {"COMPLETE"}, f"streams not completed: {status}"


def test_basic_read(source, tmp_path) -> None:
    for entry in source.connector.required_tests("basic_read"):
        config = source.connector.json_file(entry["config_path"], tmp_path)
        catalog = configured_catalog(source, entry, config, tmp_path)
        out = read(source, tmp_path, config, catalog)
        assert_protocol_order(out)
        by_stream = defaultdict(list)
        for record in out.records:
            by_stream[record["stream"]].append(record["data"])
        empty = {e["name"] for e in entry.get("empty_streams") or []}
        for configured in catalog["streams"]:
            name = configured["stream"]["name"]
            if name not in empty:
                assert by_stream[name], f"stream {name} returned no record"
            validator = jsonschema.Draft7Validator(configured["stream"]["json_schema"])
            for data in by_stream[name]:
                validator.validate(data)


def test_read_with_invalid_catalog_fails_with_trace_error(source, tmp_path) -> None:
    entry = source.connector.required_tests("basic_read")[0]
    config = source.connector.json_file(entry["config_path"], tmp_path)
    stream = {"name": "__no_such_stream__", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
    out = invoke(source.runner, tmp_path, "read", config=config, catalog=catalog)
    assert out.errors, f"expected a TRACE ERROR: {out.describe()}"
    assert not out.records


def test_full_refresh_is_idempotent(source, tmp_path) -> None:
    for entry in source.connector.required_tests("full_refresh"):
        config = source.connector.json_file(entry["config_path"], tmp_path)
        catalog = configured_catalog(source, entry, config, tmp_path, sync_mode="full_refresh")
        first = read(source, tmp_path, config, catalog)
        second = read(source, tmp_path, config, catalog)
        assert first.records, "the read returned no record"
        assert multiset(first.records) == multiset(second.records)
