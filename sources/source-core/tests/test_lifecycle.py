"""read_streams: each failed unit's streams are INCOMPLETE with a TRACE, the other units still run, and the read
ends with one error naming every failed stream and what went wrong."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from airbyte_cdk.models import AirbyteMessage, FailureType, StreamDescriptor
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error
from source_core.launch import Records
from source_core.lifecycle import read_streams

UNITS = {"a": None, "b": None, "c": "ns"}  # stream name -> namespace


def descriptors(name: str) -> list[StreamDescriptor]:
    return [StreamDescriptor(name=name, namespace=UNITS[name])]


def read_one(name: str) -> Iterator[AirbyteMessage | Records]:
    if name == "a":
        raise TypeError("'NoneType' object is not subscriptable")  # a bug: no traced error, no message
    if name == "c":
        raise config_error("Check the path of stream 'c'.")
    yield from ()


def statuses(messages: list[AirbyteMessage | Records]) -> list[str]:
    found = [m.trace.stream_status for m in messages if isinstance(m, AirbyteMessage) and m.trace]
    return [f"{s.stream_descriptor.name} {s.status.value}" for s in found if s]


def test_the_closing_error_names_each_failed_stream_and_its_failure() -> None:
    seen: list[AirbyteMessage | Records] = []
    with pytest.raises(AirbyteTracedException) as raised:
        seen.extend(read_streams(logging.getLogger("test_lifecycle"), UNITS, descriptors, read_one))
    assert statuses(seen) == ["a STARTED", "a INCOMPLETE", "b STARTED", "b COMPLETE", "c STARTED", "c INCOMPLETE"]
    assert raised.value.message == (
        "These streams did not sync: a: TypeError: 'NoneType' object is not subscriptable; "
        "ns.c: Check the path of stream 'c'."
    )
    assert raised.value.failure_type == FailureType.system_error  # failures of two kinds
