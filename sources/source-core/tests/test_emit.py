"""The Arrow -> RECORD encoder on batches built here: every line valid JSON, values exact, nothing dropped."""

from __future__ import annotations

import datetime
import json
import uuid

import numpy as np
import pyarrow as pa
import pytest

from source_core.checkpoint import CheckpointClock
from source_core.emit import Column, Kind, RecordEncoder, as_bytes, int_array, int_values


def encode(columns: dict[str, tuple[Kind, pa.Array]], namespace: str | None = "ns") -> list[dict]:
    batch = pa.record_batch([array for _, array in columns.values()], names=list(columns))
    encoder = RecordEncoder("s", namespace, [Column(name, kind) for name, (kind, _) in columns.items()])
    text = bytes(as_bytes(encoder.encode(batch, 42))).decode()
    lines = text.split("\n")
    assert lines[-1] == ""  # every record ends in a newline, and there is nothing after the last
    messages = [json.loads(line) for line in lines[:-1]]
    assert len(messages) == len(batch)
    assert all(m["type"] == "RECORD" and m["record"]["emitted_at"] == 42 for m in messages)
    return [m["record"] for m in messages]


def test_strings_round_trip_byte_exact():
    tricky = ["", "plain", 'q"uote', "back\\slash", "\u2028 ünï 😀", *(chr(c) + "x" for c in range(32)), None]
    records = encode({"v": (Kind.STRING, pa.array(tricky))})
    assert [r["data"]["v"] for r in records] == tricky


def test_sliced_arrays_keep_their_offsets():
    uuids = [uuid.uuid4() for _ in range(5)]
    stamps = [datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=i) for i in range(5)]
    batch = {
        "s": (Kind.STRING, pa.array(["a", "b\x01", 'c"\x01', "d", None]).slice(2)),
        "u": (Kind.UUID, pa.array([u.bytes for u in uuids], pa.binary(16)).slice(2)),
        "t": (Kind.TIMESTAMPTZ, pa.array(stamps, pa.timestamp("us", "UTC")).slice(2)),
    }
    records = encode(batch)
    assert [r["data"]["s"] for r in records] == ['c"\x01', "d", None]
    assert [r["data"]["u"] for r in records] == [str(u) for u in uuids[2:]]
    assert [datetime.datetime.fromisoformat(r["data"]["t"]) for r in records] == stamps[2:]


def test_int_arrays_without_pandas_keep_values_and_offsets():
    values = np.arange(-3, 7, dtype=np.int64)
    array = int_array(values)
    assert array.type == pa.int64() and array.to_pylist() == values.tolist()
    chunked = pa.chunked_array([array.slice(1, 4), array.slice(7)])
    assert int_values(array.slice(2, 5)).tolist() == [-1, 0, 1, 2, 3]
    assert int_values(chunked).tolist() == [-2, -1, 0, 1, 4, 5, 6]
    assert int_values(pa.chunked_array([], pa.int64())).tolist() == []


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamps_in_any_unit_and_zone_are_written_in_utc(unit):
    moment = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    values = pa.array([moment], pa.timestamp(unit, "Asia/Karachi"))
    (record,) = encode({"t": (Kind.TIMESTAMPTZ, values)})
    assert record["data"]["t"].endswith("Z")
    assert datetime.datetime.fromisoformat(record["data"]["t"]) == moment


def test_dates_at_the_edges_are_kept_and_beyond_them_nulled_and_reported():
    days = pa.array([-719162, 2932896, -719163, 2932897, None], pa.int32()).view(pa.date32())
    records = encode({"d": (Kind.DATE, days)})
    assert [r["data"]["d"] for r in records] == ["0001-01-01", "9999-12-31", None, None, None]
    assert [len(r.get("meta", {}).get("changes", [])) for r in records] == [0, 0, 1, 1, 0]


def test_a_null_beside_a_nulled_value_keeps_its_record():
    """Regression: a NULL in a column where another row was nulled (NaN) once dropped the NULL's record."""
    records = encode(
        {"id": (Kind.INTEGER, pa.array([1, 2, 3])), "f": (Kind.NUMBER, pa.array([float("nan"), None, 1.5]))}
    )
    assert [r["data"] for r in records] == [{"id": 1, "f": None}, {"id": 2, "f": None}, {"id": 3, "f": 1.5}]
    assert records[0]["meta"]["changes"] == [{"field": "f", "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}]
    assert "meta" not in records[1]


def test_two_nulled_fields_are_both_reported():
    (record,) = encode(
        {"a": (Kind.NUMBER, pa.array([float("inf")])), "b": (Kind.DECIMAL, pa.array(["NaN"]))}, namespace=None
    )
    assert "namespace" not in record
    assert [c["field"] for c in record["meta"]["changes"]] == ["a", "b"]


def test_numbers_times_booleans_and_raw_json():
    records = encode(
        {
            "i": (Kind.INTEGER, pa.array([-(2**63), 2**63 - 1])),
            "n": (Kind.DECIMAL, pa.array(["12345678901234567890.12345", "-0.10"])),
            "b": (Kind.BOOLEAN, pa.array([True, False])),
            "t": (Kind.TIME, pa.array([datetime.time(0, 0), datetime.time(23, 59, 59, 999999)], pa.time64("us"))),
            "j": (Kind.JSON, pa.array(['{"a":\n[1, 2]}', '"x"'])),
        }
    )
    assert [r["data"]["i"] for r in records] == [-(2**63), 2**63 - 1]
    assert [r["data"]["t"] for r in records] == ["00:00:00.000000", "23:59:59.999999"]
    assert [r["data"]["b"] for r in records] == [True, False]
    assert [r["data"]["j"] for r in records] == [{"a": [1, 2]}, "x"]
    lines = bytes(
        as_bytes(
            RecordEncoder("s", None, [Column("n", Kind.DECIMAL)]).encode(
                pa.record_batch([pa.array(["12345678901234567890.12345", "-0.10"])], names=["n"]), 1
            )
        )
    ).decode()
    assert '"n":12345678901234567890.12345}' in lines  # the digits as given, not a float
    assert '"n":-0.10}' in lines


def test_time_24_00_is_written_as_postgresql_gives_it():
    midnight_end = pa.array([86_400_000_000, 86_399_999_999], pa.int64()).view(pa.time64("us"))
    assert [r["data"]["t"] for r in encode({"t": (Kind.TIME, midnight_end)})] == ["24:00:00.000000", "23:59:59.999999"]


def test_empty_batch_gives_no_bytes():
    encoder = RecordEncoder("s", None, [Column("i", Kind.INTEGER)])
    assert bytes(as_bytes(encoder.encode(pa.record_batch([pa.array([], pa.int64())], names=["i"]), 1))) == b""


def test_checkpoint_clock_cuts_every_n_rows_across_batches():
    clock = CheckpointClock(rows=4, seconds=3600)
    cuts = []
    for size in (3, 6, 2):
        batch = pa.record_batch([pa.array(range(size))], names=["x"])
        pieces = list(clock.split(batch))
        assert sum(len(p) for p, _ in pieces) == size
        cuts += [(len(p), due) for p, due in pieces]
    assert cuts == [(3, False), (1, True), (4, True), (1, False), (2, False)]


def test_checkpoint_clock_is_due_after_the_interval_in_seconds():
    now = [0.0]
    clock = CheckpointClock(rows=1000, seconds=10, clock=lambda: now[0])
    batch = pa.record_batch([pa.array(range(5))], names=["x"])
    assert [due for _, due in clock.split(batch)] == [False]
    now[0] = 11.0
    assert [due for _, due in clock.split(batch)] == [True]
    assert [due for _, due in clock.split(batch)] == [False]
