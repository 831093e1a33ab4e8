"""read: typed DataChunks from source-postgres run each way, fast path equal to the JSON path, state kept."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from sqlflow_bridge.connector import AirbyteConnector
from sqlflow_bridge.state import DuckDBStateStore, FileStateStore, StateStore
from tests.conftest import fake_connector, make_connector, table_of

TYPES_TABLE = """
CREATE TABLE {schema}.typed (
    id bigint PRIMARY KEY, name text, amount numeric(12, 2), at timestamptz, ok boolean, payload jsonb, day date,
    score float8, ref uuid, clock time, zoned timetz, local timestamp, tags text[], ratio real
);
INSERT INTO {schema}.typed
SELECT g, 'name ' || g || CASE WHEN g % 7 = 0 THEN ' "quoted" é' ELSE '' END, g * 1.37,
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second 1 microsecond', g % 2 = 0,
       jsonb_build_object('k', g, 'tags', jsonb_build_array('a', g)), DATE '2020-01-01' + g, g / 7.0,
       md5(g::text)::uuid, TIME '10:00:00.5' + g * interval '1 second', TIMETZ '10:00:00+05',
       TIMESTAMP '2024-01-01' + g * interval '1 day', ARRAY['x', g::text], g / 10.0
FROM generate_series(1, 500) g;
INSERT INTO {schema}.typed (id) VALUES (501);
INSERT INTO {schema}.typed (id, day, at, score) VALUES (502, 'infinity', '-infinity', 'NaN');
"""


@pytest.fixture
def typed_table(pg: psycopg.Connection, schema: str) -> str:
    pg.execute(TYPES_TABLE.format(schema=f'"{schema}"'))
    return "typed"


def test_types_follow_the_json_schema(config: dict, pg: psycopg.Connection, typed_table: str) -> None:
    """In-process; the next test shows the JSON path and the command give the same table."""
    table = table_of(list(AirbyteConnector.in_process("source-postgres").read(config, [typed_table]))).sort_by("id")
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("amount").type == pa.float64()
    assert table.schema.field("at").type == pa.timestamp("us", "UTC")
    assert table.schema.field("local").type == pa.timestamp("us")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("clock").type == pa.time64("us")
    assert table.schema.field("ok").type == pa.bool_()
    expected = pg.execute(
        f"SELECT id, name, amount::float8, at, ok, payload, day, score, ref::text, clock, local, tags "
        f'FROM "{config["schemas"][0]}".typed WHERE id <= 501 ORDER BY id'
    ).fetchall()
    rows = table.to_pylist()
    assert len(rows) == len(expected) + 1
    for row, (id_, name, amount, at, ok, payload, day, score, ref, clock, local, tags) in zip(
        rows, expected, strict=False
    ):
        assert (row["id"], row["name"], row["amount"], row["ok"], row["day"], row["score"]) == (
            id_,
            name,
            amount,
            ok,
            day,
            score,
        )
        assert row["at"] == at and row["local"] == local and row["clock"] == clock and row["ref"] == ref
        assert (json.loads(row["payload"]) if row["payload"] else None) == payload
        assert (json.loads(row["tags"]) if row["tags"] else None) == tags
    assert rows[0]["zoned"] == "10:00:00+05:00"


def test_values_that_do_not_fit_are_nulled_and_counted(config: dict, typed_table: str) -> None:
    source = AirbyteConnector.in_process("source-postgres", arrow=False)
    table = table_of(list(source.read(config, [typed_table])))
    (bad,) = table.filter(pa.compute.equal(table.column("id"), 502)).to_pylist()
    assert (bad["day"], bad["at"], bad["score"]) == (None, None, None)
    assert source.get_performance_metrics()["errors"] == 1
    assert source.get_performance_metrics()["rows"] == table.num_rows


def test_metrics_count_the_read_not_the_time_the_caller_spends_on_each_chunk(config: dict, typed_table: str) -> None:
    source = AirbyteConnector.command("source-postgres")
    catalog = source.configured_catalog(config, [typed_table])  # discovered before: the read alone is timed
    started, resting = time.perf_counter(), 0.0
    for _ in source.read(config, catalog=catalog):
        time.sleep(0.5)
        resting += 0.5
    elapsed = time.perf_counter() - started
    metrics = source.get_performance_metrics()
    assert metrics["rows"] == 502
    assert 0 < metrics["seconds"] <= elapsed - resting


def test_fast_path_equals_json_path_and_command(config: dict, typed_table: str) -> None:
    tables = {how: table_of(list(make_connector(how, "source-postgres").read(config, [typed_table]))) for how in
              ("command", "in_process", "in_process_json")}  # fmt: skip
    assert tables["in_process"].num_rows == 502
    assert tables["in_process"].column("ratio")[0].as_py() == 0.1  # a real's 0.1 (as its text says), both ways
    assert tables["in_process"].equals(tables["in_process_json"])
    assert tables["in_process"].equals(tables["command"])


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [([" 1.5", "2.5 ", "NaN"], [1.5, 2.5, None]), (["2.5", "Infinity", "-1e999"], [2.5, None, None])],
)
def test_number_text_is_read_as_the_parser_takes_it_and_non_finite_numbers_are_nulled(numbers: list, expected: list):
    """Text the parser takes but Arrow's cast does not (" 1.5"); NaN and infinities nulled (as on the fast
    path)."""
    (part,) = fake_connector().read({"numbers": numbers})
    assert part.chunk.arrow_table.column("v").to_pylist() == expected
    assert part.nulled_rows == expected.count(None)


def test_leaving_a_read_early_stops_the_connector_at_once() -> None:
    reading = fake_connector().read({"mode": "slow"})  # the connector sleeps a minute after its first record
    next(reading)
    started = time.monotonic()
    reading.close()
    assert time.monotonic() - started < 5


def _orders(pg: psycopg.Connection, schema: str, first: int, last: int) -> None:
    pg.execute(
        f"INSERT INTO \"{schema}\".orders SELECT g, TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 minute' "
        "FROM generate_series(%s::bigint, %s::bigint) g",
        (first, last),
    )


@pytest.fixture
def orders(pg: psycopg.Connection, schema: str) -> str:
    pg.execute(f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)')
    _orders(pg, schema, 1, 300)
    return "orders"


def make_store(kind: str, folder: Path) -> StateStore:
    return FileStateStore(folder / "state.json") if kind == "file" else DuckDBStateStore(folder / "state.duckdb")


def _ids(parts: list) -> list[int]:
    return table_of(parts).column("id").to_pylist() if parts else []


@pytest.mark.parametrize(("how", "kind"), [("in_process", "duckdb"), ("in_process_json", "file")])
def test_incremental_read_continues_from_the_store(
    how: str, kind: str, config: dict, pg: psycopg.Connection, schema: str, orders: str, tmp_path: Path
):
    source, store = make_connector(how, "source-postgres"), make_store(kind, tmp_path)
    read = lambda: list(source.read(config, [orders], state=store, scope="crm", cursor_field="updated_at"))  # noqa: E731
    assert sorted(_ids(read())) == list(range(1, 301))
    assert _ids(read()) == []
    _orders(pg, schema, 301, 350)
    assert sorted(_ids(read())) == list(range(301, 351))
    (saved,) = store.load("crm")
    (last,) = pg.execute(f'SELECT max(updated_at) FROM "{schema}".orders').fetchone()
    assert dt.datetime.fromisoformat(saved["stream"]["stream_state"]["cursor"]) == last


@pytest.mark.parametrize("kind", ["file", "duckdb"])
def test_state_is_committed_only_for_records_the_consumer_took(kind: str, config: dict, orders: str, tmp_path: Path):
    source, store = AirbyteConnector.in_process("source-postgres"), make_store(kind, tmp_path)
    settings = config | {"checkpoint_interval_rows": 50}
    reading = source.read(settings, [orders], state=store, scope="s", cursor_field="updated_at")
    taken = [next(reading), next(reading)]  # 100 rows taken; the STATE after them is not committed yet
    reading.close()
    (saved,) = store.load("s")
    cursor = dt.datetime.fromisoformat(saved["stream"]["stream_state"]["cursor"])
    assert cursor == dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=max(_ids(taken)) - 50)
    rest = list(source.read(settings, [orders], state=store, scope="s", cursor_field="updated_at"))
    assert sorted(set(_ids(taken)) | set(_ids(rest))) == list(range(1, 301))  # nothing lost
    assert min(_ids(rest)) == max(_ids(taken)) - 49  # resumed right after the last committed state


def test_source_file_reads_and_continues(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.csv").write_text("id,label\n1,one\n2,two\n")
    config = {"streams": [{"name": "things", "globs": [f"{folder}/*.csv"]}]}
    store = FileStateStore(tmp_path / "state.json")
    source = AirbyteConnector.in_process("source-file")
    first = table_of(list(source.read(config, state=store, scope="files")))
    assert first.select(["id", "label"]).to_pylist() == [{"id": 1, "label": "one"}, {"id": 2, "label": "two"}]
    assert list(source.read(config, state=store, scope="files")) == []
    (folder / "b.csv").write_text("id,label\n3,three\n")
    new = table_of(list(AirbyteConnector.command("source-file").read(config, state=store, scope="files")))
    assert new.select(["id", "label"]).to_pylist() == [{"id": 3, "label": "three"}]
    assert {"_ab_source_file_url", "_ab_source_file_last_modified"} <= set(new.column_names)


def test_unsigned_integers_beyond_int64_are_nulled_alike_on_both_paths(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    unsigned = pa.array([7, 2**63, 2**64 - 1], pa.uint64())
    pq.write_table(pa.table({"id": [1, 2, 3], "u": unsigned}), tmp_path / "u.parquet")
    config = {"streams": [{"name": "u", "globs": [f"{tmp_path}/*.parquet"]}]}
    for connector in (AirbyteConnector.in_process("source-file"), AirbyteConnector.command("source-file")):
        chunks = list(connector.read(config))
        assert table_of(chunks).sort_by("id").column("u").to_pylist() == [7, None, None], connector.label
        assert sum(chunk.nulled_rows for chunk in chunks) == 2, connector.label
