"""The example SQLFlow project, end to end with the real `sqlflow` CLI (through `sqlflow-airbyte`), twice."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest
from airbyte_cdk.models import FailureType

from sqlflow_bridge.errors import ConnectorError
from sqlflow_bridge.sqlflow_plugin import SOURCE_SCHEMA, AirbyteSource

EXAMPLE = Path(__file__).resolve().parents[1] / "examples"
CLI = Path(sys.executable).parent / "sqlflow-airbyte"


@pytest.fixture
def project(tmp_path: Path, pg: psycopg.Connection) -> tuple[Path, str]:
    """A copy of the example reading a schema of its own (seeded by the example's seed.sql)."""
    schema = f"sf_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE, folder)
    for path in (folder / "pipelines" / "orders.sf", folder / "scripts" / "seed.sql"):
        path.write_text(path.read_text().replace("sqlflow_example", schema))
    pg.execute((folder / "scripts" / "seed.sql").read_text())
    yield folder, schema
    pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_pipeline(folder: Path, name: str = "orders") -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(CLI), "pipeline", "run", name, "--profile", "dev"], cwd=folder, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Pipeline completed successfully" in done.stdout
    return done


def test_example_runs_twice_and_loads_only_new_rows(project: tuple[Path, str], pg: psycopg.Connection) -> None:
    folder, schema = project
    run_pipeline(folder)
    pg.execute(f'INSERT INTO "{schema}".orders SELECT g, 1 + g % 4, g * 2.5, now() FROM generate_series(101, 120) g')
    run_pipeline(folder)
    with duckdb.connect(str(folder / "target" / "warehouse.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT id, amount, segment FROM main.enriched_orders ORDER BY id").fetchall()
    assert [row[0] for row in rows] == list(range(1, 121))  # the second run appended the 20 new rows only
    segments = {1: "enterprise", 2: "smb", 3: "smb", 4: "enterprise"}  # examples/data/customers.csv
    expected = [
        (id_, float(amount), segments[customer])
        for id_, customer, amount in pg.execute(f'SELECT id, customer, amount FROM "{schema}".orders ORDER BY id')
    ]
    assert rows == expected


def test_a_source_named_after_its_stream_keeps_nullable_bigints(
    config: dict, pg: psycopg.Connection, schema: str, tmp_path: Path
) -> None:
    """SQLFlow 0.1.7 asks a source for the SOURCE's name (the default stream), and loads its chunk as a DataFrame."""
    pg.execute(f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, big bigint)')
    pg.execute(f'INSERT INTO "{schema}".orders VALUES (1, 9007199254740993), (2, NULL)')
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE / "profiles", folder / "profiles")
    (folder / "pipelines").mkdir()
    params = {"connector": "source-postgres", "runner": "in_process", "config": config, "sync_mode": "full_refresh"}
    (folder / "pipelines" / "bigint.sf").write_text(
        f"SOURCE orders TYPE AIRBYTE PARAMS {json.dumps(params)};\n"
        "LOAD loaded FROM orders;\n"
        "CREATE TABLE typed AS SELECT id, typeof(big) AS big_type, CAST(big AS VARCHAR) AS big_text FROM loaded;\n"
        'EXPORT SELECT * FROM typed TO "output/typed.csv" TYPE CSV OPTIONS { "header": true };\n'
    )
    run_pipeline(folder, "bigint")
    with open(folder / "output" / "typed.csv", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["id"])
    assert [(row["big_type"], row["big_text"]) for row in rows] == [("BIGINT", "9007199254740993"), ("BIGINT", "")]


def test_a_failed_pipeline_commits_no_state(project: tuple[Path, str]) -> None:
    folder, _ = project
    pipeline = folder / "pipelines" / "orders.sf"
    pipeline.write_text(pipeline.read_text().replace("FROM orders o JOIN", "FROM no_such_table o JOIN"))
    done = subprocess.run(
        [str(CLI), "pipeline", "run", "orders", "--profile", "dev"], cwd=folder, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Loaded orders" in done.stdout  # the rows were read ...
    assert not (folder / "target" / "airbyte_state.json").exists()  # ... but their state waits for a success


def test_params_are_validated_against_the_schema() -> None:
    assert SOURCE_SCHEMA.validate({"connector": "source-postgres", "stream": "x"}) == []
    problems = AirbyteSource().validate_params({"connector": "source-postgres", "table": "x"})
    assert problems and "table" in problems[0]


def test_seed_interface(config: dict, pg: psycopg.Connection, schema: str, tmp_path: Path) -> None:
    pg.execute(
        f'CREATE TABLE "{schema}".events AS SELECT g AS id, '
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 hour' AS updated_at FROM generate_series(1, 50) g"
    )
    source = AirbyteSource()
    source.name = "events_src"
    params = {"connector": "source-postgres", "runner": "in_process", "config": config,
              "state_path": str(tmp_path / "state.duckdb")}  # fmt: skip
    assert source.validate_params(params) == []
    source.configure(params)
    assert source.test_connection().success
    assert source.check_health()["healthy"]
    assert source.supports_incremental()
    assert source.discover() == ["events"]
    assert source.get_schema("events").arrow_schema.names == ["id", "updated_at"]
    (first,) = source.read_incremental("events", "updated_at", cursor_value="2024-01-02T00:00:00+00:00")
    assert first.arrow_table.column("id").to_pylist() == list(range(25, 51))  # after the given cursor value
    (second,) = source.read_incremental("events", "updated_at", cursor_value="2024-01-02T00:00:00+00:00")
    assert len(second) == 0  # the stored state comes first: nothing new
    metrics = source.get_performance_metrics()
    assert metrics["rows"] == 50 and metrics["errors"] == 0

    fresh = AirbyteSource()
    fresh.configure({**params, "state_path": str(tmp_path / "other.duckdb")})
    with pytest.raises(ConnectorError) as caught:  # a date for a timestamptz cursor: which value to give, not Arrow's
        list(fresh.read_incremental("events", "updated_at", cursor_value="2024-01-02"))
    assert caught.value.failure_type == FailureType.config_error and "cursor_value" in caught.value.message
