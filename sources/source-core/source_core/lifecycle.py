"""Per-stream bracketing of a read, as airbyte-cdk's AbstractSource does it.

Each stream gets STARTED, RUNNING (with its first records) and COMPLETE, or INCOMPLETE plus a TRACE ERROR
when it fails; the other streams still run, and the read then ends with an error naming the failed streams.
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


def read_streams(
    logger: logging.Logger,
    streams: Iterable[T],
    descriptor: Callable[[T], StreamDescriptor],
    read_one: Callable[[T], Iterator[AirbyteMessage | Records]],
) -> Iterator[AirbyteMessage | Records]:
    failed: list[tuple[str, AirbyteTracedException]] = []
    for stream in streams:
        desc = descriptor(stream)
        yield status_message(desc, AirbyteStreamStatus.STARTED)
        running = False
        try:
            for message in read_one(stream):
                if not running and isinstance(message, Records):
                    running = True
                    yield status_message(desc, AirbyteStreamStatus.RUNNING)
                yield message
        except Exception as exc:  # noqa: BLE001 - every failure becomes this stream's TRACE
            traced = exc if isinstance(exc, AirbyteTracedException) else AirbyteTracedException.from_exception(exc)
            traced.stream_descriptor = desc
            logger.error(f"{desc.namespace}.{desc.name} failed: {traced.message}")
            yield status_message(desc, AirbyteStreamStatus.INCOMPLETE)
            yield traced.as_sanitized_airbyte_message(stream_descriptor=desc)
            failed.append((f"{desc.namespace}.{desc.name}", traced))
            continue
        yield status_message(desc, AirbyteStreamStatus.COMPLETE)
    if failed:
        kinds = {exc.failure_type for _, exc in failed}
        raise AirbyteTracedException(
            message="These streams did not sync: " + "; ".join(f"{name}: {exc.message}" for name, exc in failed),
            failure_type=kinds.pop() if len(kinds) == 1 else FailureType.system_error,
        )
