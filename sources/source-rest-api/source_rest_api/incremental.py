"""Incremental reads exact at cursor ties.

The request asks for cursor >= the state's value, so records at the boundary come again: those whose primary key
the state lists are skipped (without a primary key they are re-read: duplicates, never losses). The STATE holds
the highest cursor value emitted and the keys of the records at it. A STATE is emitted mid-stream only while
records arrive in cursor order; out of order, only the final one is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from source_rest_api.config import Incremental, dig


def order_key(value: Any) -> tuple[int, Any]:
    """A sort key for a cursor value: numbers by value, RFC 3339 texts by instant, other text as text."""
    if isinstance(value, bool):
        return (2, str(value))
    if isinstance(value, int | float):
        return (0, value)
    text = str(value)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return (2, text)
    return (1, (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


class CursorTracker:
    def __init__(self, settings: Incremental, primary_key: list[str], state: dict[str, Any] | None):
        self.settings = settings
        self.primary_key = primary_key
        start = (state or {}).get("cursor", settings.start_value)
        self.start = start
        self._start_key = order_key(start) if start is not None else None
        self._seen = {tuple(k) for k in (state or {}).get("keys_at_cursor", [])} if start is not None else set()
        self.max = start
        self._max_key = self._start_key
        self._keys_at_max = set(self._seen)
        self.ordered = True

    def _key(self, record: dict[str, Any]) -> tuple[Any, ...] | None:
        return tuple(dig(record, f) for f in self.primary_key) if self.primary_key else None

    def keep(self, record: Any) -> bool:
        """Whether `record` is new; its cursor value then moves the state."""
        value = dig(record, self.settings.cursor_field)
        if value is None:
            return True  # it cannot be placed, so it is never dropped
        key = order_key(value)
        pk = self._key(record)
        start = self._start_key
        if start is not None and (key < start or (key == start and pk is not None and pk in self._seen)):
            return False
        if self._max_key is None or key > self._max_key:
            self.max, self._max_key, self._keys_at_max = value, key, set()
        elif key < self._max_key:
            self.ordered = False
        if pk is not None:
            self._keys_at_max.add(pk)
        return True

    def state(self) -> dict[str, Any]:
        if self.max is None:
            return {}
        return {"cursor": self.max, "keys_at_cursor": sorted((list(k) for k in self._keys_at_max), key=repr)}

    def request_value(self) -> Any:
        """The start value as the request parameter takes it (rounded down, so nothing at the boundary is missed)."""
        if self.start is None or self.settings.format == "as_is":
            return self.start
        _, instant = order_key(self.start)
        if isinstance(instant, str):
            return self.start
        if self.settings.format == "epoch_seconds":
            return int(instant // 1)
        return datetime.fromtimestamp(instant, UTC).date().isoformat()
