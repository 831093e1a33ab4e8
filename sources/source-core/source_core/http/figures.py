"""Per-run HTTP figures, logged once at the end of a read as a JSON LOG message.

The LOG message's `message` is a JSON object `{"http_figures": {...}}` with: requests, retries, throttled (429
responses), errors (failed attempts: connection errors, timeouts, statuses >= 400), breaker_opens,
latency_mean_ms, latency_p95_ms, bytes (response bodies) and rate_limit_remaining (the last
`X-RateLimit-Remaining` seen, or null).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, Level, Type

LOG_KEY = "http_figures"


@dataclass
class HttpFigures:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0
    breaker_opens: int = 0
    bytes: int = 0
    rate_limit_remaining: int | None = None
    latencies: list[float] = field(default_factory=list)

    def attempt(self, seconds: float, status: int | None, size: int = 0) -> None:
        """One request sent: `status` None when no response came (connection error, timeout)."""
        self.requests += 1
        self.latencies.append(seconds)
        self.bytes += size
        if status == 429:
            self.throttled += 1
        if status is None or status >= 400:
            self.errors += 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "errors": self.errors,
            "breaker_opens": self.breaker_opens,
            "latency_mean_ms": round(1000 * sum(ordered) / len(ordered), 3) if ordered else None,
            "latency_p95_ms": round(1000 * p95, 3) if p95 is not None else None,
            "bytes": self.bytes,
            "rate_limit_remaining": self.rate_limit_remaining,
        }

    def log_message(self) -> AirbyteMessage:
        return AirbyteMessage(
            type=Type.LOG,
            log=AirbyteLogMessage(level=Level.INFO, message=json.dumps({LOG_KEY: self.summary()})),
        )


def parse_figures(message: str) -> dict[str, Any] | None:
    """The figures held by a LOG message's text, or None if it is not such a message."""
    try:
        found = json.loads(message)
    except ValueError:
        return None
    return found.get(LOG_KEY) if isinstance(found, dict) else None
