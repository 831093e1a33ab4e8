"""`write` behaviour shared by both SQL destinations: types, modes, dedup, generations, evolution, bad input."""

from __future__ import annotations

import datetime as dt
import json
import selectors
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from source_core.testing import (
    EMITTED_AT,
    catalog,
    lines,
    parse_output,
    record,
    source_error,
    state,
    status,
    stream_entry,
)

from .conftest import EVERY_KIND, Destination

PROPS = {"id": {"type": "integer"}, "name": {"type": "string"}, "updated": {"type": "integer"}}


def meta(row: dict[str, Any]) -> dict[str, Any]:
    value = row["_airbyte_meta"]
    return json.loads(value) if isinstance(value, str) else value


def from_json(dest: Destination, value: Any) -> Any:
    """A JSON column's value: psycopg decodes jsonb itself, DuckDB hands back the JSON text."""
    return json.loads(value) if dest.kind == "duckdb" else value


def by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def test_a_time_zone_without_offset_is_utc_whatever_the_host_zone(dest: Destination, monkeypatch) -> None:
    """Airbyte reads a date-time without an offset as UTC; the destination's own zone must not shift it."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # the destination's process inherits it
    props = {"id": {"type": "integer"}, "tz": EVERY_KIND["tz"], "s": {"type": "string"}}
    run = dest.write(
        catalog(stream_entry("zoned", props)),
        [record("zoned", {"id": 1, "tz": "2024-01-01T10:00:00"}), record("zoned", {"id": 2, "tz": "2024-01-01"})],
    )
    assert run.exit_code == 0, run.stderr
    assert {row["id"]: row["tz"] for row in dest.rows("zoned")} == {
        1: dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC),
        2: dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    }


def test_typed_columns_and_values(dest: Destination) -> None:
    props = {**EVERY_KIND, "u": {}}
    data = {
        "i": 9223372036854775807,
        "n": 12.5,
        "b": True,
        "d": "2024-02-29",
        "tz": "2024-03-01T12:30:00.123456+02:00",
        "ts": "2024-03-01T12:30:00",
        "t": "23:59:59.5",
        "ttz": "08:15:00+05:30",
        "s": 'a "quoted", multi\nline, ünïcode ☃ string',
        "o": {"k": [1, 2, {"x": None}]},
        "a": [1, "two", 3.5],
        "u": "anything",
    }
    run = dest.write(
        catalog(stream_entry("typed", props)), [record("typed", data), record("typed", {}), state("typed", 1)]
    )
    assert run.exit_code == 0, run.stderr
    columns = dest.columns("typed")
    expected = {
        "postgres": {"i": "bigint", "n": "numeric", "b": "boolean", "d": "date", "tz": "timestamp with time zone",
                     "ts": "timestamp without time zone", "t": "time without time zone", "ttz": "time with time zone",
                     "s": "text", "o": "jsonb", "a": "jsonb", "u": "jsonb"},
        "duckdb": {"i": "BIGINT", "n": "DOUBLE", "b": "BOOLEAN", "d": "DATE", "tz": "TIMESTAMP WITH TIME ZONE",
                   "ts": "TIMESTAMP", "t": "TIME", "ttz": "TIME WITH TIME ZONE", "s": "VARCHAR", "o": "JSON",
                   "a": "JSON", "u": "JSON"},
    }[dest.kind]  # fmt: skip
    assert {k: columns[k] for k in expected} == expected
    assert {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_generation_id", "_airbyte_meta"} <= set(columns)
    full, empty = sorted(dest.rows("typed"), key=lambda r: r["i"] is None)
    assert full["i"] == data["i"]
    assert Decimal(str(full["n"])) == Decimal("12.5")
    assert full["b"] is True
    assert full["d"] == dt.date(2024, 2, 29)
    assert full["tz"] == dt.datetime(2024, 3, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)
    assert full["ts"] == dt.datetime(2024, 3, 1, 12, 30)
    assert full["t"] == dt.time(23, 59, 59, 500000)
    assert full["ttz"].replace(tzinfo=None) == dt.time(8, 15) and full["ttz"].utcoffset() == dt.timedelta(
        hours=5, minutes=30
    )
    assert full["s"] == data["s"]
    for key in ("o", "a", "u"):
        assert from_json(dest, full[key]) == data[key]
    assert all(empty[k] is None for k in props)
    assert full["_airbyte_extracted_at"] == dt.datetime.fromtimestamp(EMITTED_AT / 1000, dt.UTC)
    assert meta(full)["changes"] == [] and meta(empty)["changes"] == []
    assert str(full["_airbyte_raw_id"]) != str(empty["_airbyte_raw_id"])


def test_value_that_does_not_fit_is_nulled_and_recorded(dest: Destination) -> None:
    props = {"id": {"type": "integer"}, "n": {"type": "integer"}, "d": {"type": "string", "format": "date"},
             "b": {"type": "boolean"}, "s": {"type": "string"}}  # fmt: skip
    source_change = {"field": "s", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
    messages = [
        record("t", {"id": 1, "n": "not a number", "d": "2024-13-45", "b": "maybe", "s": "kept"}),
        record("t", {"id": 2, "n": 1.5, "d": "2024-01-02", "b": False, "s": {"nested": True}}),
        record("t", {"id": 3, "n": 7, "s": "x"}, meta={"changes": [source_change]}),
        state("t", "done"),
    ]
    run = dest.write(catalog(stream_entry("t", props)), messages)
    assert run.exit_code == 0, run.stderr
    rows = by_id(dest.rows("t"))
    assert (rows[1]["n"], rows[1]["d"], rows[1]["b"], rows[1]["s"]) == (None, None, None, "kept")
    nulled = sorted(c["field"] for c in meta(rows[1])["changes"])
    assert nulled == ["b", "d", "n"]
    assert all(
        c["change"] == "NULLED" and c["reason"] == "DESTINATION_SERIALIZATION_ERROR" for c in meta(rows[1])["changes"]
    )
    assert rows[2]["n"] is None and [c["field"] for c in meta(rows[2])["changes"]] == ["n"]  # 1.5 is no integer
    assert json.loads(rows[2]["s"]) == {"nested": True}  # a non-string in a string column is kept as its JSON text
    assert rows[3]["n"] == 7 and meta(rows[3])["changes"] == [source_change]


def test_values_postgresql_cannot_store_never_stop_the_sync(dest: Destination) -> None:
    """Values DuckDB's casts take but PostgreSQL (or the CSV for its COPY) cannot: each is nulled, or its NULs
    removed, and recorded, in both databases alike; the sync goes on."""
    props = {"id": {"type": "integer"}, "n": {"type": "number"}, "s": {"type": "string"}, "o": {"type": "object"},
             **{kind: EVERY_KIND[kind] for kind in ("d", "tz", "ts", "t")}}  # fmt: skip
    nulled = {
        1: {"d": "infinity", "tz": "infinity", "ts": "-infinity", "n": "1_000", "t": "24:00:00"},
        2: {"d": "99999-01-01", "tz": "0000-01-01T00:00:00Z", "ts": "-0001-01-01T00:00:00", "n": "1e200000"},
        3: {"d": "-0001-01-01", "tz": "10000-01-01T00:00:00Z", "n": "-1e200000"},
        4: {"n": "0x10"},
    }
    line = '{"type":"RECORD","record":{"stream":"v","emitted_at":1,"data":{"id":5,"o":{"x":NaN},"n":"NaN"}}}'
    messages = [
        *(record("v", {"id": key, **values}) for key, values in nulled.items()),
        line,
        record("v", {"id": 6, "s": "a\u0000b", "o": {"k\u0000": ["c\u0000d", 1]}}),
        record(
            "v", {"id": 7, "n": "1e131071", "d": "9999-12-31", "tz": "0001-01-01T00:00:00Z", "t": "23:59:59.999999"}
        ),
        state("v", 1),
    ]
    run = dest.write(catalog(stream_entry("v", props)), messages)
    assert run.exit_code == 0, run.stderr
    assert len(run.states) == 1
    rows = by_id(dest.rows("v"))
    for key, values in nulled.items():
        assert all(rows[key][name] is None for name in values), rows[key]
        assert sorted(c["field"] for c in meta(rows[key])["changes"]) == sorted(values)
    assert rows[5]["o"] is None and meta(rows[5])["changes"] == [_change("o", "NULLED")]
    assert str(rows[5]["n"]).lower() == "nan"
    assert rows[6]["s"] == "ab" and from_json(dest, rows[6]["o"]) == {"k": ["cd", 1]}
    assert meta(rows[6])["changes"] == [_change("s", "TRUNCATED"), _change("o", "TRUNCATED")]
    assert rows[7]["d"] == dt.date(9999, 12, 31) and rows[7]["tz"] == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    if dest.kind == "postgres":  # numeric holds it, a double (DuckDB's column) does not
        assert rows[7]["n"] == Decimal("1e131071") and meta(rows[7])["changes"] == []
    else:
        assert rows[7]["n"] is None and meta(rows[7])["changes"] == [_change("n", "NULLED")]


def test_lone_surrogate_or_bytes_that_are_no_utf8_become_replacement_characters(dest: Destination) -> None:
    """`"\\ud800"` alone is valid JSON but no text, and bytes that are no UTF-8 make no JSON text: each becomes
    U+FFFD, recorded, and the record is kept (never skipped while the STATE after it is acknowledged)."""
    props = {"id": {"type": "integer"}, "s": {"type": "string"}, "o": {"type": "object"}}
    messages = [
        '{"type":"RECORD","record":{"stream":"v","emitted_at":1,"data":{"id":1,"s":"a\\ud800b","o":{"k":"\\udfff"}}}}',
        '{"type":"RECORD","record":{"stream":"v","emitted_at":1,"data":{"id":2,"s":"\\ud83d\\ude00 \\\\ud800"}}}',
    ]
    no_utf8 = b'{"type":"RECORD","record":{"stream":"v","emitted_at":1,"data":{"id":3,"s":"a\xffb"}}}\n'
    run = dest.write(catalog(stream_entry("v", props)), lines(messages) + no_utf8 + lines([state("v", 1)]))
    assert run.exit_code == 0, run.stderr
    assert len(run.states) == 1
    rows = by_id(dest.rows("v"))
    assert rows[1]["s"] == "a\ufffdb" and from_json(dest, rows[1]["o"]) == {"k": "\ufffd"}
    assert meta(rows[1])["changes"] == [_change("s", "TRUNCATED"), _change("o", "TRUNCATED")]
    assert rows[2]["s"] == "\U0001f600 \\ud800" and meta(rows[2])["changes"] == []  # a pair; an escaped backslash
    assert rows[3]["s"] == "a\ufffdb" and meta(rows[3])["changes"] == [_change("s", "TRUNCATED")]


def _change(name: str, change: str) -> dict[str, str]:
    return {"field": name, "change": change, "reason": "DESTINATION_SERIALIZATION_ERROR"}


def test_fields_differing_only_by_case_in_two_streams(dest: Destination) -> None:
    """DuckDB's parser matches JSON keys without case: `id` of one stream and `ID` of another stay apart."""
    lower = {"id": {"type": "integer"}, "o": {"type": "object"}, "a/b~c": {"type": "string"}}
    upper = {"ID": {"type": "integer"}, "O": {"type": "string"}}
    run = dest.write(
        catalog(stream_entry("lower", lower), stream_entry("upper", upper)),
        [
            record("lower", {"id": 1, "o": {"k": [1]}, "a/b~c": "x"}),
            record("lower", {"id": 2, "o": None}),
            record("upper", {"ID": 3, "O": "y"}),
            state("lower", 1),
        ],
    )
    assert run.exit_code == 0, run.stderr
    lower_rows = sorted(dest.rows("lower"), key=lambda r: r["id"])
    objects = [from_json(dest, r["o"]) if r["o"] is not None else None for r in lower_rows]
    assert [(r["id"], o, r["a/b~c"]) for r, o in zip(lower_rows, objects, strict=True)] == [
        (1, {"k": [1]}, "x"), (2, None, None)]  # fmt: skip
    assert [(r["ID"], r["O"]) for r in dest.rows("upper")] == [(3, "y")]


def test_states_echoed_in_order_with_counts(dest: Destination) -> None:
    cat = catalog(stream_entry("a", PROPS), stream_entry("b", PROPS))
    messages = [
        record("a", {"id": 1}),
        record("a", {"id": 2}),
        record("b", {"id": 1}),
        state("a", {"pos": 1}),
        state("b", {"pos": 1}),
        state("b", {"pos": 2}),
        record("a", {"id": 3}),
        {"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"lsn": 9}, "stream_states": [
            {"stream_descriptor": {"name": "a"}, "stream_state": {"pos": 3}}]}}},
        record("b", {"id": 2}),
    ]  # fmt: skip
    run = dest.write(cat, messages)
    assert run.exit_code == 0, run.stderr
    echoed = [(s.get("stream") or s.get("global"), s["destinationStats"]["recordCount"]) for s in run.states]
    assert [count for _, count in echoed] == [2.0, 1.0, 0.0, 1.0]
    assert [s["stream"]["stream_state"] for s in run.states[:3]] == [{"pos": 1}, {"pos": 1}, {"pos": 2}]
    assert run.states[3]["global"]["shared_state"] == {"lsn": 9}
    assert len(dest.rows("a")) == 3 and len(dest.rows("b")) == 2  # the records after the last STATE too


def test_append_adds_and_overwrite_replaces(dest: Destination) -> None:
    first = [record("t", {"id": i, "name": f"v{i}"}) for i in range(3)] + [state("t", 1)]
    dest.write(catalog(stream_entry("t", PROPS, mode="append")), first)
    dest.write(catalog(stream_entry("t", PROPS, mode="append")), first)
    assert sorted(r["id"] for r in dest.rows("t")) == [0, 0, 1, 1, 2, 2]
    second = [record("t", {"id": 9, "name": "new"}), state("t", 2)]
    run = dest.write(catalog(stream_entry("t", PROPS, mode="overwrite")), second)
    assert run.exit_code == 0, run.stderr
    assert [(r["id"], r["name"]) for r in dest.rows("t")] == [(9, "new")]
    assert "t_airbyte_tmp" not in dest.tables()


def test_overwrite_keeps_old_table_when_stream_incomplete_then_resumes(dest: Destination) -> None:
    dest.write(catalog(stream_entry("t", PROPS)), [record("t", {"id": 1, "name": "old"})])
    entry = stream_entry("t", PROPS, mode="overwrite", generation_id=5, minimum_generation_id=5)
    part = [status("t", "STARTED"), record("t", {"id": 2}), state("t", 1), status("t", "INCOMPLETE")]
    run = dest.write(catalog(entry), part)
    assert run.exit_code == 0, run.stderr
    assert [r["name"] for r in dest.rows("t")] == ["old"]  # not swapped: the source did not finish
    assert any("left unfinished" in log for log in run.logs)
    rest = [status("t", "STARTED"), record("t", {"id": 3}), state("t", 2), status("t", "COMPLETE")]
    run = dest.write(catalog(entry), rest)  # the same generation resumes the unfinished overwrite
    assert run.exit_code == 0, run.stderr
    rows = dest.rows("t", order_by="id")
    assert [r["id"] for r in rows] == [2, 3] and {r["_airbyte_generation_id"] for r in rows} == {5}
    assert "t_airbyte_tmp" not in dest.tables()


@pytest.mark.parametrize("mode", ["append", "overwrite"])
@pytest.mark.parametrize("ends", ["trace_error", "incomplete"])
def test_rows_after_the_last_state_of_a_failed_source_are_left_to_its_retry(
    dest: Destination, mode: str, ends: str
) -> None:
    """The retry starts from the last acknowledged STATE and sends those rows again: written now, they would be
    there twice."""
    failure = source_error()
    entry = stream_entry("t", PROPS, mode=mode)
    first = [status("t", "STARTED"), *(record("t", {"id": n}) for n in (1, 2)), state("t", 1)]
    first += [record("t", {"id": n}) for n in (3, 4)]
    first += [failure] if ends == "trace_error" else [status("t", "INCOMPLETE")]
    run = dest.write(catalog(entry), first)
    assert run.exit_code == 0, run.stderr
    assert [s["stream"]["stream_state"] for s in run.states] == [1]
    retry = [status("t", "STARTED"), *(record("t", {"id": n}) for n in (3, 4)), state("t", 2), status("t", "COMPLETE")]
    run = dest.write(catalog(entry), retry)
    assert run.exit_code == 0, run.stderr
    assert [r["id"] for r in dest.rows("t", order_by="id")] == [1, 2, 3, 4]


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_rows_loaded_after_every_state_was_acknowledged_are_rolled_back_when_the_source_fails(
    dest: Destination, mode: str
) -> None:
    """Once a commit has acknowledged every STATE, the rows that follow go into the transaction at once (they are
    not held): when the source then fails, the transaction is rolled back, and the retry's rows are there once."""
    entry = stream_entry("t", PROPS, mode=mode)
    failure = source_error()
    process = dest.start_write(catalog(entry), commit_interval_seconds=1, commit_interval_rows=1)
    assert process.stdin is not None
    try:
        process.stdin.write(lines([status("t", "STARTED"), record("t", {"id": 1}), record("t", {"id": 2})]))
        process.stdin.write(lines([state("t", 1)]))
        echoed = _first_output(process, lambda m: m["type"] == "STATE", seconds=30)
        assert echoed is not None and echoed["state"]["stream"]["stream_state"] == 1
        process.stdin.write(lines([record("t", {"id": 3}), record("t", {"id": 4})]))
        time.sleep(1)  # a piece of its own, loaded while no STATE waits
        process.stdin.write(lines([failure]))
    finally:
        process.stdin.close()
        process.wait(60)
    assert process.returncode == 0
    if mode == "append":
        assert [r["id"] for r in dest.rows("t", order_by="id")] == [1, 2]
    retry = [status("t", "STARTED"), *(record("t", {"id": n}) for n in (3, 4)), state("t", 2), status("t", "COMPLETE")]
    run = dest.write(catalog(entry), retry)
    assert run.exit_code == 0, run.stderr
    assert [r["id"] for r in dest.rows("t", order_by="id")] == [1, 2, 3, 4]


def test_overwrite_leftover_of_another_generation_is_discarded(dest: Destination) -> None:
    entry = stream_entry("t", PROPS, mode="overwrite", generation_id=1, minimum_generation_id=1)
    dest.write(catalog(entry), [record("t", {"id": 1}), state("t", 1), status("t", "INCOMPLETE")])
    entry = stream_entry("t", PROPS, mode="overwrite", generation_id=2, minimum_generation_id=2)
    run = dest.write(catalog(entry), [record("t", {"id": 2}), state("t", 1), status("t", "COMPLETE")])
    assert run.exit_code == 0, run.stderr
    assert [(r["id"], r["_airbyte_generation_id"]) for r in dest.rows("t")] == [(2, 2)]


def test_refresh_drops_generations_below_minimum(dest: Destination) -> None:
    for generation in (1, 2):
        entry = stream_entry("t", PROPS, mode="append", generation_id=generation, minimum_generation_id=0)
        dest.write(catalog(entry), [record("t", {"id": generation}), state("t", generation)])
    entry = stream_entry("t", PROPS, mode="append", generation_id=3, minimum_generation_id=2)
    run = dest.write(catalog(entry), [record("t", {"id": 3}), state("t", 3), status("t", "COMPLETE")])
    assert run.exit_code == 0, run.stderr
    assert sorted(r["_airbyte_generation_id"] for r in dest.rows("t")) == [2, 3]
    # a truncate refresh (minimum = current generation) on an append stream replaces the table when complete
    entry = stream_entry("t", PROPS, mode="append", generation_id=4, minimum_generation_id=4)
    dest.write(catalog(entry), [record("t", {"id": 4}), state("t", 4), status("t", "COMPLETE")])
    assert [(r["id"], r["_airbyte_generation_id"]) for r in dest.rows("t")] == [(4, 4)]


@pytest.mark.parametrize("mode", ["append_dedup", "overwrite_dedup"])
def test_dedup_keeps_latest_by_cursor_then_extraction(dest: Destination, mode: str) -> None:
    entry = stream_entry("t", PROPS, mode="append_dedup", primary_key=["id"], cursor="updated")
    messages = [
        record("t", {"id": 1, "name": "a1", "updated": 1}),
        record("t", {"id": 1, "name": "a3", "updated": 3}),
        record("t", {"id": 1, "name": "a2", "updated": 2}),  # older cursor arriving later: loses
        record("t", {"id": 2, "name": "b-early", "updated": 5}, emitted_at=1_700_000_000_000),
        record("t", {"id": 2, "name": "b-late", "updated": 5}, emitted_at=1_700_000_001_000),  # tie: later wins
        record("t", {"id": 3, "name": "c", "updated": 1}),
        state("t", 1),
    ]
    run = dest.write(catalog(entry), messages)
    assert run.exit_code == 0, run.stderr
    assert {r["id"]: r["name"] for r in dest.rows("t")} == {1: "a3", 2: "b-late", 3: "c"}
    entry = stream_entry("t", PROPS, mode=mode, primary_key=["id"], cursor="updated")
    again = [
        record("t", {"id": 1, "name": "a-stale", "updated": 0}),
        record("t", {"id": 3, "name": "c2", "updated": 2}),
        record("t", {"id": 4, "name": "d", "updated": 1}),
        state("t", 2),
    ]
    run = dest.write(catalog(entry), again)
    assert run.exit_code == 0, run.stderr
    expected = {1: "a3", 3: "c2", 4: "d", 2: "b-late"} if mode == "append_dedup" else {1: "a-stale", 3: "c2", 4: "d"}
    assert {r["id"]: r["name"] for r in dest.rows("t")} == expected


def test_dedup_composite_key_and_cdc_delete(dest: Destination) -> None:
    props = {"region": {"type": "string"}, "id": {"type": "integer"}, "v": {"type": "string"},
             "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"}}  # fmt: skip
    entry = stream_entry("t", props, mode="append_dedup", primary_key=["region", "id"])
    first = [record("t", {"region": r, "id": i, "v": f"{r}{i}"}) for r in ("eu", "us") for i in (1, 2)]
    dest.write(catalog(entry), [*first, state("t", 1)])
    deleted = {"region": "eu", "id": 1, "v": None, "_ab_cdc_deleted_at": "2024-05-01T00:00:00Z"}
    changes = [
        record("t", deleted, emitted_at=1_700_000_100_000),
        record("t", {"region": "us", "id": 2, "v": "new"}, emitted_at=1_700_000_100_000),
    ]
    run = dest.write(catalog(entry), [*changes, state("t", 2)])
    assert run.exit_code == 0, run.stderr
    assert sorted((r["region"], r["id"], r["v"]) for r in dest.rows("t")) == [
        ("eu", 2, "eu2"),
        ("us", 1, "us1"),
        ("us", 2, "new"),
    ]


def test_dedup_treats_a_null_key_as_one_value_wherever_commits_fall(dest: Destination) -> None:
    """NULL in a key is a value like any other: the rows of a key with a NULL are deduplicated across commits too,
    so that a rerun from any acknowledged state gives the same table."""
    props = {"region": {"type": ["null", "string"]}, "id": {"type": ["null", "integer"]}, "v": {"type": "string"}}
    entry = stream_entry("t", props, mode="append_dedup", primary_key=["region", "id"])
    keys = [(None, None), (None, 1), ("eu", None), ("eu", 1)]
    for version in ("old", "new"):  # two syncs: two commits
        messages = [record("t", {"region": r, "id": i, "v": f"{version} {r} {i}"}) for r, i in keys]
        run = dest.write(catalog(entry), [*messages, state("t", version)])
        assert run.exit_code == 0, run.stderr
    assert sorted(row["v"] for row in dest.rows("t")) == sorted(f"new {r} {i}" for r, i in keys)


def test_schema_evolution_adds_and_widens(dest: Destination) -> None:
    v1 = {"id": {"type": "integer"}, "amount": {"type": "integer"}, "code": {"type": "number"}}
    dest.write(catalog(stream_entry("t", v1)), [record("t", {"id": 1, "amount": 5, "code": 7.25}), state("t", 1)])
    v2 = {
        "id": {"type": "integer"},
        "amount": {"type": "number"},
        "code": {"type": "string"},
        "extra": {"type": "boolean"},
    }
    run = dest.write(
        catalog(stream_entry("t", v2)),
        [record("t", {"id": 2, "amount": 2.5, "code": "A-1", "extra": True}), state("t", 2)],
    )
    assert run.exit_code == 0, run.stderr
    columns = {k.lower(): v.lower() for k, v in dest.columns("t").items()}
    assert columns["amount"] in ("numeric", "double")
    assert columns["code"] in ("text", "varchar")
    assert columns["extra"] == "boolean"
    rows = by_id(dest.rows("t"))
    assert Decimal(str(rows[1]["amount"])) == 5 and Decimal(str(rows[2]["amount"])) == Decimal("2.5")
    assert rows[1]["code"] == "7.25" and rows[2]["code"] == "A-1"
    assert rows[1]["extra"] is None and rows[2]["extra"] is True
    # narrowing back (number -> integer) keeps the wider column and the values
    v3 = {"id": {"type": "integer"}, "amount": {"type": "integer"}}
    run = dest.write(catalog(stream_entry("t", v3)), [record("t", {"id": 3, "amount": 4}), state("t", 3)])
    assert run.exit_code == 0, run.stderr
    assert {k.lower(): v.lower() for k, v in dest.columns("t").items()}["amount"] == columns["amount"]
    assert Decimal(str(by_id(dest.rows("t"))[3]["amount"])) == 4


def test_widening_integer_to_number_keeps_every_integer(dest: Destination) -> None:
    """2^53 + 1 is no double: DuckDB's number column (DOUBLE) would round the integers already stored, so that
    column becomes text instead; PostgreSQL's numeric holds them as they are."""
    big = 2**53 + 1
    v1 = {"id": {"type": "integer"}, "n": {"type": "integer"}}
    run = dest.write(catalog(stream_entry("t", v1)), [record("t", {"id": 1, "n": big}), state("t", 1)])
    assert run.exit_code == 0, run.stderr
    v2 = {"id": {"type": "integer"}, "n": {"type": "number"}}
    run = dest.write(catalog(stream_entry("t", v2)), [record("t", {"id": 2, "n": 2.5}), state("t", 2)])
    assert run.exit_code == 0, run.stderr
    assert {k.lower(): v.lower() for k, v in dest.columns("t").items()}["n"] in ("numeric", "varchar")
    rows = by_id(dest.rows("t"))
    assert Decimal(str(rows[1]["n"])) == big and Decimal(str(rows[2]["n"])) == Decimal("2.5")


def test_line_that_is_not_json_is_logged_and_skipped(dest: Destination) -> None:
    messages = [record("t", {"id": 1}), "this is not json {", "", record("t", {"id": 2}), state("t", 1)]
    run = dest.write(catalog(stream_entry("t", PROPS)), messages)
    assert run.exit_code == 0, run.stderr
    assert any("line 2 is not JSON" in log for log in run.logs)
    assert sorted(r["id"] for r in dest.rows("t")) == [1, 2]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (
            {"type": "RECORD", "record": {"stream": "nope", "data": {}, "emitted_at": 1}},
            "'nope', which the configured catalog",
        ),
        (state("nope", 1), "STATE for stream 'nope'"),
        ({"hello": "world"}, "not a valid Airbyte message"),
        ({"type": "RECORD", "record": {"stream": "t", "emitted_at": 1}}, "needs record.stream, record.emitted_at"),
        (record("t", [1, "x"]), "record.data, an object"),  # type: ignore[arg-type]
        (record("t", "id=2"), "record.data, an object"),  # type: ignore[arg-type]
        (record("t", 42), "record.data, an object"),  # type: ignore[arg-type]
        ({"type": "STATE", "state": {"type": "STREAM", "stream": {}}}, "stream_descriptor needs a name"),
        ({"type": "TRACE", "trace": "oops"}, 'trace: "oops" is not of type "object"'),
        (record("t", {"id": 9}, emitted_at=10**20), "record.emitted_at (milliseconds since 1970"),
    ],
)  # fmt: skip
def test_bad_message_fails_and_leaves_only_acknowledged_rows(dest: Destination, bad: dict[str, Any], says: str) -> None:
    messages = [
        record("t", {"id": 1}),
        state("t", 1),
        record("t", {"id": 2}),
        bad,
        record("t", {"id": 3}),
        state("t", 2),
    ]
    run = dest.write(catalog(stream_entry("t", PROPS)), messages, commit_interval_rows=1)
    assert run.exit_code != 0
    (error,) = run.errors
    assert says in error["message"] and "line 4" in error["message"]
    assert error["failure_type"] == "system_error"
    acknowledged = [s["stream"]["stream_state"] for s in run.states]
    visible = sorted(r["id"] for r in dest.rows("t"))
    assert visible == ([1] if acknowledged == [1] else [])  # the second record came after the last echoed STATE
    assert acknowledged in ([1], [])


def test_invalid_catalog_is_a_config_error(dest: Destination) -> None:
    entry = stream_entry("t", PROPS, mode="append_dedup")  # dedup without a primary key
    run = dest.write(catalog(entry), [record("t", {"id": 1})])
    assert run.exit_code != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error" and "primary_key" in error["message"]
    entry = stream_entry("t", {"id": {"type": "integer"}, "_airbyte_meta": {"type": "string"}})
    run = dest.write(catalog(entry), [record("t", {"id": 1})])
    assert run.exit_code != 0 and "_airbyte_meta" in run.errors[0]["message"]


def test_append_and_overwrite_take_any_cursor_and_key(dest: Destination) -> None:
    """Only dedup uses them: a nested or unknown cursor or key must not stop the other modes."""
    props = {"id": {"type": "integer"}, "doc": {"type": "object"}}
    nested_cursor = stream_entry("a", props)
    nested_cursor["cursor_field"] = ["doc", "updated_at"]
    nested_key = stream_entry("b", props, mode="overwrite")
    nested_key["primary_key"] = [["doc", "id"]]
    unknown = stream_entry("c", props, cursor="updated_at", primary_key=["nope"])
    messages = [record(name, {"id": 1, "doc": {"id": 2, "updated_at": 3}}) for name in "abc"]
    run = dest.write(catalog(nested_cursor, nested_key, unknown), [*messages, *(state(name, 1) for name in "abc")])
    assert run.exit_code == 0, run.stderr
    assert all([row["id"] for row in dest.rows(name)] == [1] for name in "abc")


@pytest.mark.parametrize("internal", ["_airbyte_seq", "_airbyte_rank"])
def test_a_column_named_like_an_internal_column_is_refused(dest: Destination, internal: str) -> None:
    """The parser's line number and the dedup merge's rank are columns too, while rows are loaded."""
    entry = stream_entry("t", {**PROPS, internal: {"type": "string"}}, mode="append_dedup", primary_key=["id"])
    run = dest.write(catalog(entry), [record("t", {"id": 1, internal: "x"}), state("t", 1)])
    assert run.exit_code != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error" and f"column '{internal}' clashes" in error["message"]
    assert dest.tables() == set()


@pytest.mark.parametrize("truncate", [{"mode": "overwrite"}, {"generation_id": 2, "minimum_generation_id": 2}])
def test_a_stream_named_like_an_overwrites_temporary_table_is_refused(
    dest: Destination, truncate: dict[str, Any]
) -> None:
    """An overwrite (or truncate refresh) of `users` writes into `users_airbyte_tmp` first: a stream whose table is
    that one, as the database compares names, would get the overwrite's rows and then lose its table."""
    other = "users_airbyte_tmp" if dest.kind == "postgres" else "USERS_airbyte_tmp"
    entries = [stream_entry("users", PROPS, **truncate), stream_entry(other, PROPS)]
    messages = [record("users", {"id": 1}), record(other, {"id": 2}), state("users", 1), state(other, 1)]
    run = dest.write(catalog(*entries), messages)
    assert run.exit_code != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error"
    assert "temporary table of overwrite 'users'" in error["message"] and f"stream '{other}'" in error["message"]
    assert dest.tables() == set()


def test_empty_or_failed_input_never_replaces_a_table(dest: Destination) -> None:
    """A source that failed before reading sends no STATE (maybe a TRACE ERROR): an overwrite must not swap in
    nothing. One that reports no statuses but states the stream completes it, empty or not."""
    dest.write(catalog(stream_entry("t", PROPS)), [record("t", {"id": 1, "name": "old"}), state("t", 1)])
    overwrite = catalog(stream_entry("t", PROPS, mode="overwrite"))
    failure = source_error("config_error")
    for messages in (
        [],
        [failure],
        [record("t", {"id": 5}), failure],
        [record("t", {"id": 2}), state("t", 2), failure],
    ):
        run = dest.write(overwrite, messages)
        assert run.exit_code == 0, run.stderr
        assert [r["name"] for r in dest.rows("t")] == ["old"]
    # no statuses, but the stream's STATE: complete. The same generation resumes the unfinished overwrite, whose
    # acknowledged row (id 2) is swapped in; a new generation starts from nothing, and so ends empty.
    run = dest.write(overwrite, [state("t", 3)])
    assert run.exit_code == 0, run.stderr
    assert [r["id"] for r in dest.rows("t")] == [2]
    fresh = catalog(stream_entry("t", PROPS, mode="overwrite", generation_id=1, minimum_generation_id=1))
    run = dest.write(fresh, [state("t", 4)])
    assert run.exit_code == 0, run.stderr
    assert dest.rows("t") == []


def test_a_load_the_database_refuses_fails_the_sync_and_acknowledges_nothing_after_it(dest: Destination) -> None:
    """Loads run on a thread of their own while the next rows are parsed: a load that fails there still ends the
    sync with the database's error, and no STATE after it is echoed."""
    cat = catalog(stream_entry("t", PROPS))
    assert dest.write(cat, [record("t", {"id": 1, "name": "a"}), state("t", 1)]).exit_code == 0
    if dest.kind == "postgres":
        dest.query_no_rows(f'ALTER TABLE "{dest.schema}".t ALTER COLUMN name SET NOT NULL')
    else:
        dest.query_no_rows("ALTER TABLE t ALTER COLUMN name SET NOT NULL")
    messages = [
        record("t", {"id": 2, "name": "b"}),
        state("t", 2),
        record("t", {"id": 3}),  # no name: the database refuses the row
        state("t", 3),
        record("t", {"id": 4, "name": "d"}),
        state("t", 4),
    ]
    run = dest.write(cat, messages, commit_interval_rows=1)
    assert run.exit_code != 0
    (error,) = run.errors
    assert "null" in error["message"].lower(), error["message"]
    acknowledged = [s["stream"]["stream_state"] for s in run.states]
    assert acknowledged in ([2], [])  # [2] only if the input came in two pieces, the second holding the bad row
    assert sorted(r["id"] for r in dest.rows("t")) == ([1, 2] if acknowledged else [1])


def _first_output(process: subprocess.Popen[bytes], wanted: Callable[[dict[str, Any]], bool], seconds: float) -> Any:
    """The first message `process` writes that `wanted` takes, waiting at most `seconds`; None if none came."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            line = process.stdout.readline()
            if not line:
                return None  # the process ended
            if wanted(message := json.loads(line)):
                return message
    return None


def test_a_silent_source_has_its_states_acknowledged_once_a_commit_is_due(dest: Destination) -> None:
    """A source that sends a STATE and then nothing for a while (waiting out a rate limit, a CDC source waiting for
    changes) has it acknowledged once commit_interval_seconds have passed, not only when it next writes."""
    process = dest.start_write(
        catalog(stream_entry("t", PROPS)), commit_interval_seconds=1, commit_interval_rows=1_000_000
    )
    assert process.stdin is not None
    try:
        process.stdin.write(lines([record("t", {"id": 1, "name": "a"}), state("t", 1)]))
        echoed = _first_output(process, lambda m: m["type"] == "STATE", seconds=30)
        assert echoed is not None, "no STATE acknowledged while the source was silent"
        assert echoed["state"]["stream"]["stream_state"] == 1
        assert process.poll() is None, "the write ended before its input did"
    finally:
        process.stdin.close()
        process.wait(60)
    assert process.returncode == 0
    assert [r["id"] for r in dest.rows("t")] == [1]


def test_a_load_that_fails_while_the_source_is_silent_ends_the_write_at_once(dest: Destination) -> None:
    """Loads run on a thread of their own: one that fails while the source says nothing ends the write then, with
    the database's error, instead of when the source next writes (which may be much later)."""
    cat = catalog(stream_entry("t", PROPS))
    assert dest.write(cat, [record("t", {"id": 1, "name": "a"}), state("t", 1)]).exit_code == 0
    table = f'"{dest.schema}".t' if dest.kind == "postgres" else "t"
    dest.query_no_rows(f"ALTER TABLE {table} ALTER COLUMN name SET NOT NULL")
    process = dest.start_write(cat, commit_interval_seconds=3600, commit_interval_rows=1_000_000)
    assert process.stdin is not None
    try:
        messages = [record("t", {"id": 2, "name": "b"}), state("t", 2), record("t", {"id": 3}), state("t", 3)]
        process.stdin.write(lines(messages))  # id 3 has no name: the database refuses it
        error = _first_output(process, lambda m: m["type"] == "TRACE" and m["trace"]["type"] == "ERROR", seconds=30)
        assert error is not None, "the failed load was not reported while the source was silent"
        assert "null" in error["trace"]["error"]["message"].lower(), error
        assert process.wait(30) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        process.stdin.close()
    assert [r["id"] for r in dest.rows("t")] == [1]


def test_a_state_is_acknowledged_when_the_next_piece_of_input_is_refused(dest: Destination, tmp_path: Path) -> None:
    """A commit due at a STATE is made once the next piece of stdin is parsed: when that piece is refused, the
    STATE is still acknowledged first, as if committed before parsing it. (Stdin is a file, read in pieces of 32 MiB:
    the first ends at the STATE, the second holds the line that is no message.)"""
    big = "x" * 12_000_000
    messages = [record("t", {"id": 1, "name": big}), record("t", {"id": 2, "name": big}), state("t", 1)]
    messages += [record("t", {"id": 3, "name": big}), {"hello": "world"}]
    stdin = tmp_path / "stdin.jsonl"
    stdin.write_bytes(lines(messages))
    command = dest.command("write", catalog(stream_entry("t", PROPS)), {**dest.config, "commit_interval_rows": 1})
    with stdin.open("rb") as source:
        done = subprocess.run(command, stdin=source, capture_output=True, timeout=600)
    run = parse_output(done.stdout.decode(), done.stderr.decode(), done.returncode)
    assert run.exit_code != 0
    assert [s["stream"]["stream_state"] for s in run.states] == [1]
    (error,) = run.errors
    assert "line 5 is not a valid Airbyte message" in error["message"]
    assert [r["id"] for r in dest.rows("t")] == [1, 2]
