"""Rate limiting before the server says no: a token bucket (the client's own budget) plus pauses the server
asks for (`Retry-After`, an exhausted `X-RateLimit-Remaining` until `X-RateLimit-Reset`, or a connector hook
such as Shopify's query cost). A pause longer than the settings' `max_server_wait_seconds` is not waited for: the
request ends in a transient error saying how long the API asked to wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# Header values above this are epoch seconds (GitHub's X-RateLimit-Reset), below it seconds from now ...
_EPOCH_THRESHOLD = 1_000_000_000
# ... and above this epoch milliseconds (as epoch seconds it would be the year 33658)
_EPOCH_MS_THRESHOLD = 1_000_000_000_000

PacingHook = Callable[[requests.Response], float | None]
"""Seconds the next request to the same API must wait after this response (None: no opinion)."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """`Retry-After` as seconds from now: delta seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _number(response: requests.Response, header: str) -> float | None:
    try:
        return float(response.headers[header])
    except (KeyError, ValueError):
        return None


def rate_limit_remaining(response: requests.Response) -> int | None:
    remaining = _number(response, "X-RateLimit-Remaining")
    return None if remaining is None else int(remaining)


def reset_seconds(response: requests.Response) -> float | None:
    """`X-RateLimit-Reset` as seconds from now (it may be given as epoch seconds or milliseconds)."""
    reset = _number(response, "X-RateLimit-Reset")
    if reset is None:
        return None
    if reset > _EPOCH_MS_THRESHOLD:
        reset /= 1000
    return max(0.0, reset - time.time()) if reset > _EPOCH_THRESHOLD else reset


def wait_too_long(seconds: float, why: str, most: float) -> AirbyteTracedException:
    """Not waited for: a sync hanging for hours says nothing, a transient error says what the API asked."""
    return AirbyteTracedException(
        message=f"The API asked to wait {seconds:.0f} s ({why}) before the next request, longer than "
        f"http.max_server_wait_seconds ({most:g} s): try again later. Every STATE emitted before this is safe to "
        "resume from.",
        failure_type=FailureType.transient_error,
    )


class Pacer:
    """Decides how long to wait before each request to one API."""

    def __init__(
        self,
        requests_per_second: float | None,
        burst: int,
        max_wait: float,
        hook: PacingHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = requests_per_second
        self.burst = float(burst)
        self.max_wait = max_wait
        self.hook = hook
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._refilled = clock()
        self._not_before = 0.0  # monotonic time before which the server asked us not to send
        self._why = ""  # what set `_not_before`

    def wait(self) -> float:
        """Sleep until a request may go, take its token; returns the seconds slept. A pause the server asked for
        that is longer than `max_wait` raises a transient error instead."""
        now = self._clock()
        asked = self._not_before - now
        if asked > self.max_wait:
            raise wait_too_long(asked, self._why, self.max_wait)
        delay = max(0.0, asked)
        if self.rate:
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            delay = max(delay, (1.0 - self._tokens) / self.rate)
        if delay > 0:
            self._sleep(delay)
        if self.rate:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate) - 1.0
            self._refilled = now
        return delay

    def pause(self, seconds: float, why: str) -> None:
        """Send nothing for `seconds` from now (a later deadline already set is kept); `why`: the server's signal."""
        until = self._clock() + seconds
        if until > self._not_before:
            self._not_before, self._why = until, why

    def observe(self, response: requests.Response) -> None:
        """Adapt to what the server reported in `response`."""
        retry_after = retry_after_seconds(response) if response.status_code in (429, 503) else None
        if retry_after is not None:
            self.pause(retry_after, "Retry-After")
        remaining = rate_limit_remaining(response)
        if remaining is not None and remaining <= 0:
            reset = reset_seconds(response)
            if reset is not None:
                self.pause(reset, "X-RateLimit-Reset")
        if self.hook is not None:
            extra = self.hook(response)
            if extra:
                self.pause(extra, "the connector's pacing hook")
