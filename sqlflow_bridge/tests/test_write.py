"""write: DataChunks back out through a destination of this repository, with the acknowledged states."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest
from airbyte_cdk.models import FailureType, Status
from sqlflow.connectors.data_chunk import DataChunk

from sqlflow_bridge.connector import AirbyteConnector
from sqlflow_bridge.errors import ConnectorError
from sqlflow_bridge.sqlflow_plugin import AirbyteExport
from sqlflow_bridge.state import FileStateStore
from tests.conftest import FAKE, table_of


def test_read_from_postgres_write_to_duckdb(config: dict, pg: psycopg.Connection, schema: str, tmp_path: Path):
    pg.execute(
        f"CREATE TABLE \"{schema}\".items AS SELECT g AS id, 'item ' || g AS label, g * 0.5 AS price, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 day' AS at FROM generate_series(1, 2000) g"
    )
    source = AirbyteConnector.in_process("source-postgres")
    parts = list(source.read(config, ["items"]))
    destination = AirbyteConnector.command("destination-duckdb")
    target = tmp_path / "out.duckdb"
    result = destination.write({"destination_path": str(target)}, parts)
    assert result.rows_sent == 2000
    assert result.rows_committed == 2000
    assert result.acknowledged[-1]["stream"]["stream_state"] == {"bridge_chunk": len(parts)}
    with duckdb.connect(str(target), read_only=True) as db:
        written = db.sql(f'SELECT id, label, price, "at" FROM "{schema}".items ORDER BY id').to_arrow_table()
    expected = table_of(parts).sort_by("id")
    assert written.column("id").to_pylist() == expected.column("id").to_pylist()
    assert written.column("label").to_pylist() == expected.column("label").to_pylist()
    assert written.column("price").to_pylist() == expected.column("price").to_pylist()
    assert written.column("at").to_pylist() == expected.column("at").to_pylist()


def test_plain_arrow_tables_with_nested_and_decimal_values(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "price": pa.array([pa.scalar(1, pa.decimal128(38, 9)).as_py(), None], pa.decimal128(38, 9)),
            "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
            "day": pa.array([19000, None], pa.date32()),
        }
    )
    target = tmp_path / "plain.duckdb"
    result = AirbyteConnector.command("destination-duckdb").write({"destination_path": str(target)}, [("t", table)])
    assert result.rows_committed == 2
    with duckdb.connect(str(target), read_only=True) as db:
        rows = db.execute("SELECT id, price, tags::VARCHAR, day FROM main.t ORDER BY id").fetchall()
    assert [(r[0], float(r[1]) if r[1] is not None else None, r[2]) for r in rows] == [
        (1, 1.0, '["a","b"]'),
        (2, None, "[]"),
    ]
    assert rows[0][3] == table.column("day")[0].as_py()


NESTED_TIMESTAMP = """
import datetime as dt, sys
import pyarrow as pa
from sqlflow_bridge.connector import AirbyteConnector
at = dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
table = pa.table({"id": [1], "o": pa.array([{"at": at}], pa.struct([("at", pa.timestamp("us", "UTC"))]))})
AirbyteConnector.command("destination-duckdb").write({"destination_path": sys.argv[1]}, [("t", table)])
"""


def test_a_nested_timestamp_is_written_in_utc_whatever_the_host_time_zone(tmp_path: Path) -> None:
    """The bridge turns nested values into JSON text in DuckDB, whose session zone is the host's unless set."""
    target = tmp_path / "zoned.duckdb"
    env = {**os.environ, "TZ": "Asia/Kolkata"}  # read when the process starts: so a process of its own
    subprocess.run([sys.executable, "-c", NESTED_TIMESTAMP, str(target)], env=env, check=True, capture_output=True)
    with duckdb.connect(str(target), read_only=True) as db:
        (text,) = db.execute("SELECT o::VARCHAR FROM main.t").fetchone()
    assert text == '{"at":"2024-01-01 10:00:00+00"}'


def test_unsigned_integers_beyond_bigint_are_nulled_by_the_destination_not_wrapped(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "u": pa.array([7, 2**64 - 1], pa.uint64())})
    target = tmp_path / "unsigned.duckdb"
    result = AirbyteConnector.command("destination-duckdb").write({"destination_path": str(target)}, [("t", table)])
    assert result.rows_committed == 2
    with duckdb.connect(str(target), read_only=True) as db:
        rows = db.execute("SELECT id, u, _airbyte_meta::VARCHAR FROM main.t ORDER BY id").fetchall()
    assert [row[:2] for row in rows] == [(1, 7), (2, None)]
    assert '"field":"u"' in rows[1][2] and "NULLED" in rows[1][2]


def test_a_failing_destination_raises_its_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError) as caught:
        AirbyteConnector.command("destination-duckdb").write(
            {"destination_path": ":memory:"}, [("t", pa.table({"a": [1]}))]
        )
    assert caught.value.failure_type == FailureType.config_error
    assert ":memory:" in caught.value.message


def test_an_in_process_destination_checks_but_writes_only_as_a_process(tmp_path: Path) -> None:
    destination = AirbyteConnector.in_process("destination-duckdb")
    assert destination.check({"destination_path": str(tmp_path / "d.duckdb")}).status == Status.SUCCEEDED
    with pytest.raises(ConnectorError, match="command or image"):
        destination.write({"destination_path": str(tmp_path / "d.duckdb")}, [("t", pa.table({"a": [1]}))])


def test_a_read_piped_into_write_commits_only_the_states_the_destination_acknowledged(
    config: dict, pg: psycopg.Connection, schema: str, tmp_path: Path
):
    pg.execute(f'CREATE TABLE "{schema}".orders AS SELECT g AS id, g * 10 AS amount FROM generate_series(1, 300) g')
    source, destination = AirbyteConnector.in_process("source-postgres"), AirbyteConnector.command("destination-duckdb")
    store = FileStateStore(tmp_path / "state.json")
    settings = config | {"checkpoint_interval_rows": 100}
    read = lambda: source.read(settings, ["orders"], state=store, scope="sync", cursor_field="id")  # noqa: E731
    with pytest.raises(ConnectorError, match="no_such_dir"):
        destination.write({"destination_path": "/proc/no_such_dir/out.duckdb"}, read())
    assert store.load("sync") == []  # the rows were read, but went nowhere: the next read starts over
    target = tmp_path / "out.duckdb"
    result = destination.write({"destination_path": str(target)}, read())
    assert result.rows_committed == 300
    (saved,) = store.load("sync")
    assert saved["stream"]["stream_state"]["cursor"] == 300
    assert list(read()) == []
    with duckdb.connect(str(target), read_only=True) as db:
        assert db.execute(f'SELECT count(DISTINCT id) FROM "{schema}".orders').fetchone() == (300,)


def test_export_trusts_a_destination_that_acknowledges_without_counts(tmp_path: Path) -> None:
    """airbyte-cdk's destinations echo STATEs as they came: no `destinationStats` (the platform adds them)."""
    command = tmp_path / "destination-fake"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    command.chmod(0o755)
    export = AirbyteExport()
    export.configure({"connector": str(command)})
    export.write("t", DataChunk(pa.table({"id": [1, 2, 3]})))
    export.configure({"connector": str(command), "config": {"mode": "ack_nothing"}})
    with pytest.raises(ConnectorError, match="did not acknowledge all 3 rows"):
        export.write("t", DataChunk(pa.table({"id": [1, 2, 3]})))
