"""Incremental reads exact at cursor ties, shared by the API connectors.

The request asks for cursor >= the state's value, so records at the boundary come again: those whose primary key
the state lists are skipped (without a primary key they are re-read: duplicates, never losses). The STATE holds
the highest cursor value emitted and the keys of the records at it. While records arrive in cursor order a STATE
may follow any record; out of order (`ordered` turns False), only one after the whole read (or a window that
bounds every value still to come) is exact.

Values compare by what they mean (`CursorOrder`), never by their text: a value the connector cannot read, or one
of another kind than the values before it, is a config error instead of a guess that would drop records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from source_core.config import config_error

Key = tuple[Any, ...]
SortKey = tuple[str, Any]  # (kind, comparable value); values of different kinds do not compare

NUMBER, DATE, TEXT = "a number", "a date", "a text"
INTEGER = re.compile(r"[+-]?\d+")
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
NO_VALUE = re.compile(r"|0000-00-00([ T]00:00:00(\.0+)?)?")  # empty text and MySQL's zero date and datetime


@dataclass(frozen=True)
class CursorOrder:
    """How a stream's cursor values compare. `pattern` is `auto` (numbers and numeric texts by value; RFC 3339 /
    ISO 8601 and RFC 1123 texts by instant), `epoch_seconds` (the same, numbers being epoch seconds that compare
    with dates), `text` (plain text order) or a strptime pattern tried before the `auto` forms. `label` names the
    stream and field, `setting` the config field holding the pattern, in error messages."""

    pattern: str = "auto"
    label: str = "The cursor"
    setting: str = "the cursor's format"

    def key(self, value: Any) -> SortKey | None:
        """The sort key of `value`; None for no value (null, empty text, a zero date): it cannot be placed."""
        if value is None or (isinstance(value, str) and NO_VALUE.fullmatch(value)):
            return None
        if self.pattern == "text":
            return (TEXT, str(value))
        number = _number(value)
        if number is not None:
            return (DATE, float(number)) if self.pattern == "epoch_seconds" else (NUMBER, number)
        when = self._date(value)
        if when is None:
            raise self._unreadable(value)
        return (DATE, (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())

    def _date(self, value: Any) -> datetime | None:
        if not isinstance(value, str):
            return None
        if self.pattern not in ("auto", "epoch_seconds"):
            try:
                return datetime.strptime(value, self.pattern)
            except ValueError:
                pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None

    def _unreadable(self, value: Any) -> Exception:
        pattern = "" if self.pattern in ("auto", "epoch_seconds") else f", nor text in the pattern {self.pattern!r}"
        return config_error(
            f"{self.label}: {value!r} is neither a number nor a date in RFC 3339 / ISO 8601 or RFC 1123 form"
            f"{pattern}, so it cannot be compared safely: set {self.setting} to the values' strptime pattern "
            "(such as '%m/%d/%Y %H:%M', read as UTC unless it has %z), or to 'text' to compare them as plain text."
        )

    def mismatch(self, before: Any, value: Any, kinds: tuple[str, str]) -> Exception:
        return config_error(
            f"{self.label}: {before!r} is {kinds[0]} and {value!r} is {kinds[1]}, which do not compare: give "
            f"start_value in the records' own form, or, if the numbers are epoch seconds, set {self.setting} to "
            "'epoch_seconds'."
        )


def _number(value: Any) -> int | float | Decimal | None:
    """`value` as a number if it is one or a numeric text (compared by value: '999' < '1000')."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if INTEGER.fullmatch(value):
            return int(value)
        if DECIMAL.fullmatch(value):
            return Decimal(value)
    return None


class CursorTracker:
    def __init__(self, state: dict[str, Any] | None, start_value: Any = None, order: CursorOrder | None = None):
        self.order = order or CursorOrder()
        start = (state or {}).get("cursor", start_value)
        self._start_key = self.order.key(start)
        self.start = start if self._start_key is not None else None  # a state holding no value reads it all
        self._seen = {tuple(k) for k in (state or {}).get("keys_at_cursor", [])} if self.start is not None else set()
        self.max = self.start
        self._max_key = self._start_key
        self._keys_at_max = set(self._seen)
        self._first = self.start  # the first value placed, to name in an error about kinds
        self.ordered = True
        self.unplaced = 0  # records without a value to place: read, never moving the state

    def keep(self, value: Any, key: Key | None) -> bool:
        """Whether the record with cursor `value` and primary key `key` is new; if so it moves the state."""
        at = self.order.key(value)
        if at is None:
            self.unplaced += 1
            return True  # it cannot be placed, so it is never dropped
        self._same_kind(value, at)
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

    def hold_at(self, value: Any) -> None:
        """Keep the state at or before `value`: the records read after it come again next time (duplicates, never
        losses). For a read that is no snapshot (a record changed during it may be missing from it, while one
        changed after it is there): the state may not pass the time the read started. Never before the start."""
        limit = self.order.key(value)
        if limit is None or self._max_key is None or self._max_key <= limit:
            return
        if self._start_key is not None and limit <= self._start_key:
            self.max, self._max_key, self._keys_at_max = self.start, self._start_key, set(self._seen)
        else:
            self.max, self._max_key, self._keys_at_max = value, limit, set()

    def _same_kind(self, value: Any, at: SortKey) -> None:
        if self._max_key is None:
            self._first = value
        elif at[0] != self._max_key[0]:
            raise self.order.mismatch(self._first, value, (self._max_key[0], at[0]))

    def state(self) -> dict[str, Any]:
        if self.max is None:
            return {}
        return {"cursor": self.max, "keys_at_cursor": sorted((list(k) for k in self._keys_at_max), key=repr)}
