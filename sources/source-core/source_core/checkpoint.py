"""When a stream owes a STATE, and how it is written."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    StreamDescriptor,
    Type,
)


class CheckpointClock:
    """Cuts a stream's batches so that a STATE follows every `rows` records, or sooner after `seconds`."""

    def __init__(self, rows: int, seconds: float, clock=time.monotonic):
        self.rows = rows
        self.seconds = seconds
        self._clock = clock
        self._pending = 0
        self._since = clock()

    def split(self, batch: pa.RecordBatch) -> Iterator[tuple[pa.RecordBatch, bool]]:
        """Slices of `batch`, each with whether a checkpoint is due right after it."""
        start = 0
        while start < len(batch):
            take = min(len(batch) - start, self.rows - self._pending)
            self._pending += take
            due = self._pending >= self.rows or self._clock() - self._since >= self.seconds
            yield batch.slice(start, take), due
            if due:
                self._pending = 0
                self._since = self._clock()
            start += take


def state_message(name: str, namespace: str | None, stream_state: Mapping[str, Any]) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=name, namespace=namespace),
                stream_state=AirbyteStateBlob(**stream_state),
            ),
        ),
    )


def stream_states(messages: list[AirbyteStateMessage] | None) -> dict[tuple[str | None, str], dict[str, Any]]:
    """Per-stream states from `--state`, keyed by (namespace, name); a null `stream_state` means start over."""
    states: dict[tuple[str | None, str], dict[str, Any]] = {}
    for message in messages or []:
        if message.type == AirbyteStateType.STREAM and message.stream and message.stream.stream_state:
            descriptor = message.stream.stream_descriptor
            blob = message.stream.stream_state
            states[(descriptor.namespace, descriptor.name)] = dict(blob.__dict__)
    return states
