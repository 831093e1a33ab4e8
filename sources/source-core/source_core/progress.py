"""Progress lines for long reads and writes: rows and rows/s at most every few seconds."""

from __future__ import annotations

import logging
import time


class Progress:
    def __init__(self, logger: logging.Logger, stream: str, every_seconds: float = 5.0, verb: str = "read"):
        self.logger = logger
        self.stream = stream
        self.verb = verb
        self.every = every_seconds
        self.rows = 0
        self.started = self._last = time.monotonic()

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.logger.info(f"{self.stream}: {self.rows:,} rows {self.verb}, {self.rate(now):,.0f} rows/s")

    def rate(self, now: float | None = None) -> float:
        return self.rows / max((now or time.monotonic()) - self.started, 1e-9)

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        self.logger.info(f"{self.stream}: done, {self.rows:,} rows in {elapsed:.1f} s ({self.rate():,.0f} rows/s)")
