"""Incremental reads of a configured stream: the shared `CursorTracker` fed with the record's cursor field and
primary key (see `source_core.cursor` for how ties at the boundary are kept exact and how values compare)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from source_core.cursor import TEXT, CursorOrder, CursorTracker
from source_rest_api.config import StreamConfig, dig


def cursor_order(stream: StreamConfig) -> CursorOrder:
    """How the stream's cursor values compare; a start value sent as epoch seconds makes numbers epoch seconds."""
    settings = stream.incremental
    pattern = settings.cursor_format
    if pattern == "auto" and settings.format == "epoch_seconds":
        pattern = "epoch_seconds"
    return CursorOrder(
        pattern,
        label=f"Stream {stream.name!r}, cursor {settings.cursor_field!r}",
        setting=f"the stream's incremental.cursor_format (now {settings.cursor_format!r})",
    )


class RecordCursor(CursorTracker):
    def __init__(self, stream: StreamConfig, state: dict[str, Any] | None):
        super().__init__(state, stream.incremental.start_value, cursor_order(stream))
        self.settings = stream.incremental
        self.primary_key = stream.primary_key

    def keep_record(self, record: Any) -> bool:
        """Whether `record` is new; its cursor value then moves the state."""
        key = tuple(dig(record, f) for f in self.primary_key) if self.primary_key else None
        return self.keep(dig(record, self.settings.cursor_field), key)

    def request_value(self) -> Any:
        """The start value as the request parameter takes it (rounded down, so nothing at the boundary is missed)."""
        if self.start is None or self.settings.format == "as_is":
            return self.start
        kind, instant = self.order.key(self.start)
        if kind == TEXT:
            return self.start
        if self.settings.format == "epoch_seconds":
            return int(instant // 1)
        return datetime.fromtimestamp(float(instant), UTC).date().isoformat()
