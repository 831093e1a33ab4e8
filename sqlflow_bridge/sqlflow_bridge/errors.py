"""The one exception the bridge raises for a connector's failure."""

from __future__ import annotations

from typing import Any

from airbyte_cdk.models import FailureType


class ConnectorError(Exception):
    """A connector failed: its own message (what to fix) and failure type, secrets already masked.

    `failure_type` is the connector's TRACE `failure_type` (config_error, system_error, transient_error);
    `internal_message` its technical detail; `stream` the stream that failed, when the connector said which;
    `acknowledged`, for a failed write, the STATEs the destination committed before it failed.
    """

    def __init__(
        self,
        message: str,
        failure_type: FailureType | str = FailureType.system_error,
        internal_message: str | None = None,
        stream: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.failure_type = FailureType(failure_type) if failure_type else FailureType.system_error
        self.internal_message = internal_message
        self.stream = stream
        self.acknowledged: list[dict[str, Any]] = []

    @classmethod
    def from_trace(cls, error: dict[str, Any]) -> ConnectorError:
        """From a TRACE ERROR's `error` object."""
        descriptor = error.get("stream_descriptor") or {}
        return cls(
            error.get("message") or "The connector failed without a message.",
            error.get("failure_type") or FailureType.system_error,
            error.get("internal_message"),
            descriptor.get("name"),
        )

    @classmethod
    def from_traced(cls, exc: Any) -> ConnectorError:
        """From an `AirbyteTracedException` raised by code this bridge shares with the connectors."""
        return cls(exc.message, exc.failure_type or FailureType.system_error, exc.internal_message)

    def __str__(self) -> str:
        return f"{self.message} ({self.failure_type.value})"


def config_error(message: str) -> ConnectorError:
    """An error in what the bridge was given (its own parameters, not the connector's)."""
    return ConnectorError(message, FailureType.config_error)
