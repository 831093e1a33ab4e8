"""`read` through the real CLI: records, STATE and stream statuses, odd names, errors, incremental reads."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from source_core.testing import Run, state_list


def make_table(pg: psycopg.Connection, schema: str, name: str, rows: int, primary_key: bool = True) -> None:
    key = "PRIMARY KEY" if primary_key else ""
    pg.execute(
        sql.SQL("CREATE TABLE {} (id bigint {}, name text, day date, updated_at timestamptz)").format(
            sql.Identifier(schema, name), sql.SQL(key)
        )
    )
    pg.execute(
        sql.SQL(
            "INSERT INTO {} SELECT g, 'row ' || g, DATE '2024-01-01' + g / 10, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, %s) g"
        ).format(sql.Identifier(schema, name)),
        (rows,),
    )


def counts_match_records(run: Run) -> None:
    """Each STATE's sourceStats.recordCount equals the records of its stream since that stream's last STATE."""
    since: dict[str, int] = {}
    for message in run.messages:
        if message["type"] == "RECORD":
            since[message["record"]["stream"]] = since.get(message["record"]["stream"], 0) + 1
        elif message["type"] == "STATE":
            name = message["state"]["stream"]["stream_descriptor"]["name"]
            assert message["state"]["sourceStats"]["recordCount"] == since.pop(name, 0)


def test_full_refresh_reads_every_row_with_states_and_statuses(pg, schema, config, connector):
    make_table(pg, schema, "events", 2500)
    make_table(pg, schema, "empty", 0)
    config["checkpoint_interval_rows"] = 1000
    run = connector.run("read", config, connector.catalog(config))

    assert run.exit_code == 0, run.stdout[-2000:]
    assert not run.non_json
    events = [r for r in run.records if r["stream"] == "events"]
    assert [r["data"]["id"] for r in events] == list(range(1, 2501))
    assert all(r["namespace"] == schema for r in run.records)
    assert events[0]["data"] == {
        "id": 1,
        "name": "row 1",
        "day": "2024-01-01",
        "updated_at": "2024-01-01T00:01:00.000000Z",
    }
    assert run.statuses == [
        ("empty", "STARTED"),
        ("empty", "COMPLETE"),
        ("events", "STARTED"),
        ("events", "RUNNING"),
        ("events", "COMPLETE"),
    ]
    event_states = [
        s["stream"]["stream_state"] for s in run.states if s["stream"]["stream_descriptor"]["name"] == "events"
    ]
    assert event_states == [
        {"key": {"id": 1000}},
        {"key": {"id": 2000}},
        {"__ab_full_refresh_sync_complete": True},
    ]
    logs = [m["log"]["message"] for m in run.of("LOG")]
    assert any(line.startswith(f"{schema}.events: done, 2,500 rows in ") and "rows/s" in line for line in logs), logs
    empty_states = [s for s in run.states if s["stream"]["stream_descriptor"]["name"] == "empty"]
    assert len(empty_states) == 1  # every stream gets a STATE, also an empty one
    counts_match_records(run)


def test_second_full_refresh_gives_the_same_records(pg, schema, config, connector):
    make_table(pg, schema, "events", 300, primary_key=False)
    catalog = connector.catalog(config)
    first = connector.run("read", config, catalog)
    again = connector.run("read", config, catalog, state=state_list(first.states[-1]))
    assert first.exit_code == again.exit_code == 0
    assert len(first.data) == 300
    assert again.data == first.data


ODD_TABLE = 'Odd "Table". ünï'
ODD_COLUMNS = ["UPPER", "with space", 'quote"d', "dot.ted", "ünïcødé"]


def test_odd_table_and_column_names(pg, schema, config, connector):
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in ODD_COLUMNS)
    pg.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {})").format(sql.Identifier(schema, ODD_TABLE), columns))
    pg.execute(
        sql.SQL("INSERT INTO {} VALUES (1, 'a', 'b', 'c', 'd', 'e'), (2, NULL, NULL, NULL, NULL, 'f')").format(
            sql.Identifier(schema, ODD_TABLE)
        )
    )
    catalog = connector.catalog(config, sync_mode="incremental", cursor_field=["dot.ted"])
    full = connector.run("read", config, connector.catalog(config))
    assert full.exit_code == 0, full.stdout[-2000:]
    assert full.records[0]["stream"] == ODD_TABLE
    assert full.data == [
        dict(zip(["id", *ODD_COLUMNS], [1, "a", "b", "c", "d", "e"], strict=True)),
        dict(zip(["id", *ODD_COLUMNS], [2, None, None, None, None, "f"], strict=True)),
    ]
    incremental = connector.run("read", config, catalog)
    assert incremental.exit_code == 0, incremental.stdout[-2000:]
    assert [d["id"] for d in incremental.data] == [1]  # the NULL cursor row is not read incrementally
    assert incremental.states[-1]["stream"]["stream_state"] == {
        "cursor_field": ["dot.ted"],
        "cursor": "d",
        "key": {"id": 1},
    }


def test_selected_columns_only(pg, schema, config, connector):
    make_table(pg, schema, "events", 3)
    catalog = connector.catalog(config)
    catalog["streams"][0]["stream"]["json_schema"]["properties"] = {
        "id": {"type": ["null", "integer"]},
        "day": {"type": ["null", "string"], "format": "date"},
    }
    run = connector.run("read", config, catalog)
    assert run.exit_code == 0
    assert run.data == [{"id": 1, "day": "2024-01-01"}, {"id": 2, "day": "2024-01-01"}, {"id": 3, "day": "2024-01-01"}]


@pytest.mark.parametrize(
    ("settings", "first_state"),
    [
        ({}, {"key": {"id": 7}}),
        (
            {"sync_mode": "incremental", "cursor_field": ["day"]},
            {"cursor_field": ["day"], "cursor": "2024-01-01", "key": {"id": 7}},
        ),
    ],
    ids=["full_refresh", "incremental"],
)
def test_key_and_cursor_need_not_be_selected(pg, schema, config, connector, settings, first_state):
    make_table(pg, schema, "events", 30)
    config["checkpoint_interval_rows"] = 7
    catalog = connector.catalog(config, **settings)
    catalog["streams"][0]["stream"]["json_schema"]["properties"] = {"name": {"type": ["null", "string"]}}
    run = connector.run("read", config, catalog)
    assert run.exit_code == 0, run.stdout[-2000:]
    assert run.data == [{"name": f"row {i}"} for i in range(1, 31)]
    assert run.states[0]["stream"]["stream_state"] == first_state
    resumed = connector.run("read", config, catalog, state=state_list(run.states[0]))
    assert resumed.exit_code == 0, resumed.stdout[-2000:]
    assert resumed.data == [{"name": f"row {i}"} for i in range(8, 31)]


def test_an_inheritance_parent_without_a_key_is_not_resumed_by_row_address(pg, schema, config, connector):
    """Rows of a parent and of its children share ctid values: no ctid position can tell them apart."""
    parent, child = sql.Identifier(schema, "parent"), sql.Identifier(schema, "child")
    pg.execute(sql.SQL("CREATE TABLE {} (id bigint)").format(parent))
    pg.execute(sql.SQL("CREATE TABLE {} () INHERITS ({})").format(child, parent))
    pg.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 20)").format(parent))
    pg.execute(sql.SQL("INSERT INTO {} SELECT generate_series(21, 40)").format(child))
    config["checkpoint_interval_rows"] = 5
    catalog = connector.catalog(config, streams=["parent"])
    assert catalog["streams"][0]["stream"]["is_resumable"] is False
    run = connector.run("read", config, catalog)
    assert run.exit_code == 0, run.stdout[-2000:]
    assert sorted(d["id"] for d in run.data) == list(range(1, 41))
    assert [s["stream"]["stream_state"] for s in run.states] == [{"__ab_full_refresh_sync_complete": True}]


def test_views_and_materialized_views(pg, schema, config, connector):
    make_table(pg, schema, "events", 50)
    pg.execute(
        sql.SQL("CREATE VIEW {} AS SELECT id, name FROM {} WHERE id <= 10").format(
            sql.Identifier(schema, "v_events"), sql.Identifier(schema, "events")
        )
    )
    pg.execute(
        sql.SQL("CREATE MATERIALIZED VIEW {} AS SELECT id, day FROM {} WHERE id > 40").format(
            sql.Identifier(schema, "m_events"), sql.Identifier(schema, "events")
        )
    )
    run = connector.run("read", config, connector.catalog(config, streams=["v_events", "m_events"]))
    assert run.exit_code == 0, run.stdout[-2000:]
    by_stream: dict[str, list[int]] = {}
    for record in run.records:
        by_stream.setdefault(record["stream"], []).append(record["data"]["id"])
    assert sorted(by_stream["v_events"]) == list(range(1, 11))
    assert sorted(by_stream["m_events"]) == list(range(41, 51))


@pytest.mark.parametrize(
    ("cursor", "insert"),
    [
        ("updated_at", "TIMESTAMPTZ '2030-01-01 00:00:00+00'"),
        ("day", "DATE '2030-01-01'"),
        ("name", "'zzz'"),
        ("id", "NULL"),
    ],
)
def test_incremental_reads_only_new_rows(pg, schema, config, connector, cursor, insert):
    make_table(pg, schema, "events", 100)
    catalog = connector.catalog(config, sync_mode="incremental", cursor_field=[cursor])
    first = connector.run("read", config, catalog)
    assert first.exit_code == 0, first.stdout[-2000:]
    assert sorted(d["id"] for d in first.data) == list(range(1, 101))
    state = first.states[-1]
    assert state["stream"]["stream_state"]["cursor_field"] == [cursor]

    nothing = connector.run("read", config, catalog, state=state_list(state))
    assert nothing.exit_code == 0
    assert nothing.data == []
    assert len(nothing.states) == 1  # an empty incremental read still reports its state

    value = sql.SQL(insert) if cursor != "id" else sql.SQL("101")
    columns = {
        "id": sql.SQL("101"),
        "name": sql.SQL("'new'"),
        "day": sql.SQL("DATE '2024-01-01'"),
        "updated_at": sql.SQL("TIMESTAMPTZ '2024-01-01 00:00:00+00'"),
    }
    columns[cursor] = value
    pg.execute(
        sql.SQL("INSERT INTO {} (id, name, day, updated_at) VALUES ({})").format(
            sql.Identifier(schema, "events"),
            sql.SQL(", ").join(columns[c] for c in ("id", "name", "day", "updated_at")),
        )
    )
    second = connector.run("read", config, catalog, state=state_list(state))
    assert second.exit_code == 0, second.stdout[-2000:]
    assert [d["id"] for d in second.data] == [101]


def test_state_far_in_the_future_reads_nothing(pg, schema, config, connector):
    make_table(pg, schema, "events", 20)
    catalog = connector.catalog(config, sync_mode="incremental", cursor_field=["updated_at"])
    future = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "events", "namespace": schema},
                "stream_state": {"cursor_field": ["updated_at"], "cursor": "9999-01-01 00:00:00+00"},
            },
        }
    ]
    run = connector.run("read", config, catalog, state=future)
    assert run.exit_code == 0
    assert run.data == []


def failed_with(run: Run, failure_type: str, *words: str) -> None:
    assert run.exit_code != 0
    assert run.errors, run.stdout[-2000:]
    message = run.errors[0]["message"]
    assert run.errors[0]["failure_type"] == failure_type
    for word in words:
        assert word in message, message
    assert run.records == []


def test_table_dropped_after_discover_is_a_config_error(pg, schema, config, connector):
    make_table(pg, schema, "events", 5)
    catalog = connector.catalog(config)
    pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "events")))
    failed_with(connector.run("read", config, catalog), "config_error", "events", "discover")


def test_dropped_column_is_a_config_error(pg, schema, config, connector):
    make_table(pg, schema, "events", 5)
    catalog = connector.catalog(config)
    pg.execute(sql.SQL("ALTER TABLE {} DROP COLUMN day").format(sql.Identifier(schema, "events")))
    failed_with(connector.run("read", config, catalog), "config_error", "day", "discover")


def test_unknown_stream_and_bad_catalog_fail_with_a_trace(pg, schema, config, connector):
    make_table(pg, schema, "events", 5)
    catalog = connector.catalog(config)
    catalog["streams"][0]["stream"]["name"] = "no_such_table"
    failed_with(connector.run("read", config, catalog), "config_error", "no_such_table")

    catalog = connector.catalog(config)
    catalog["streams"][0]["sync_mode"] = "sideways"
    failed_with(connector.run("read", config, catalog), "config_error", "--catalog", "sideways")


def test_a_state_that_does_not_fit_is_a_config_error_saying_so(pg, schema, config, connector):
    make_table(pg, schema, "events", 5)
    catalog = connector.catalog(config, sync_mode="incremental", cursor_field=["id"])
    failed_with(connector.run("read", config, catalog, state={"id": 3}), "config_error", "--state")
    unfit = {"stream_descriptor": {"name": "events", "namespace": schema},
             "stream_state": {"cursor_field": ["id"], "cursor": "yesterday"}}  # fmt: skip
    failed_with(
        connector.run("read", config, catalog, state=[{"type": "STREAM", "stream": unfit}]),
        "config_error",
        "saved state of",
        "reset",
    )


def test_incremental_needs_a_cursor_and_an_orderable_one(pg, schema, config, connector):
    make_table(pg, schema, "events", 5)
    pg.execute(sql.SQL("ALTER TABLE {} ADD COLUMN doc jsonb").format(sql.Identifier(schema, "events")))
    failed_with(
        connector.run("read", config, connector.catalog(config, sync_mode="incremental")),
        "config_error",
        "cursor_field",
    )
    failed_with(
        connector.run("read", config, connector.catalog(config, sync_mode="incremental", cursor_field=["doc"])),
        "config_error",
        "doc",
        "cannot be a cursor",
    )


def test_a_state_whose_key_no_longer_fits_reads_the_table_whole(pg, schema, config, connector):
    make_table(pg, schema, "events", 30)
    catalog = connector.catalog(config, sync_mode="incremental", cursor_field=["day"])
    config["checkpoint_interval_rows"] = 5
    first = connector.run("read", config, catalog)
    mid = first.states[0]  # {"cursor": <a day>, "key": {"id": 5}}, mid-way through that day's rows
    assert mid["stream"]["stream_state"]["key"] == {"id": 5}
    pg.execute(
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(schema, "events"), sql.Identifier("events_pkey")
        )
    )
    again = connector.run(
        "read", config, connector.catalog(config, sync_mode="incremental", cursor_field=["day"]), state=state_list(mid)
    )
    assert again.exit_code == 0
    assert sorted(d["id"] for d in again.data) == list(range(1, 31))  # nothing skipped
    assert any("reading it whole" in m["log"]["message"] for m in again.of("LOG"))
