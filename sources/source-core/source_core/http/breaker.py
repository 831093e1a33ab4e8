"""A circuit breaker per host (pybreaker): after N consecutive failed attempts it opens, lets nothing through
for the cool-down, then half-opens for one probe whose outcome closes or re-opens it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pybreaker


class _OpenedAt(pybreaker.CircuitBreakerListener):
    def __init__(self, on_open: Callable[[], None]):
        self.opened_at = 0.0
        self._on_open = on_open

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state is not None and new_state.name == pybreaker.STATE_OPEN:
            self.opened_at = time.monotonic()
            self._on_open()


class HostBreakers:
    def __init__(
        self,
        failures: int,
        cooldown_seconds: float,
        on_open: Callable[[], None],
        not_failures: Iterable[Callable[[Any], bool]] = (),
    ):
        """`not_failures`: predicates on an exception that pass it through without counting it as a failure."""
        self.failures = failures
        self._not_failures = list(not_failures)
        self.cooldown = cooldown_seconds
        self._on_open = on_open
        self._breakers: dict[str, tuple[pybreaker.CircuitBreaker, _OpenedAt]] = {}

    def get(self, host: str) -> pybreaker.CircuitBreaker:
        return self._entry(host)[0]

    def remaining_cooldown(self, host: str) -> float:
        """Seconds until the open breaker of `host` lets a probe through (0 when it is not open)."""
        breaker, listener = self._entry(host)
        if breaker.current_state != pybreaker.STATE_OPEN:
            return 0.0
        # at least a little: pybreaker keeps its own clock, and must see the cool-down over before a probe
        return max(0.01, listener.opened_at + self.cooldown - time.monotonic())

    def _entry(self, host: str) -> tuple[pybreaker.CircuitBreaker, _OpenedAt]:
        if host not in self._breakers:
            listener = _OpenedAt(self._on_open)
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.failures,
                reset_timeout=self.cooldown,
                listeners=[listener],
                exclude=self._not_failures,
                name=host,
                throw_new_error_on_trip=False,  # the failure that trips it keeps its own status for the report
            )
            self._breakers[host] = (breaker, listener)
        return self._breakers[host]
