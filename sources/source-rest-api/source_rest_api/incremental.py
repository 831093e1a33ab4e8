"""Incremental reads of a configured stream: the shared `CursorTracker` fed with the record's cursor field and
primary key (see `source_core.cursor` for how ties at the boundary are kept exact)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from source_core.cursor import CursorTracker, order_key
from source_rest_api.config import Incremental, dig


class RecordCursor(CursorTracker):
    def __init__(self, settings: Incremental, primary_key: list[str], state: dict[str, Any] | None):
        super().__init__(state, settings.start_value)
        self.settings = settings
        self.primary_key = primary_key

    def keep_record(self, record: Any) -> bool:
        """Whether `record` is new; its cursor value then moves the state."""
        key = tuple(dig(record, f) for f in self.primary_key) if self.primary_key else None
        return self.keep(dig(record, self.settings.cursor_field), key)

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
