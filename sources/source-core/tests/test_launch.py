"""write_messages: order, sourceStats, nothing produced before a failure is lost, nothing after it is written."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import state_message
from source_core.emit import Column, Kind, RecordEncoder
from source_core.launch import EncodeError, Records, write_messages

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


def test_nothing_after_a_batch_that_fails_to_encode_is_written():
    unencodable = Records(ENCODER, pa.record_batch([pa.array([5, 6])], names=["other"]))  # no column "id"
    closed = []

    def source():
        try:
            yield records(1, 2)
            yield state_message("s", "ns", {"n": 2})
            yield unencodable
            yield state_message("s", "ns", {"n": 6})
            yield records(7, 8)
            yield state_message("s", "ns", {"n": 8})
        finally:
            closed.append(True)

    out = io.BytesIO()
    with pytest.raises(EncodeError) as raised:
        write_messages(source(), out)
    got = lines(out)
    assert [m["type"] for m in got] == ["RECORD", "RECORD", "STATE", "TRACE"]
    assert got[2]["state"]["stream"]["stream_state"] == {"n": 2}
    assert got[-1]["trace"]["stream_status"]["status"] == "INCOMPLETE"
    assert got[-1]["trace"]["stream_status"]["stream_descriptor"] == {"name": "s", "namespace": "ns"}
    error = raised.value.as_airbyte_message().trace.error
    assert error.stream_descriptor.name == "s" and "ns.s" in error.message
    assert closed == [True]  # the source was stopped
