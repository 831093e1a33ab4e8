"""Per-stream bracketing of a read, as airbyte-cdk's AbstractSource does it.

A read goes unit by unit: a unit is one stream, or streams read in one pass (a Shopify parent and its children).
Each of its streams gets STARTED, RUNNING (with its first records) and COMPLETE, or INCOMPLETE plus a TRACE ERROR
when the unit fails; the other units still run, and the read then ends with an error naming the failed streams.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from airbyte_cdk.models import AirbyteMessage, AirbyteStreamStatus, FailureType, StreamDescriptor
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.launch import Records

T = TypeVar("T")


def _label(desc: StreamDescriptor) -> str:
    return desc.name if desc.namespace is None else f"{desc.namespace}.{desc.name}"


def _said(exc: Exception, traced: AirbyteTracedException) -> str:
    """What went wrong in words: the traced message, else the exception itself (a bug's own text)."""
    if traced.message:
        return traced.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def read_streams(
    logger: logging.Logger,
    units: Iterable[T],
    descriptors: Callable[[T], list[StreamDescriptor]],
    read_one: Callable[[T], Iterator[AirbyteMessage | Records]],
) -> Iterator[AirbyteMessage | Records]:
    failed: list[tuple[str, str, FailureType]] = []
    for unit in units:
        by_name = {d.name: d for d in descriptors(unit)}  # a unit's streams have distinct names
        for desc in by_name.values():
            yield status_message(desc, AirbyteStreamStatus.STARTED)
        running: set[str] = set()
        try:
            for message in read_one(unit):
                if isinstance(message, Records) and message.encoder.stream not in running:
                    running.add(message.encoder.stream)
                    yield status_message(by_name[message.encoder.stream], AirbyteStreamStatus.RUNNING)
                yield message
        except Exception as exc:  # noqa: BLE001 - every failure becomes its streams' TRACE
            traced = exc if isinstance(exc, AirbyteTracedException) else AirbyteTracedException.from_exception(exc)
            said = _said(exc, traced)
            for desc in by_name.values():
                logger.error(f"{_label(desc)} failed: {said}")
                yield status_message(desc, AirbyteStreamStatus.INCOMPLETE)
                yield traced.as_sanitized_airbyte_message(stream_descriptor=desc)
                failed.append((_label(desc), said, traced.failure_type))
            continue
        for desc in by_name.values():
            yield status_message(desc, AirbyteStreamStatus.COMPLETE)
    if failed:
        kinds = {kind for _, _, kind in failed}
        raise AirbyteTracedException(
            message="These streams did not sync: " + "; ".join(f"{name}: {said}" for name, said, _ in failed),
            failure_type=kinds.pop() if len(kinds) == 1 else FailureType.system_error,
        )
