"""`CursorTracker.hold_at`: the state of a read that is no snapshot goes no further than the time it started."""

from __future__ import annotations

from source_core.cursor import CursorTracker

START = {"cursor": "2024-01-01T00:00:00Z", "keys_at_cursor": [["a"]]}


def read(tracker: CursorTracker, *records: tuple[str, str]) -> CursorTracker:
    for value, key in records:
        tracker.keep(value, (key,))
    return tracker


def test_a_limit_after_every_record_read_changes_nothing() -> None:
    tracker = read(CursorTracker(START), ("2024-01-02T00:00:00Z", "b"), ("2024-01-03T00:00:00Z", "c"))
    tracker.hold_at("2024-01-03T00:00:01Z")
    assert tracker.state() == {"cursor": "2024-01-03T00:00:00Z", "keys_at_cursor": [["c"]]}


def test_records_after_the_limit_come_again() -> None:
    tracker = read(CursorTracker(START), ("2024-01-02T00:00:00Z", "b"), ("2024-01-03T00:00:00Z", "c"))
    tracker.hold_at("2024-01-02T12:00:00+00:00")
    assert tracker.state() == {"cursor": "2024-01-02T12:00:00+00:00", "keys_at_cursor": []}
    again = CursorTracker(tracker.state())
    assert not again.keep("2024-01-02T00:00:00Z", ("b",))
    assert again.keep("2024-01-03T00:00:00Z", ("c",))


def test_a_limit_at_or_before_the_start_keeps_the_state_read_from() -> None:
    for limit in ("2024-01-01T00:00:00Z", "2023-12-31T00:00:00Z"):
        tracker = read(CursorTracker(START), ("2024-01-02T00:00:00Z", "b"))
        tracker.hold_at(limit)
        assert tracker.state() == START
