"""write_messages: order, sourceStats, and nothing produced before a failure is lost."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import state_message
from source_core.emit import Column, Kind, RecordEncoder
from source_core.launch import Records, write_messages

ENCODER = RecordEncoder("s", "ns", [Column("id", Kind.INTEGER)])


def records(*ids: int) -> Records:
    return Records(ENCODER, pa.record_batch([pa.array(ids)], names=["id"]))


def lines(out: io.BytesIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().decode().splitlines()]


def test_order_and_record_counts_on_states():
    out = io.BytesIO()
    write_messages(
        [records(1, 2), records(3), state_message("s", "ns", {"n": 1}), records(4), state_message("s", "ns", {"n": 2})],
        out,
    )
    got = lines(out)
    assert [m.get("record", {}).get("data", {}).get("id") for m in got if m["type"] == "RECORD"] == [1, 2, 3, 4]
    assert [m["type"] for m in got] == ["RECORD"] * 3 + ["STATE", "RECORD", "STATE"]
    assert [m["state"]["sourceStats"]["recordCount"] for m in got if m["type"] == "STATE"] == [3.0, 1.0]


def test_what_came_before_a_failure_is_written():
    big = list(range(10, 200_010))  # still being encoded when the source fails right after

    def failing():
        for i in range(10):
            yield records(i)
            yield state_message("s", "ns", {"n": i})
        yield records(*big)
        yield state_message("s", "ns", {"n": "last"})
        raise AirbyteTracedException(message="boom")

    out = io.BytesIO()
    with pytest.raises(AirbyteTracedException):
        write_messages(failing(), out)
    got = lines(out)
    assert [m["record"]["data"]["id"] for m in got if m["type"] == "RECORD"] == list(range(10)) + big
    assert [m["state"]["stream"]["stream_state"]["n"] for m in got if m["type"] == "STATE"] == [*range(10), "last"]
