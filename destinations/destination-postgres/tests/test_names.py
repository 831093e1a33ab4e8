"""Hostile stream, namespace and column names in destination-postgres: written exactly as given, or refused.

PostgreSQL keeps names as they are when quoted (case, spaces, quotes, dots, %, ;, non-ASCII), but cuts them at
63 bytes; names that would become the same after the cut, and columns named like the destination's own
`_airbyte_*` columns, must be refused as a config error before anything is created.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from source_core.testing import Cli, Run, catalog, record, state, stream_entry

from .conftest import relations, rows, schema_exists

METADATA = ["_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_generation_id", "_airbyte_meta"]
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
    "%s": {"type": "string"},
    "back\\slash": {"type": "string"},
    " padded ": {"type": "string"},
}


def hostile_row(key: int, cursor: float, text: str) -> dict[str, Any]:
    return {
        "ID": key,
        "Mixed Case": f"Upper {text}",
        'say "hi"': f'he said "{text}"',
        "dot.ted": cursor,
        "100%": f"%s %(x)s $1 {text}",
        "a;b": key % 2 == 0,
        "ünïcødé 名前": f"värde 値 {text}",
        "$1": f"$1 {text}",
        "%s": f"%d {text}",
        "back\\slash": f"a\\b {text}",
        " padded ": f" {text} ",
    }


def expected_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """The row as psycopg reads it back: numbers from `numeric` as Decimal."""
    return tuple(Decimal(str(row[c])) if c == "dot.ted" else row[c] for c in HOSTILE_COLUMNS)


def table_columns(pg: psycopg.Connection, schema: str, table: str) -> list[str]:
    found = pg.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [name for (name,) in found]


def attribute_names(pg: psycopg.Connection, schema: str, table: str) -> list[str]:
    found = pg.execute(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return [name for (name,) in found]


def assert_ok(run: Run) -> None:
    assert run.exit_code == 0, run.describe()
    assert not run.errors, run.describe()


def assert_refused(run: Run, *words: str) -> str:
    """A TRACE ERROR of type config_error naming every word, and a non-zero exit; returns the message."""
    assert run.exit_code != 0, run.describe()
    assert run.errors, run.describe()
    error = run.errors[0]
    assert error["failure_type"] == "config_error", run.describe()
    for word in words:
        assert word in error["message"], error["message"]
    assert not run.states, run.describe()
    return error["message"]


# -- hostile names are written exactly ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["append", "append_dedup", "overwrite"])
def test_hostile_stream_and_column_names_round_trip(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, mode: str
):
    dedup = mode == "append_dedup"
    entry = stream_entry(
        HOSTILE_STREAM,
        HOSTILE_COLUMNS,
        mode,
        primary_key=["ID"] if dedup else None,
        cursor="dot.ted" if dedup else None,
    )
    first, second, stale = hostile_row(7, 1.5, "one"), hostile_row(8, 2.5, "two"), hostile_row(7, 0.5, "old")
    messages = [record(HOSTILE_STREAM, r) for r in (first, second, stale)]
    run = cli.write(config, catalog(entry), [*messages, state(HOSTILE_STREAM, {"at": 1})])
    assert_ok(run)
    assert [s["stream"]["stream_descriptor"]["name"] for s in run.states] == [HOSTILE_STREAM]

    assert relations(pg, schema) == {HOSTILE_STREAM}  # no shadow or staging table left over
    expected_columns = [*HOSTILE_COLUMNS, *METADATA]
    assert table_columns(pg, schema, HOSTILE_STREAM) == expected_columns
    assert attribute_names(pg, schema, HOSTILE_STREAM) == expected_columns
    kept = [first, second] if dedup else [first, second, stale]  # dedup keeps the greatest cursor of key 7
    assert rows(pg, schema, HOSTILE_STREAM, list(HOSTILE_COLUMNS)) == sorted(map(expected_values, kept), key=repr)


def test_hostile_names_on_a_stream_of_text_columns_only(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    name = 'Notes "draft"; v1.0 100% ñ'
    columns = {"Title": {"type": "string"}, 'q"uote': {"type": "string"}, "a.b;c%": {"type": "string"}}
    data = {"Title": "T", 'q"uote': '"', "a.b;c%": "%"}
    run = cli.write(config, catalog(stream_entry(name, columns)), [record(name, data), state(name, 1)])
    assert_ok(run)
    assert table_columns(pg, schema, name) == [*columns, *METADATA]
    assert rows(pg, schema, name, list(columns)) == [tuple(data.values())]


def test_hostile_namespace_becomes_a_schema_of_exactly_that_name(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, drop_schemas: list[str]
):
    namespace = f'Ns "{uuid.uuid4().hex[:6]}".x% ;ñ'
    drop_schemas.append(namespace)
    name = 'T.b;l "q" É'
    entry = stream_entry(name, {"N": {"type": "integer"}}, namespace=namespace)
    run = cli.write(config, catalog(entry), [record(name, {"N": 42}, namespace), state(name, 1, namespace)])
    assert_ok(run)
    assert schema_exists(pg, namespace)
    assert relations(pg, namespace) == {name}
    assert relations(pg, schema) == set()  # the configured schema is only for streams without a namespace
    assert rows(pg, namespace, name, ["N"]) == [(42,)]


def test_metadata_names_in_another_case_are_ordinary_columns(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    """PostgreSQL compares quoted names exactly: `_AIRBYTE_META` is not `_airbyte_meta`."""
    columns = {"_AIRBYTE_META": {"type": "string"}, "n": {"type": "integer"}}
    run = cli.write(config, catalog(stream_entry("s", columns)), [record("s", {"_AIRBYTE_META": "mine", "n": 1})])
    assert_ok(run)
    assert table_columns(pg, schema, "s") == [*columns, *METADATA]
    ((mine, meta),) = rows(pg, schema, "s", ["_AIRBYTE_META", "_airbyte_meta"])
    assert mine == "mine"
    assert isinstance(meta, dict), meta
    assert meta["changes"] == []


@pytest.mark.parametrize(
    "name",
    ['pri*ce (€) "net"', "a.b+c?", "[x]|{2}^$", "back\\slash \\d+", "Price"],
    ids=["quotes-and-parens", "regex-dots", "regex-classes", "backslashes", "plain"],
)
def test_number_columns_with_hostile_names_keep_every_digit(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, name: str
):
    """`number` lands in `numeric`: a value with more digits than a double holds must arrive digit for digit,
    whatever characters the column's name is made of. Another number column with a similar name is a decoy."""
    decoy = name.upper() + " decoy"
    columns = {"id": {"type": "integer"}, name: {"type": "number"}, decoy: {"type": "number"}}
    values = ["12345678901234567.25", "-0.000000000000000000123", "98765432109876543210"]
    messages: list[dict[str, Any] | str] = []
    for key, value in enumerate(values):
        line = json.dumps(record("s", {"id": key, decoy: 0.5, name: "VALUE"}), ensure_ascii=False)
        messages.append(line.replace('"VALUE"', value))
    run = cli.write(config, catalog(stream_entry("s", columns)), [*messages, state("s", 1)])
    assert_ok(run)
    found = rows(pg, schema, "s", ["id", name, decoy])
    assert found == [(key, Decimal(value), Decimal("0.5")) for key, value in enumerate(values)]


def test_a_long_number_is_its_own_when_a_nested_field_has_the_same_name(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    """Both numbers round to the same double: the digits must come from the record's own field, not the first
    `"amt":` in the line."""
    columns = {"id": {"type": "integer"}, "amt": {"type": "number"}, "o": {"type": "object"}}
    line = json.dumps(record("s", {"id": 1, "o": {"amt": "NESTED"}, "amt": "OWN"}))
    line = line.replace('"NESTED"', "99999999999999999999").replace('"OWN"', "99999999999999999998")
    assert_ok(cli.write(config, catalog(stream_entry("s", columns)), [line, state("s", 1)]))
    assert rows(pg, schema, "s", ["amt", "o"]) == [(Decimal("99999999999999999998"), {"amt": 99999999999999999999})]


# -- PostgreSQL's 63-byte limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("c" * 63 + "_first", "c" * 63 + "_second"),
        ("é" * 31 + "üa", "é" * 31 + "üb"),  # the 63rd byte is the first half of ü in both
        ("é" * 31 + "ü", "é" * 31 + "ö"),  # differ only in byte 64; PostgreSQL cuts both to the 62 bytes of é
    ],
    ids=["ascii", "utf8-cut-mid-character", "utf8-differ-at-byte-64"],
)
def test_columns_equal_in_their_first_63_bytes_are_refused(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, first: str, second: str
):
    assert first.encode()[:63] == second.encode()[:63] and first != second
    columns = {"id": {"type": "integer"}, first: {"type": "string"}, second: {"type": "string"}}
    run = cli.write(config, catalog(stream_entry("s", columns)), [record("s", {"id": 1, first: "a", second: "b"})])
    assert_refused(run, first, second)
    assert relations(pg, schema) == set()


def test_streams_equal_in_their_first_63_bytes_are_refused(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    first, second = "t" * 63 + "_a", "t" * 63 + "_b"
    entries = [stream_entry(n, {"id": {"type": "integer"}}) for n in (first, second)]
    run = cli.write(config, catalog(*entries), [record(first, {"id": 1}), record(second, {"id": 2})])
    assert_refused(run, first, second)
    assert relations(pg, schema) == set()


def test_long_column_names_distinct_within_63_bytes_are_written_on_every_sync(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    """Longer than 63 bytes but distinct before the cut: PostgreSQL stores the cut names; a second sync with the
    same catalog must find those columns again instead of adding them a second time."""
    first, second = "c" * 62 + "1" + "_long_tail", "c" * 62 + "2" + "_long_tail"
    columns = {"id": {"type": "integer"}, first: {"type": "string"}, second: {"type": "string"}}
    cut = [name.encode()[:63].decode() for name in (first, second)]
    for sync in (1, 2):
        run = cli.write(
            config, catalog(stream_entry("s", columns)), [record("s", {"id": sync, first: "a", second: "b"})]
        )
        assert_ok(run)
        assert table_columns(pg, schema, "s") == ["id", *cut, *METADATA]
    assert rows(pg, schema, "s", ["id", *cut]) == [(1, "a", "b"), (2, "a", "b")]


def test_overwrite_of_a_stream_named_with_more_than_63_bytes(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    """The table's name is cut at 63 bytes; the overwrite's temporary table must still be another table."""
    name = "s" * 70
    table = name[:63]
    for value in (1, 2):
        entry = stream_entry(name, {"v": {"type": "integer"}}, "overwrite")
        run = cli.write(config, catalog(entry), [record(name, {"v": value}), state(name, value)])
        assert_ok(run)
        assert relations(pg, schema) == {table}
        assert rows(pg, schema, table, ["v"]) == [(value,)]


def test_overwrites_whose_temporary_tables_are_cut_to_one_name_are_refused(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str
):
    """Distinct tables of 59 bytes, but `<name>_airbyte_tmp` keeps only the first 51 bytes of each name."""
    first, second = "a" * 55 + "_one", "a" * 55 + "_two"
    entries = [stream_entry(n, {"id": {"type": "integer"}}, "overwrite") for n in (first, second)]
    run = cli.write(config, catalog(*entries), [record(first, {"id": 1}), state(first, 1), state(second, 1)])
    assert_refused(run, first, second, "a" * 51 + "_airbyte_tmp")
    assert relations(pg, schema) == set()


# -- names the destination keeps for itself ------------------------------------------------------------------------


@pytest.mark.parametrize("reserved", METADATA)
def test_a_column_named_like_the_destination_metadata_is_refused(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, reserved: str
):
    columns = {"id": {"type": "integer"}, reserved: {"type": "string"}}
    run = cli.write(config, catalog(stream_entry("s", columns)), [record("s", {"id": 1, reserved: "x"})])
    assert_refused(run, reserved, "'s'")
    assert relations(pg, schema) == set()
