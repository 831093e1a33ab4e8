"""Stream statuses around a family's one pass: each of its streams STARTED before it, RUNNING with its first
records, COMPLETE after it; if the pass fails, each INCOMPLETE with a TRACE ERROR, the other families still run,
and the read then ends with an error naming the streams that did not sync (as `source_core.lifecycle` does for
one stream at a time)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from airbyte_cdk.models import AirbyteMessage, AirbyteStreamStatus, FailureType
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.launch import Records
from source_shopify.family import Family


def read_families(
    logger: logging.Logger, families: Iterable[Family], read_one: Callable[[Family], Iterator[AirbyteMessage | Records]]
) -> Iterator[AirbyteMessage | Records]:
    failed: list[tuple[str, AirbyteTracedException]] = []
    for family in families:
        descriptors = {d.name: d for d in family.descriptors}
        for desc in descriptors.values():
            yield status_message(desc, AirbyteStreamStatus.STARTED)
        running: set[str] = set()
        try:
            for message in read_one(family):
                if isinstance(message, Records) and message.encoder.stream not in running:
                    running.add(message.encoder.stream)
                    yield status_message(descriptors[message.encoder.stream], AirbyteStreamStatus.RUNNING)
                yield message
        except Exception as exc:  # noqa: BLE001 - every failure becomes its streams' TRACE
            traced = exc if isinstance(exc, AirbyteTracedException) else AirbyteTracedException.from_exception(exc)
            logger.error(f"{', '.join(descriptors)} failed: {traced.message}")
            for desc in descriptors.values():
                yield status_message(desc, AirbyteStreamStatus.INCOMPLETE)
                yield traced.as_sanitized_airbyte_message(stream_descriptor=desc)
                failed.append((desc.name, traced))
            continue
        for desc in descriptors.values():
            yield status_message(desc, AirbyteStreamStatus.COMPLETE)
    if failed:
        kinds = {exc.failure_type for _, exc in failed}
        raise AirbyteTracedException(
            message="These streams did not sync: " + "; ".join(f"{name}: {exc.message}" for name, exc in failed),
            failure_type=kinds.pop() if len(kinds) == 1 else FailureType.system_error,
        )
