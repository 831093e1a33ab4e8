"""A connector's read output -> typed batches per stream and STATE messages, in the order they came.

JSON lines are parsed in bulk by destination-core's `MessageParser` (one DuckDB pass per block of lines);
in-process Arrow batches skip JSON altogether. Every state comes after all the records that preceded it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.parse import MessageParser, StreamKey
from destination_core.parse import logger as parser_logger
from destination_core.streams import TargetStream
from source_core.http import parse_figures
from source_core.launch import Records
from sqlflow_bridge.arrow import Typed, from_parsed, from_records
from sqlflow_bridge.errors import ConnectorError
from sqlflow_bridge.runners import Run
from sqlflow_bridge.secrets import Masker, masked_logs

_LOG_LEVELS = {"FATAL": logging.CRITICAL, "ERROR": logging.ERROR, "WARN": logging.WARNING, "DEBUG": logging.DEBUG}


@dataclass(frozen=True)
class Batch:
    stream: TargetStream
    typed: Typed


@dataclass(frozen=True)
class State:
    message: dict[str, Any]  # the STATE message's `state` object


def connector_failure(run: Run, label: str, errors: list[dict[str, Any]], masker: Masker) -> ConnectorError | None:
    """The error a finished run ends with: its last TRACE ERROR, or a non-zero exit with the stderr tail."""
    code = run.wait()
    if errors:
        error = ConnectorError.from_trace(errors[-1])
        error.message = masker(error.message)
        error.internal_message = masker(error.internal_message)
        return error
    if code != 0:
        tail = masker(run.stderr_tail().strip())[-1000:] or "no output on stderr"
        return ConnectorError(f"{label} exited with code {code} without saying why; its stderr ends: {tail}")
    return None


def handle_control(
    message: dict[str, Any], label: str, masker: Masker, log: logging.Logger, errors: list, http: dict[str, Any]
) -> None:
    """LOG lines go to `log` (masked), an API connector's HTTP figures into `http`, TRACE ERRORs are kept for the
    end of the run."""
    kind = message.get("type")
    if kind == "LOG":
        entry = message.get("log") or {}
        log.log(_LOG_LEVELS.get(entry.get("level"), logging.INFO), "%s: %s", label, masker(entry.get("message")))
        if (figures := parse_figures(entry.get("message") or "")) is not None:
            http.clear()
            http.update(figures)
    elif kind == "TRACE" and (message.get("trace") or {}).get("type") == "ERROR":
        errors.append(message["trace"]["error"])


def read_events(
    run: Run,
    streams: dict[StreamKey, TargetStream],
    label: str,
    masker: Masker,
    log: logging.Logger,
    http: dict[str, Any],
) -> Iterator[Batch | State]:
    """Typed batches and states of one `read`; raises `ConnectorError` if the connector failed."""
    errors: list[dict[str, Any]] = []
    # The parser logs stray stdout lines (which may hold a secret) through its own logger.
    with closing(MessageParser(streams, exact_numbers=False)) as parser, masked_logs(parser_logger, masker):
        for piece in run.pieces():
            if isinstance(piece, Records):
                key = (piece.encoder.namespace, piece.encoder.stream)
                if key not in streams:
                    raise ConnectorError(f"{label} sent records of stream {key}, which the catalog does not hold.")
                yield Batch(streams[key], from_records(streams[key], piece))
                continue
            try:
                chunk = parser.parse(piece)
            except AirbyteTracedException as exc:
                raise ConnectorError(
                    masker(f"{label} wrote output that is not the Airbyte protocol: {exc.message}"),
                    exc.failure_type,
                    masker(exc.internal_message),
                ) from None
            for stream, table in chunk.before:
                yield Batch(stream, from_parsed(stream, table))
            for message in chunk.controls:
                if message["type"] == "STATE":
                    yield State(message["state"])
                else:
                    handle_control(message, label, masker, log, errors, http)
            for stream, table in chunk.after:
                yield Batch(stream, from_parsed(stream, table))
    failure = connector_failure(run, label, errors, masker)
    if failure is not None:
        raise failure
