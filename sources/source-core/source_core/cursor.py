"""Incremental reads exact at cursor ties, shared by the API connectors.

The request asks for cursor >= the state's value, so records at the boundary come again: those whose primary key
the state lists are skipped (without a primary key they are re-read: duplicates, never losses). The STATE holds
the highest cursor value emitted and the keys of the records at it. While records arrive in cursor order a STATE
may follow any record; out of order (`ordered` turns False), only one after the whole read (or a window that
bounds every value still to come) is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Key = tuple[Any, ...]


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
    def __init__(self, state: dict[str, Any] | None, start_value: Any = None):
        start = (state or {}).get("cursor", start_value)
        self.start = start
        self._start_key = order_key(start) if start is not None else None
        self._seen = {tuple(k) for k in (state or {}).get("keys_at_cursor", [])} if start is not None else set()
        self.max = start
        self._max_key = self._start_key
        self._keys_at_max = set(self._seen)
        self.ordered = True

    def keep(self, value: Any, key: Key | None) -> bool:
        """Whether the record with cursor `value` and primary key `key` is new; if so it moves the state."""
        if value is None:
            return True  # it cannot be placed, so it is never dropped
        at = order_key(value)
        start = self._start_key
        if start is not None and (at < start or (at == start and key is not None and key in self._seen)):
            return False
        if self._max_key is None or at > self._max_key:
            self.max, self._max_key, self._keys_at_max = value, at, set()
        elif at < self._max_key:
            self.ordered = False
            return True
        if key is not None:
            self._keys_at_max.add(key)
        return True

    def state(self) -> dict[str, Any]:
        if self.max is None:
            return {}
        return {"cursor": self.max, "keys_at_cursor": sorted((list(k) for k in self._keys_at_max), key=repr)}
