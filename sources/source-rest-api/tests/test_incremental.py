"""Incremental reads: exact at cursor ties (three records share each updated_at; pages of 10 split them), a read
resumes from any STATE it emitted, cursor values compare by what they mean (epoch numbers, numeric texts, dates in
several forms), and a record updated during an offset read is never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from source_core.testing import Run, state_list
from tests.conftest import ALL_IDS, INCREMENTAL, Connector, Sandbox, Scripted, catalog, config, listed, saved, stream


def records_after_each_state(run: Run) -> list[tuple[dict, list[int]]]:
    """Each STATE of `run` with the ids the run emitted after it."""
    found, ids = [], []
    for message in run.messages:
        if message["type"] == "STATE":
            found.append((message["state"], len(ids)))
        elif message["type"] == "RECORD":
            ids.append(message["record"]["data"]["id"])
    return [(state, ids[at:]) for state, at in found]


@pytest.fixture
def first_read(api: Sandbox, connector: Connector) -> tuple[dict, Run]:
    items = stream("items", style="offset", incremental=INCREMENTAL)
    items["pagination"]["page_size"] = 10
    cfg = config(api, items, checkpoint_records=10)
    run = connector.run("read", cfg, catalog(items, incremental=True))
    assert run.exit_code == 0, run.stderr[-2000:]
    return cfg, run


def test_resume_from_states_inside_ties(connector: Connector, first_read: tuple[dict, Run]) -> None:
    cfg, run = first_read
    assert run.ids() == ALL_IDS
    after = records_after_each_state(run)
    assert len(after) >= 50
    # states whose cursor value is shared with records not yet emitted: the boundary falls inside a tie
    inside_ties = [(s, rest) for s, rest in after if rest and len(s["stream"]["stream_state"]["keys_at_cursor"]) < 3]
    assert inside_ties, "pages of 10 over ties of 3 must end inside a tie"
    for state, rest in [inside_ties[0], inside_ties[len(inside_ties) // 2], after[1]]:
        resumed = connector.run("read", cfg, catalog(*cfg["streams"], incremental=True), state_list(state))
        assert resumed.exit_code == 0, resumed.stderr[-2000:]
        assert resumed.ids() == rest


def test_nothing_new_after_the_last_state_and_new_data_later(
    api: Sandbox, connector: Connector, first_read: tuple[dict, Run]
) -> None:
    cfg, run = first_read
    final = run.states[-1]
    assert final["stream"]["stream_state"]["cursor"] == max(r["updated_at"] for r in run.data)
    again = connector.run("read", cfg, catalog(*cfg["streams"], incremental=True), state_list(final))
    assert again.exit_code == 0 and again.ids() == []
    assert again.states[-1]["stream"]["stream_state"] == final["stream"]["stream_state"]


def test_epoch_start_value_and_format(api: Sandbox, connector: Connector, first_read: tuple[dict, Run]) -> None:
    """The start value goes to the API as epoch seconds; records before it are not read."""
    _, run = first_read
    boundary = run.data[500]["updated_at"]
    settings = {**INCREMENTAL, "format": "epoch_seconds", "start_value": boundary}
    items = stream("items", style="link", incremental=settings)
    resumed = connector.run("read", config(api, items), catalog(items, incremental=True))
    assert resumed.exit_code == 0, resumed.stderr[-2000:]
    assert resumed.ids() == [r["id"] for r in run.data if r["updated_at"] >= boundary]


def test_records_out_of_cursor_order_get_only_a_final_state(api: Sandbox, connector: Connector) -> None:
    items = stream("items", style="offset", params={"order": "desc"}, incremental=INCREMENTAL)
    run = connector.run("read", config(api, items, checkpoint_records=100), catalog(items, incremental=True))
    assert run.exit_code == 0, run.stderr[-2000:]
    assert sorted(run.ids()) == ALL_IDS
    (state,) = run.states  # a mid-stream STATE would skip the older records still to come
    assert state["stream"]["stream_state"]["cursor"] == max(r["updated_at"] for r in run.data)
    assert any("ascending updated_at order" in m["log"]["message"] for m in run.of("LOG"))


EPOCH_2024 = 1704067200  # 2024-01-01T00:00:00Z


def test_epoch_seconds_cursor_with_a_date_start_value(scripted: Scripted, connector: Connector) -> None:
    """Epoch-seconds cursors (JSON numbers) compare by instant with a start value given as an RFC 3339 date."""
    rows = [{"id": i, "updated": EPOCH_2024 + 3600 * i} for i in range(1, 6)]
    api = scripted(lambda path, query: (200, {}, {"items": [r for r in rows if r["updated"] >= int(query["since"])]}))
    settings = {"cursor_field": "updated", "request_param": "since", "format": "epoch_seconds"}
    events = listed("events", incremental={**settings, "start_value": "2024-01-01T00:00:00Z"})
    run = connector.run("read", config(api, events), catalog(events, incremental=True))
    assert run.exit_code == 0, run.describe()
    assert api.requests == [f"/events?since={EPOCH_2024}"]
    assert run.ids() == [1, 2, 3, 4, 5]
    assert run.stream_states[-1] == {"cursor": rows[-1]["updated"], "keys_at_cursor": [[5]]}


def test_cursor_values_of_two_kinds_are_a_config_error(scripted: Scripted, connector: Connector) -> None:
    """Numbers and dates do not compare unless the numbers are said to be epoch seconds."""
    api = scripted(lambda path, query: (200, {}, {"items": [{"id": 1, "updated": EPOCH_2024 + 60}]}))
    events = listed("events", incremental={"cursor_field": "updated", "start_value": "2024-01-01T00:00:00Z"})
    run = connector.run("read", config(api, events), catalog(events, incremental=True))
    assert run.exit_code != 0 and run.ids() == []
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error"
    assert "'2024-01-01T00:00:00Z' is a date and 1704067260 is a number" in error["message"]
    assert "'epoch_seconds'" in error["message"]


def test_a_zero_date_is_read_but_never_becomes_the_state(scripted: Scripted, connector: Connector) -> None:
    dated = [{"id": i, "updated_at": f"2024-01-0{i}T00:00:00Z"} for i in range(1, 5)]
    zero = {"id": 5, "updated_at": "0000-00-00 00:00:00"}  # MySQL's zero date, as PHP APIs send it
    later = [{"id": 6, "updated_at": "2024-02-01T00:00:00Z"}]

    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if "since" not in query:
            return 200, {}, {"items": [*dated, zero]}
        return 200, {}, {"items": [r for r in dated + later if r["updated_at"] >= query["since"]]}

    api = scripted(route)
    items = listed("items", incremental={"cursor_field": "updated_at", "request_param": "since"})
    first = connector.run("read", config(api, items), catalog(items, incremental=True))
    assert first.exit_code == 0, first.describe()
    assert first.ids() == [1, 2, 3, 4, 5]
    assert first.stream_states[-1] == {"cursor": "2024-01-04T00:00:00Z", "keys_at_cursor": [[4]]}
    assert any("1 records had no updated_at value" in line for line in first.logs)
    second = connector.run("read", config(api, items), catalog(items, incremental=True), state_list(first.states[-1]))
    assert second.exit_code == 0, second.describe()
    assert second.ids() == [6]


TEXT_CURSORS = {
    "numeric_text": lambda day: str(995 + day),  # '999' < '1000' as numbers, not as text
    "rfc_1123": lambda day: format_datetime(datetime(2024, 12, 30, tzinfo=UTC) + timedelta(days=day), usegmt=True),
}


@pytest.mark.parametrize("form", TEXT_CURSORS)
def test_numeric_text_and_rfc_1123_cursors_compare_by_value(
    scripted: Scripted, connector: Connector, form: str
) -> None:
    """The state's cursor sorts after some newer values as text; the API returns them, and each is read."""
    rows = [{"id": day, "at": TEXT_CURSORS[form](day)} for day in range(10)]
    api = scripted(lambda path, query: (200, {}, {"items": rows[[r["at"] for r in rows].index(query["since"]) :]}))
    items = listed("items", incremental={"cursor_field": "at", "request_param": "since"})
    boundary = {"cursor": rows[2]["at"], "keys_at_cursor": [[2]]}
    run = connector.run("read", config(api, items), catalog(items, incremental=True), saved(items, boundary))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(3, 10))
    assert run.stream_states[-1] == {"cursor": rows[9]["at"], "keys_at_cursor": [[9]]}


def test_a_cursor_in_no_known_form_is_a_config_error_until_its_pattern_is_set(
    scripted: Scripted, connector: Connector
) -> None:
    rows = [
        {"id": day, "at": f"12/{29 + day}/2024 00:00" if day < 3 else f"01/0{day - 2}/2025 00:00"} for day in range(8)
    ]
    api = scripted(lambda path, query: (200, {}, {"items": rows[[r["at"] for r in rows].index(query["since"]) :]}))
    settings = {"cursor_field": "at", "request_param": "since"}
    boundary = {"cursor": rows[1]["at"], "keys_at_cursor": [[1]]}
    items = listed("items", incremental=settings)
    refused = connector.run("read", config(api, items), catalog(items, incremental=True), saved(items, boundary))
    assert refused.exit_code != 0 and refused.ids() == []
    (error,) = [e for e in refused.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error"
    assert "'12/30/2024 00:00' is neither a number nor a date" in error["message"]
    assert "incremental.cursor_format" in error["message"]
    items = listed("items", incremental={**settings, "cursor_format": "%m/%d/%Y %H:%M"})
    run = connector.run("read", config(api, items), catalog(items, incremental=True), saved(items, boundary))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(2, 8))
    assert run.stream_states[-1] == {"cursor": "01/05/2025 00:00", "keys_at_cursor": [[7]]}


def test_offset_read_loses_no_record_updated_during_it(scripted: Scripted, connector: Connector) -> None:
    """Record 5 is updated after the first page went out: it moves to the end, every record after it one place
    forward, and the record at the next page boundary (11) would be skipped. Each page overlaps the previous by one
    record, so the shift shows: the STATE stays before it and the next sync reads from there."""
    updated = {i: f"2024-01-01T00:00:{i:02d}Z" for i in range(1, 31)}

    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        since, offset, limit = query.get("since", ""), int(query["offset"]), int(query["limit"])
        rows = sorted(
            ({"id": i, "updated_at": u} for i, u in updated.items() if u >= since), key=lambda r: r["updated_at"]
        )
        if len(api.requests) == 1:
            updated[5] = "2024-01-01T00:01:00Z"
        return 200, {}, {"items": rows[offset : offset + limit]}

    api = scripted(route)
    items = listed(
        "items",
        pagination={"type": "offset", "page_size": 10},
        incremental={"cursor_field": "updated_at", "request_param": "since"},
    )
    first = connector.run("read", config(api, items), catalog(items, incremental=True))
    assert first.exit_code == 0, first.describe()
    assert any("records changed in front of a page" in line for line in first.logs)
    assert first.stream_states[-1] == {"cursor": "2024-01-01T00:00:10Z", "keys_at_cursor": [[10]]}
    second = connector.run("read", config(api, items), catalog(items, incremental=True), state_list(first.states[-1]))
    assert second.exit_code == 0, second.describe()
    assert set(first.ids()) | set(second.ids()) == set(updated)
    assert second.stream_states[-1] == {"cursor": "2024-01-01T00:01:00Z", "keys_at_cursor": [[5]]}


def test_incremental_settings_with_page_numbers_are_refused(api: Sandbox, connector: Connector) -> None:
    items = stream("items", style="page", incremental=INCREMENTAL)
    status = connector.run("check", config(api, items)).connection_status
    assert status["status"] == "FAILED"
    assert "page-number pagination" in status["message"] and "offset pagination" in status["message"]
