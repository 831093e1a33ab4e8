"""destination-duckdb as a separate process on real files: `spec`, `check`, and the names and files `write` refuses.

`check` answers SUCCEEDED or FAILED with exit code 0 and a message that says what to fix; it leaves no table in
the file. `write` refuses, as a TRACE ERROR and a non-zero exit, what DuckDB cannot take: an in-memory database,
a file another process holds, column names that DuckDB (which ignores case) would see as one. Hostile names
(quotes, spaces, dots, %, ;, non-ASCII) are written exactly as given.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest

from source_core.testing import Cli, Run, catalog, record, state, stream_entry

from .conftest import Holder, columns, rows, tables

METADATA = ["_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_generation_id", "_airbyte_meta"]
NOT_A_FOLDER = ("not a directory", "not a folder", "is a file", "regular file")


def succeeded(run: Run) -> None:
    assert run.exit_code == 0, run.describe()
    assert run.connection_status == {"status": "SUCCEEDED"}, run.describe()


def failed(run: Run, *words: str) -> str:
    """A FAILED status (exit code 0) whose message holds every word (case-insensitive); returns the message."""
    assert run.exit_code == 0, run.describe()
    result = run.connection_status
    assert result["status"] == "FAILED", run.describe()
    message = result.get("message") or ""
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def refused(run: Run, *words: str, failure_type: str | None = None) -> str:
    """A TRACE ERROR naming every word (case-insensitive) and a non-zero exit; returns the message."""
    assert run.exit_code != 0, run.describe()
    assert run.errors, run.describe()
    error = run.errors[0]
    for word in words:
        assert word.lower() in error["message"].lower(), error["message"]
    if failure_type is not None:
        assert error["failure_type"] == failure_type, run.describe()
    assert not run.states, run.describe()
    return error["message"]


def assert_ok(run: Run) -> None:
    assert run.exit_code == 0, run.describe()
    assert not run.errors, run.describe()


# -- spec ----------------------------------------------------------------------------------------------------


def test_spec_is_one_valid_message(cli: Cli) -> None:
    run = cli.spec()
    assert run.exit_code == 0, run.describe()
    assert not run.non_json, run.non_json
    (spec,) = [m["spec"] for m in run.of("SPEC")]
    schema = spec["connectionSpecification"]
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["required"] == ["destination_path"]
    assert schema["properties"]["destination_path"]["type"] == "string"
    assert set(spec["supported_destination_sync_modes"]) == {"overwrite", "append", "append_dedup"}
    assert spec["supportsIncremental"] is True
    jsonschema.validate({"destination_path": "/data/x.duckdb"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({}, schema)


# -- check -------------------------------------------------------------------------------------------------------


def test_check_succeeds_on_a_new_file_and_leaves_no_table(cli: Cli, config: dict[str, Any], db_path: Path):
    assert not db_path.exists()
    succeeded(cli.check(config))
    assert db_path.is_file()
    assert tables(db_path) == set()


def test_check_creates_missing_parent_folders(cli: Cli, tmp_path: Path):
    path = tmp_path / "not" / "there" / "yet" / "warehouse.duckdb"
    succeeded(cli.check({"destination_path": str(path)}))
    assert path.is_file()
    assert tables(path) == set()


def test_check_on_an_existing_file_with_a_custom_schema_touches_no_table(
    cli: Cli, config: dict[str, Any], db_path: Path
):
    with duckdb.connect(str(db_path)) as db:
        db.execute("CREATE TABLE kept AS SELECT 41 + 1 AS answer")
    succeeded(cli.check(config | {"schema": f"Staging {uuid.uuid4().hex[:6]}"}))
    assert tables(db_path) == {("main", "kept")}
    assert rows(db_path, "main", "kept", ["answer"]) == [(42,)]


@pytest.mark.parametrize("path", [":memory:", ":memory:named"])
def test_memory_database_is_refused_with_the_reason(cli: Cli, path: str, tmp_path: Path):
    message = failed(cli.check({"destination_path": path}), "memory", "file")
    assert any(why in message.lower() for why in ("vanish", "persist", "lost", "discarded")), message
    write = cli.write({"destination_path": path}, catalog(stream_entry("s", {"n": {"type": "integer"}})), [])
    refused(write, "memory", failure_type="config_error")


@pytest.mark.parametrize("depth", [1, 2], ids=["parent-is-a-file", "grandparent-is-a-file"])
def test_a_path_under_a_regular_file_fails_clearly(cli: Cli, tmp_path: Path, depth: int):
    regular = tmp_path / "plain.txt"
    regular.write_text("not a folder")
    path = regular / "sub" / "warehouse.duckdb" if depth == 2 else regular / "warehouse.duckdb"
    message = failed(cli.check({"destination_path": str(path)}), str(regular))
    assert any(words in message.lower() for words in NOT_A_FOLDER), message
    assert regular.read_text() == "not a folder"


def test_check_while_another_process_holds_the_file(cli: Cli, config: dict[str, Any], holder: Holder):
    failed(cli.check(config), "open in another process")


# -- write: the file held by another process ------------------------------------------------------------------------


def test_write_while_another_process_holds_the_file(cli: Cli, config: dict[str, Any], db_path: Path, holder: Holder):
    entry = stream_entry("s", {"n": {"type": "integer"}})
    messages = [record("s", {"n": 1}), state("s", 1)]
    refused(cli.write(config, catalog(entry), messages), "open in another process")
    holder.release()
    assert tables(db_path) == {("main", "held_by_another_process")}  # nothing was written
    assert_ok(cli.write(config, catalog(entry), messages))  # once it lets go, the same write goes through
    assert rows(db_path, "main", "s", ["n"]) == [(1,)]


# -- write: names -------------------------------------------------------------------------------------------------


def test_columns_differing_only_by_case_are_refused(cli: Cli, config: dict[str, Any], db_path: Path):
    properties = {"Name": {"type": "string"}, "name": {"type": "string"}, "n": {"type": "integer"}}
    run = cli.write(config, catalog(stream_entry("people", properties)), [record("people", {"Name": "A", "n": 1})])
    refused(run, "'Name'", "'name'", failure_type="config_error")
    assert not db_path.exists() or tables(db_path) == set()


def test_streams_differing_only_by_case_are_refused(cli: Cli, config: dict[str, Any], db_path: Path):
    entries = [stream_entry(n, {"id": {"type": "integer"}}) for n in ("Orders", "orders")]
    run = cli.write(config, catalog(*entries), [record("Orders", {"id": 1}), record("orders", {"id": 2})])
    refused(run, "Orders", "orders", failure_type="config_error")
    assert not db_path.exists() or tables(db_path) == set()


@pytest.mark.parametrize("reserved", [*METADATA, "_AIRBYTE_META", "_Airbyte_Raw_Id"])
def test_a_column_named_like_the_destination_metadata_is_refused(
    cli: Cli, config: dict[str, Any], db_path: Path, reserved: str
):
    """DuckDB ignores case, so `_AIRBYTE_META` is the destination's own `_airbyte_meta` too."""
    properties = {"id": {"type": "integer"}, reserved: {"type": "string"}}
    run = cli.write(config, catalog(stream_entry("s", properties)), [record("s", {"id": 1, reserved: "x"})])
    refused(run, reserved, failure_type="config_error")
    assert not db_path.exists() or tables(db_path) == set()


HOSTILE_STREAM = 'Orders "Q1". 50% off; DROP TABLE x; ünïcødé 名前'
HOSTILE_COLUMNS: dict[str, dict[str, Any]] = {
    "ID": {"type": "integer"},
    "Mixed Case": {"type": "string"},
    'say "hi"': {"type": "string"},
    "dot.ted": {"type": "number"},
    "100%": {"type": "string"},
    "a;b": {"type": "boolean"},
    "ünïcødé 名前": {"type": "string"},
    "$1": {"type": "string"},
    "back\\slash": {"type": "string"},
    "new\nline": {"type": "string"},
}


def hostile_row(key: int, cursor: float, text: str) -> dict[str, Any]:
    return {
        "ID": key,
        "Mixed Case": f"Upper {text}",
        'say "hi"': f'he said "{text}"',
        "dot.ted": cursor,
        "100%": f"%s $1 {text}",
        "a;b": key % 2 == 0,
        "ünïcødé 名前": f"värde 値 {text}",
        "$1": f"? {text}",
        "back\\slash": f"a\\b {text}",
        "new\nline": f"x\ny {text}",
    }


@pytest.mark.parametrize("mode", ["append", "append_dedup", "overwrite"])
@pytest.mark.parametrize("namespace", [None, 'Ns "x".y% ;ñ'], ids=["default-schema", "hostile-namespace"])
def test_hostile_names_round_trip(cli: Cli, config: dict[str, Any], db_path: Path, mode: str, namespace: str | None):
    dedup = mode == "append_dedup"
    entry = stream_entry(
        HOSTILE_STREAM,
        HOSTILE_COLUMNS,
        mode,
        primary_key=["ID"] if dedup else None,
        cursor="dot.ted" if dedup else None,
        namespace=namespace,
    )
    first, second, stale = hostile_row(7, 1.5, "one"), hostile_row(8, 2.5, "two"), hostile_row(7, 0.5, "old")
    messages = [record(HOSTILE_STREAM, r, namespace) for r in (first, second, stale)]
    run = cli.write(config, catalog(entry), [*messages, state(HOSTILE_STREAM, {"at": 1}, namespace)])
    assert_ok(run)
    assert [s["stream"]["stream_descriptor"]["name"] for s in run.states] == [HOSTILE_STREAM]

    schema = namespace or "main"
    assert tables(db_path) == {(schema, HOSTILE_STREAM)}  # exactly that name, no shadow or staging table left
    assert columns(db_path, schema, HOSTILE_STREAM) == [*HOSTILE_COLUMNS, *METADATA]
    kept = [first, second] if dedup else [first, second, stale]  # dedup keeps the greatest cursor of key 7
    expected = sorted((tuple(r.values()) for r in kept), key=repr)
    assert rows(db_path, schema, HOSTILE_STREAM, list(HOSTILE_COLUMNS)) == expected


def test_non_ascii_names_differing_by_case_are_distinct_in_duckdb(cli: Cli, config: dict[str, Any], db_path: Path):
    """DuckDB folds only ASCII letters: `Äpfel` and `äpfel` are two columns (and two tables) to it, so a stream
    holding both is not a collision and must be written."""
    properties = {"Äpfel": {"type": "integer"}, "äpfel": {"type": "integer"}}
    entries = [stream_entry(n, properties) for n in ("Größe", "gRÖße")]
    data = {"Äpfel": 1, "äpfel": 2}
    run = cli.write(config, catalog(*entries), [record("Größe", data), record("gRÖße", data)])
    assert_ok(run)
    assert tables(db_path) == {("main", "Größe"), ("main", "gRÖße")}
    for table in ("Größe", "gRÖße"):
        assert columns(db_path, "main", table) == ["Äpfel", "äpfel", *METADATA]
        assert rows(db_path, "main", table, ["Äpfel", "äpfel"]) == [(1, 2)]


def test_a_file_named_like_the_stream_namespace(cli: Cli, tmp_path: Path):
    """DuckDB names a file's database after the file: bench.duckdb holds database `bench`, and a namespace
    `bench` must still mean the schema, in check and in write."""
    path = tmp_path / "bench.duckdb"
    config = {"destination_path": str(path), "schema": "bench"}
    assert cli.check(config).connection_status["status"] == "SUCCEEDED"
    entry = stream_entry("rows", {"id": {"type": "integer"}}, "overwrite", namespace="bench")
    run = cli.write(config, catalog(entry), [record("rows", {"id": 1}, "bench"), state("rows", 1, "bench")])
    assert_ok(run)
    assert tables(path) == {("bench", "rows")}
    assert rows(path, "bench", "rows", ["id"]) == [(1,)]
