"""Interrupted reads resume exactly: from every emitted STATE, after SIGKILL, and across dropped connections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
from psycopg import sql

from source_core.testing import Run, parse_output, state_list

# name -> (CREATE TABLE body, INSERT SELECT over generate_series(1, n) g)
TABLES = {
    "int_key": ("id bigint PRIMARY KEY, day date, v text", "g, DATE '2024-01-01' + g / 10, 'v' || g"),
    "composite_key": (
        "region text, id int, day date, v text, PRIMARY KEY (region, id)",
        "'r' || (g %% 3), g, DATE '2024-01-01' + g / 10, 'v' || g",
    ),
    "no_key": ("id bigint, day date, v text", "g, DATE '2024-01-01' + g / 10, 'v' || g"),
    # cursors whose positions travel as PostgreSQL text (timestamptz, uuid) or exact decimals, 10 rows a value
    "typed": (
        "id bigint PRIMARY KEY, n numeric(10,2), ts timestamptz, u uuid",
        "g, (g / 10) * 1.25, TIMESTAMPTZ '2024-01-01 00:00:00.5+00' + (g / 10) * interval '1.25 s', "
        "md5((g / 10)::text)::uuid",
    ),
    "typed_no_key": (
        "id bigint, n numeric(10,2), ts timestamptz, u uuid",
        "g, (g / 10) * 1.25, TIMESTAMPTZ '2024-01-01 00:00:00.5+00' + (g / 10) * interval '1.25 s', "
        "md5((g / 10)::text)::uuid",
    ),
    # cursor values PostgreSQL holds equal though their texts differ (1.0 = 1.00, -0 = 0, 1 day = 24 hours),
    # alternating within runs of one value: a STATE must not fall between them
    "equal_texts_no_key": (
        "id bigint, n numeric, f float8, iv interval",
        "g, CASE WHEN g %% 2 = 0 THEN 1.0 ELSE 1.00 END * (g / 10), "
        "CASE WHEN g > 20 THEN g / 10 WHEN g %% 2 = 0 THEN float8 '-0' ELSE 0 END, "
        "CASE WHEN g %% 2 = 0 THEN interval '1 day' ELSE interval '24 hours' END * (g / 10)",
    ),
    # selected as text casts whose text order is not the type's order (10.0.10.1 < 10.0.2.1, PT10S < PT2S),
    # and bytea, written as base64: order and positions must use the column itself
    "inet_key": ("id bigint, ip inet PRIMARY KEY", "g, ('10.0.' || g || '.1')::inet"),
    "bytea_key": ("id bigint, k bytea PRIMARY KEY", "g, int4send(g::int)"),
    "interval": ("id bigint PRIMARY KEY, iv interval", "g, (g / 10) * interval '1 s'"),
    "interval_no_key": ("id bigint, iv interval", "g, (g / 10) * interval '1 s'"),
    # a table without a key, read with a catalog-chosen primary_key that repeats and holds NULLs
    "user_key": ("id bigint, email text", "g, CASE WHEN g %% 20 <> 0 THEN 'user' || (g %% 3) || '@x' END"),
    # 300 bytes a row: 300,000 rows are far more than the driver and the pipe buffer hold at once
    "wide": ("id bigint PRIMARY KEY, v text", "g, repeat('x', 300)"),
}


def create(pg: psycopg.Connection, schema: str, kind: str, rows: int) -> None:
    body, values = TABLES[kind]
    pg.execute(sql.SQL(f"CREATE TABLE {{}} ({body})").format(sql.Identifier(schema, kind)))
    pg.execute(
        sql.SQL(f"INSERT INTO {{}} SELECT {values} FROM generate_series(1, %s) g").format(sql.Identifier(schema, kind)),
        (rows,),
    )
    pg.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, kind)))


def ids(run: Run) -> list[int]:
    return [d["id"] for d in run.data]


def records_after_each_state(run: Run) -> list[tuple[dict[str, Any], list[int]]]:
    """(state, ids of the records that came after it in this run) for every STATE of the run."""
    out, seen = [], []
    for message in run.messages:
        if message["type"] == "RECORD":
            seen.append(message["record"]["data"]["id"])
        elif message["type"] == "STATE":
            out.append((message["state"], len(seen)))
    return [(state, seen[at:]) for state, at in out]


SCENARIOS = {
    "full refresh by primary key": ("int_key", {}),
    "full refresh by composite key": ("composite_key", {}),
    "full refresh by ctid": ("no_key", {}),
    "incremental, ties at the cursor, with key": ("int_key", {"sync_mode": "incremental", "cursor_field": ["day"]}),
    "incremental, ties at the cursor, no key": ("no_key", {"sync_mode": "incremental", "cursor_field": ["day"]}),
    "incremental on numeric": ("typed", {"sync_mode": "incremental", "cursor_field": ["n"]}),
    "incremental on timestamptz": ("typed", {"sync_mode": "incremental", "cursor_field": ["ts"]}),
    "incremental on uuid": ("typed", {"sync_mode": "incremental", "cursor_field": ["u"]}),
    "incremental on timestamptz, no key": ("typed_no_key", {"sync_mode": "incremental", "cursor_field": ["ts"]}),
    "incremental on numeric, no key": ("typed_no_key", {"sync_mode": "incremental", "cursor_field": ["n"]}),
    "incremental, 1.0 = 1.00, no key": ("equal_texts_no_key", {"sync_mode": "incremental", "cursor_field": ["n"]}),
    "incremental, -0 = 0, no key": ("equal_texts_no_key", {"sync_mode": "incremental", "cursor_field": ["f"]}),
    "incremental, 1 day = 24 h, no key": ("equal_texts_no_key", {"sync_mode": "incremental", "cursor_field": ["iv"]}),
    "full refresh by inet key": ("inet_key", {}),
    "full refresh by bytea key": ("bytea_key", {}),
    "incremental on interval": ("interval", {"sync_mode": "incremental", "cursor_field": ["iv"]}),
    "incremental on interval, no key": ("interval_no_key", {"sync_mode": "incremental", "cursor_field": ["iv"]}),
    "full refresh, a catalog primary_key that repeats": ("user_key", {"primary_key": [["email"]]}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_read_resumed_from_any_state_returns_exactly_the_rest(pg, schema, config, connector, scenario):
    kind, settings = SCENARIOS[scenario]
    create(pg, schema, kind, 200)
    config["checkpoint_interval_rows"] = 17  # states fall in the middle of the 10-row runs of equal `day`
    catalog = connector.catalog(config, **settings)
    full = connector.run("read", config, catalog)
    assert full.exit_code == 0, full.stdout[-2000:]
    assert sorted(ids(full)) == list(range(1, 201))

    checkpoints = records_after_each_state(full)
    assert len(checkpoints) >= 10
    for state, rest in checkpoints:
        if "__ab_full_refresh_sync_complete" in state["stream"]["stream_state"]:
            rest = ids(full)  # a finished full refresh starts over next time
        resumed = connector.run("read", config, catalog, state=state_list(state))
        assert resumed.exit_code == 0, resumed.stdout[-2000:]
        assert ids(resumed) == rest, f"from {state['stream']['stream_state']}"


def test_checkpoints_without_a_key_fall_only_between_cursor_values(pg, schema, config, connector):
    create(pg, schema, "no_key", 200)
    config["checkpoint_interval_rows"] = 7
    run = connector.run("read", config, connector.catalog(config, sync_mode="incremental", cursor_field=["day"]))
    days = [d["day"] for d in run.data]
    checkpoints = records_after_each_state(run)[:-1]
    assert len(checkpoints) >= 10
    for state, rest in checkpoints:
        emitted = len(days) - len(rest)
        assert days[emitted - 1] != days[emitted], "a STATE split rows sharing one cursor value"
        assert state["stream"]["stream_state"]["cursor"] == days[emitted - 1]


def read_until(process: subprocess.Popen, lines: list[str], text: str) -> None:
    """Add `process`'s stdout lines to `lines` up to the first one holding `text`."""
    while True:
        line = process.stdout.readline().decode()  # binary readline shares its buffer with a later read()
        assert line, f"the read ended before printing {text!r}"
        lines.append(line)
        if text in line:
            return


def read_until_states(command: list[str], states: int) -> tuple[subprocess.Popen, list[str]]:
    """Start a read and return it, with its stdout lines, once it has printed `states` STATE messages."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines: list[str] = []
    for _ in range(states):
        read_until(process, lines, '{"type":"STATE"')
    return process, lines


@pytest.mark.parametrize(
    "settings", [{}, {"sync_mode": "incremental", "cursor_field": ["day"]}], ids=["full_refresh", "incremental"]
)
def test_a_killed_read_resumes_from_its_last_state_without_loss_or_duplicates(pg, schema, config, connector, settings):
    create(pg, schema, "no_key", 300_000)
    config["checkpoint_interval_rows"] = 5000
    catalog = connector.catalog(config, **settings)
    process, lines = read_until_states(connector.command("read", config, catalog), 4)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = parse_output("".join(lines), "", 0)
    last_state = before.states[-1]
    # records printed before the last STATE are delivered; anything after it is discarded, as a platform would
    cut = max(i for i, m in enumerate(before.messages) if m["type"] == "STATE")
    delivered = [m["record"]["data"]["id"] for m in before.messages[:cut] if m["type"] == "RECORD"]
    assert 0 < len(delivered) < 300_000

    resumed = connector.run("read", config, catalog, state=state_list(last_state))
    assert resumed.exit_code == 0, resumed.stdout[-2000:]
    together = Counter(delivered + ids(resumed))
    assert set(together) == set(range(1, 300_001))
    assert max(together.values()) == 1


def terminate(pg: psycopg.Connection, application_name: str) -> int:
    return pg.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
        (application_name,),
    ).fetchone()[0]


def test_a_dropped_connection_is_retried_from_the_last_emitted_row(pg, schema, config, connector):
    create(pg, schema, "wide", 300_000)
    name = f"resume-{uuid.uuid4().hex[:8]}"
    config.update(checkpoint_interval_rows=5000, connection_parameters=f"application_name={name}")
    command = connector.command("read", config, connector.catalog(config))
    process, lines = read_until_states(command, 1)
    time.sleep(0.5)  # the read is now blocked writing to our pipe, in the middle of its COPY
    assert terminate(pg, name) == 1
    rest = process.stdout.read()  # not communicate(timeout=...): it would skip what readline() buffered
    process.wait(timeout=120)
    run = parse_output("".join(lines) + rest.decode(), "", process.returncode)

    assert run.exit_code == 0, run.stdout[-3000:]
    assert ids(run) == list(range(1, 300_001))
    warnings = [m["log"]["message"] for m in run.of("LOG") if m["log"]["level"] == "WARN"]
    assert any("connection lost" in w and "retry 1/" in w for w in warnings), warnings


def test_a_reconnect_refused_for_too_many_connections_is_retried_too(pg, schema, config, connector, role):
    create(pg, schema, "wide", 300_000)
    pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
    pg.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, "wide"), sql.Identifier(role)))
    name = f"refused-{uuid.uuid4().hex[:8]}"
    config.update(username=role, checkpoint_interval_rows=5000, connection_parameters=f"application_name={name}")
    process, lines = read_until_states(connector.command("read", config, connector.catalog(config)), 1)
    pg.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(role)))  # SQLSTATE 53300
    assert terminate(pg, name) == 1
    read_until(process, lines, "retry 2/")
    assert "too many connections" in lines[-1]  # the reconnect after the drop was refused, and retried
    pg.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(sql.Identifier(role)))
    rest = process.stdout.read()
    process.wait(timeout=120)
    run = parse_output("".join(lines) + rest.decode(), "", process.returncode)

    assert run.exit_code == 0, run.stdout[-3000:]
    assert ids(run) == list(range(1, 300_001))


def test_when_retries_run_out_the_read_ends_with_a_transient_error_and_its_states_hold(pg, schema, config, connector):
    create(pg, schema, "wide", 300_000)
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    config.update(
        checkpoint_interval_rows=2000, connection_parameters=f"application_name={name}", max_connection_retries=2
    )
    catalog = connector.catalog(config)
    process, lines = read_until_states(connector.command("read", config, catalog), 1)
    stop = threading.Event()

    def keep_killing() -> None:
        with psycopg.connect(pg.info.dsn, autocommit=True) as killer:
            while not stop.is_set():
                terminate(killer, name)
                time.sleep(0.02)

    killer = threading.Thread(target=keep_killing)
    killer.start()
    try:
        rest = process.stdout.read()
        process.wait(timeout=120)
    finally:
        stop.set()
        killer.join()
    run = parse_output("".join(lines) + rest.decode(), "", process.returncode)
    assert run.exit_code != 0
    assert run.errors[0]["failure_type"] == "transient_error"
    assert "gave up" in run.errors[0]["message"]
    assert run.errors[0]["stream_descriptor"]["name"] == "wide"  # the stream's own TRACE, before the final one
    assert run.statuses[-1] == ("wide", "INCOMPLETE")
    assert len(ids(run)) == len(set(ids(run)))  # retries continued after the last emitted row
    if run.states:
        resumed = connector.run("read", config, catalog, state=state_list(run.states[-1]))
        cut = max(i for i, m in enumerate(run.messages) if m["type"] == "STATE")
        delivered = [m["record"]["data"]["id"] for m in run.messages[:cut] if m["type"] == "RECORD"]
        assert sorted(delivered + ids(resumed)) == list(range(1, 300_001))


def test_state_file_round_trips_through_json(pg, schema, config, connector):
    """A state written by one run is read back by the next exactly as the platform would store it."""
    create(pg, schema, "composite_key", 30)
    config["checkpoint_interval_rows"] = 10
    run = connector.run("read", config, connector.catalog(config))
    stored = json.loads(json.dumps(state_list(run.states[0])))
    tenth = pg.execute(
        sql.SQL("SELECT region, id FROM {} ORDER BY region, id OFFSET 9 LIMIT 1").format(
            sql.Identifier(schema, "composite_key")
        )
    ).fetchone()
    assert stored[0]["stream"]["stream_state"] == {"key": {"region": tenth[0], "id": tenth[1]}}
