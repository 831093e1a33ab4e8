"""Incremental reads: exact at cursor ties (three records share each updated_at; pages of 10 split them), and a
read resumes from any STATE it emitted."""

from __future__ import annotations

import pytest

from source_core.testing import Run, state_list
from tests.conftest import ALL_IDS, INCREMENTAL, Connector, Sandbox, catalog, config, stream


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
