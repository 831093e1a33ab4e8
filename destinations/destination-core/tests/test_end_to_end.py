"""source-postgres piped into each destination, as real processes on real databases.

`source-postgres read | tee source.jsonl | destination-<x> write`: one table with every column type the source
supports (NULLs, empty strings, unicode, quotes, line breaks, extremes, values JSON cannot carry) goes through
OS pipes into PostgreSQL and DuckDB, in overwrite and append_dedup mode. Every destination cell is then compared
with the value the source emitted for it (the `tee` copy of the stream), normalized per type; the destination's
column types, `_airbyte_*` columns and echoed STATEs are checked as well.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import functools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.types.json
import pytest
from psycopg import sql

from source_core.testing import Run, parse_output

from .conftest import DSN, Destination

TABLE = "all_types"
Lit = sql.Literal  # a Python value, quoted by psycopg (text with quotes, backslashes, line breaks)

# column -> (PostgreSQL type, logical kind the destination should type it as, one value per row 1..6).
# Values are SQL text or `Lit(python value)`. Row 7 is all NULL.
COLUMNS: dict[str, tuple[str, str, list[Any]]] = {
    "c_int2": ("smallint", "integer", ["-32768", "0", "32767", "7", "NULL", "-1"]),
    "c_int4": ("integer", "integer", ["-2147483648", "42", "2147483647", "0", "NULL", "-1"]),
    "c_int8": ("bigint", "integer", [
        "-9223372036854775808", "9223372036854775807", "0", "1234567890123", "NULL", "-1",
    ]),
    "c_numeric": ("numeric", "number", [
        "12345.6789", "123456789012345678901234567890.123456789", "-0.000000001", "NULL", "'NaN'",
        "98765432109876.54321",
    ]),
    "c_numeric_scaled": ("numeric(12,2)", "number", ["-1.50", "9999999999.99", "0", "100", "NULL", "0.01"]),
    "c_real": ("real", "number", ["0.1", "-3.25", "'Infinity'", "3.4028235e38", "NULL", "'NaN'"]),
    "c_double": ("double precision", "number", [
        "0.30000000000000004", "1e300", "'NaN'", "'-Infinity'", "NULL", "5e-324",
    ]),
    "c_bool": ("boolean", "boolean", ["true", "false", "NULL", "true", "false", "true"]),
    "c_text": ("text", "string", [
        Lit("quote \" and ' back\\slash"), Lit("line\nbreak\r\n\ttab"), Lit("emoji 😀 ünï 中文"), Lit(""),
        "NULL", Lit('\\N, "NULL", a,b'),
    ]),
    "c_varchar": ("varchar(50)", "string", [Lit("varchar ✓"), Lit(""), Lit("  padded  "), Lit("'"), "NULL", Lit("x")]),
    "c_char": ("char(5)", "string", [Lit("ab"), Lit(""), Lit("abcde"), Lit("ü"), "NULL", Lit(" ")]),
    "c_date": ("date", "date", ["'2024-02-29'", "'0001-01-01'", "'9999-12-31'", "'infinity'", "NULL", "'1970-01-01'"]),
    "c_time": ("time", "time", [
        "'00:00:00'", "'23:59:59.999999'", "'12:30:00.5'", "'08:00'", "NULL", "'13:14:15.000001'",
    ]),
    "c_timetz": ("timetz", "timetz", [
        "'10:00:00+05:30'", "'23:59:59.25-08'", "'00:00:00+00'", "'12:00:00-03:30'", "NULL", "'01:02:03.456789+14'",
    ]),
    "c_ts": ("timestamp", "timestamp", [
        "'2024-01-31 10:15:00.123456'", "'1970-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'",
        "'0001-01-01 00:00:00'", "NULL", "'2000-02-29 12:00:00'",
    ]),
    "c_tstz": ("timestamptz", "timestamptz", [
        "'2024-01-31 10:15:00.5+02'", "'1900-06-01 00:00:00+00'", "'infinity'", "'2038-01-19 03:14:08.000001+00'",
        "NULL", "'9999-12-30 00:00:00+00'",
    ]),
    "c_interval": ("interval", "string", [
        "'1 day 2 hours'", "'-3 months 4.5 seconds'", "'0'", "'1 year 2 months 3 days 04:05:06.789'", "NULL",
        "'-1 day'",
    ]),
    "c_json": ("json", "json", [
        Lit('{"a":\n [1, 2.50], "s": "x\\"y"}'), Lit('"just a string"'), Lit("[]"),
        Lit('{"nested": {"k": [true, null, "ü"]}}'), "NULL", Lit("12345678901234567890.123456789"),
    ]),
    "c_jsonb": ("jsonb", "json", [
        Lit('{"a": {"b": null}, "q": "quote \\" nl \\n ü"}'), Lit("3.14159265358979323846"), Lit("true"),
        Lit('[1, "two", {"three": 3.5}]'), "NULL", Lit("{}"),
    ]),
    "c_uuid": ("uuid", "string", [
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'",
        "'{ffffffffffffffffffffffffffffffff}'", "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'", "NULL",
        "'123e4567-e89b-12d3-a456-426614174000'",
    ]),
    "c_bytea": ("bytea", "string", [
        "'\\x00ff10'", "''", "decode(repeat('ab', 100), 'hex')", "'\\x0a0d22'", "NULL", "'\\x2c'",
    ]),
    "c_ints": ("int[]", "json", ["'{1,2,3}'", "'{NULL,4}'", "'{}'", "'{{1,2},{3,4}}'", "NULL", "'{-2147483648}'"]),
    "c_texts": ("text[]", "json", [
        "ARRAY['a', 'b\"c', NULL]", "'{}'", "ARRAY['ü', '']", "ARRAY['x,y', E'line\\nbreak']", "NULL",
        "ARRAY['NULL']",
    ]),
    "c_enum": ("mood", "string", ["'sad'", "'ok'", "'happy 😀'", "'ok'", "NULL", "'sad'"]),
    "c_inet": ("inet", "string", [
        "'10.0.0.1'", "'::1/128'", "'192.168.0.0/16'", "'2001:db8::1'", "NULL", "'0.0.0.0'",
    ]),
    "c_cidr": ("cidr", "string", [
        "'10.0.0.0/8'", "'::/0'", "'192.168.1.0/24'", "'2001:db8::/32'", "NULL", "'1.2.3.4'",
    ]),
    "c_mac": ("macaddr", "string", [
        "'08:00:2b:01:02:03'", "'00:00:00:00:00:00'", "'ff:ff:ff:ff:ff:ff'", "'08002b:010203'", "NULL",
        "'0a-0b-0c-0d-0e-0f'",
    ]),
    "c_money": ("money", "number", ["12.5", "-0.01", "92233720368547758.07", "0", "NULL", "1000000"]),
    "c_domain": ("label", "string", [Lit("domain ✓"), Lit(""), Lit("with\nnewline"), Lit("'q'"), "NULL", Lit("z")]),
}  # fmt: skip
ROWS = 7  # ids 1..6 from COLUMNS, id 7 all NULL
NON_FINITE = ("'NaN'", "'Infinity'", "'-Infinity'", "'infinity'")  # JSON cannot carry these: nulled by the source

# the typed columns the destinations document, per logical kind, as information_schema reports them
PG_TYPES = {
    "integer": "bigint",
    "number": "numeric",
    "boolean": "boolean",
    "date": "date",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "string": "text",
    "json": "jsonb",
}
DUCKDB_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "time": "TIME",
    "timetz": "TIME WITH TIME ZONE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "string": "VARCHAR",
    "json": "JSON",
}
METADATA_TYPES = {
    "postgres": {
        "_airbyte_raw_id": "uuid",
        "_airbyte_extracted_at": "timestamp with time zone",
        "_airbyte_generation_id": "bigint",
        "_airbyte_meta": "jsonb",
    },
    "duckdb": {
        "_airbyte_raw_id": "UUID",
        "_airbyte_extracted_at": "TIMESTAMP WITH TIME ZONE",
        "_airbyte_generation_id": "BIGINT",
        "_airbyte_meta": "JSON",
    },
}

loads = functools.partial(json.loads, parse_float=decimal.Decimal)  # exact digits, as the source wrote them


def script(name: str) -> str:
    """A console script of this virtualenv (the connectors' real entry points)."""
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    assert found, f"console script {name} is not installed"
    return found


# -- the source table ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source(admin_dsn: str) -> Iterator[dict[str, Any]]:
    """A fresh schema holding the typed table; yields the source config. Dropped afterwards."""
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀')")
            conn.execute("CREATE DOMAIN label AS text CHECK (VALUE <> 'forbidden')")
            definitions = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
                for name, (pg_type, _, _) in COLUMNS.items()
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, {})").format(sql.Identifier(TABLE), definitions)
            )
            for row in range(ROWS - 1):
                values = sql.SQL(", ").join(
                    literals[row] if isinstance(literals[row], sql.Composable) else sql.SQL(literals[row])
                    for _, _, literals in COLUMNS.values()
                )
                conn.execute(
                    sql.SQL("INSERT INTO {} VALUES ({}, {})").format(
                        sql.Identifier(TABLE), sql.Literal(row + 1), values
                    )
                )
            conn.execute(sql.SQL("INSERT INTO {} (id) VALUES ({})").format(sql.Identifier(TABLE), sql.Literal(ROWS)))
            params = psycopg.conninfo.conninfo_to_dict(DSN)
            yield {
                "host": params.get("host", "127.0.0.1"),
                "port": int(params.get("port", 5432)),
                "database": params["dbname"],
                "username": params["user"],
                **({"password": params["password"]} if "password" in params else {}),
                "schemas": [schema],
                "ssl_mode": "disable",
                "checkpoint_interval_rows": 3,  # several STATEs in one read
            }
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def discovered(source: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stream as `source-postgres discover` describes it."""
    config = tmp_path_factory.mktemp("discover") / "config.json"
    config.write_text(json.dumps(source))
    done = subprocess.run(
        [script("source-postgres"), "discover", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (catalog,) = [m["catalog"] for m in map(json.loads, done.stdout.splitlines()) if m["type"] == "CATALOG"]
    (stream,) = catalog["streams"]
    assert stream["name"] == TABLE
    assert stream["namespace"] == source["schemas"][0]
    assert stream.get("source_defined_primary_key") == [["id"]]
    assert set(stream["json_schema"]["properties"]) == {"id", *COLUMNS}
    return stream


# -- one sync through pipes ------------------------------------------------------------------------------------
def sync(
    dest: Destination, folder: Path, source_config: dict[str, Any], stream: dict[str, Any], mode: str
) -> tuple[list[dict[str, Any]], Run]:
    """`source-postgres read | tee | destination-<kind> write`; returns what the source emitted and the write's run."""
    folder.mkdir(exist_ok=True)
    n = len(list(folder.glob("source-*.jsonl"))) + 1
    source_catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": mode}]}
    destination_catalog = {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "full_refresh",
                "destination_sync_mode": mode,
                "primary_key": [["id"]],
                "cursor_field": [],
            }
        ]
    }
    (folder / f"source-config-{n}.json").write_text(json.dumps(source_config))
    (folder / f"source-catalog-{n}.json").write_text(json.dumps(source_catalog))
    read = [
        script("source-postgres"), "read",
        "--config", str(folder / f"source-config-{n}.json"),
        "--catalog", str(folder / f"source-catalog-{n}.json"),
    ]  # fmt: skip
    write = [
        script(f"destination-{dest.kind}"), "write",
        "--config", dest.file("config", {**dest.config, "ignore_source_namespace": True}),
        "--catalog", dest.file("catalog", destination_catalog),
    ]  # fmt: skip
    copy = folder / f"source-{n}.jsonl"
    with open(folder / f"source-{n}.stderr", "wb") as source_stderr:
        reader = subprocess.Popen(read, stdout=subprocess.PIPE, stderr=source_stderr)
        tee = subprocess.Popen(["tee", str(copy)], stdin=reader.stdout, stdout=subprocess.PIPE)
        assert reader.stdout is not None and tee.stdout is not None
        reader.stdout.close()  # the pipes now belong to the children only: EOF reaches the destination
        writer = subprocess.Popen(write, stdin=tee.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tee.stdout.close()
        try:
            stdout, stderr = writer.communicate(timeout=120)
            source_exit, tee_exit = reader.wait(timeout=60), tee.wait(timeout=60)
        finally:
            for process in (reader, tee, writer):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    emitted = copy.read_text(encoding="utf-8")
    assert source_exit == 0, emitted[-3000:] + (folder / f"source-{n}.stderr").read_text()[-3000:]
    assert tee_exit == 0
    messages = [loads(line) for line in emitted.splitlines()]
    run = parse_output(stdout.decode(), stderr.decode(), writer.returncode)
    assert run.exit_code == 0, (run.errors, run.stderr[-3000:])
    assert not run.errors
    assert not run.non_json, run.non_json[:5]
    return messages, run


# -- normalizing values ------------------------------------------------------------------------------------------
def source_value(kind: str, value: Any) -> Any:
    """A RECORD's value (parsed with exact decimals) as the Python value its typed column should hold."""
    if value is None:
        return None
    match kind:
        case "number":
            return decimal.Decimal(value)
        case "date":
            return datetime.date.fromisoformat(value)
        case "time":
            return datetime.time.fromisoformat(value)
        case "timetz":
            parsed = datetime.time.fromisoformat(value)
            assert parsed.tzinfo is not None, value
            return parsed.replace(tzinfo=None), parsed.utcoffset()
        case "timestamp":
            parsed = datetime.datetime.fromisoformat(value)
            assert parsed.tzinfo is None, value
            return parsed
        case "timestamptz":
            parsed = datetime.datetime.fromisoformat(value)
            assert parsed.tzinfo is not None, value
            return parsed
        case _:
            return value


def destination_value(kind: str, value: Any, dialect: str) -> Any:
    if value is None:
        return None
    match kind:
        case "timetz":
            return value.replace(tzinfo=None), value.utcoffset()
        case "json" if dialect == "duckdb":
            return loads(value)  # DuckDB's JSON type comes back as text
        case _:
            return value


def same(kind: str, got: Any, expected: Any, dialect: str) -> bool:
    if got is None or expected is None:
        return got is None and expected is None
    if kind == "number" and dialect == "duckdb":  # DOUBLE: the nearest float, within float precision
        return isinstance(got, float) and got == pytest.approx(float(expected), rel=1e-15)
    if kind == "integer":
        return type(got) is int and got == expected
    if kind == "timestamptz":
        return got.tzinfo is not None and got == expected
    if kind == "timestamp":
        return got.tzinfo is None and got == expected
    if kind == "json":  # parsed structures: numbers compared by value (2.50 == 2.5), at full precision
        return got == expected
    return type(got) is type(expected) and got == expected


def meta_of(value: Any) -> dict[str, Any]:
    return loads(value) if isinstance(value, str) else value


# -- the tests -----------------------------------------------------------------------------------------------------
def test_source_nulls_values_json_cannot_carry(source: dict[str, Any], discovered: dict[str, Any], tmp_path: Path):
    """What the README promises, checked once on the table itself: NaN and infinities become null, named in meta."""
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(source))
    catalog.write_text(
        json.dumps(
            {"streams": [{"stream": discovered, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}
        )
    )
    done = subprocess.run(
        [script("source-postgres"), "read", "--config", str(config), "--catalog", str(catalog)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [m["record"] for m in map(loads, done.stdout.splitlines()) if m["type"] == "RECORD"]
    assert [r["data"]["id"] for r in records] == list(range(1, ROWS + 1))
    for row, record in enumerate(records[: ROWS - 1]):
        nulled = {name for name, (_, _, values) in COLUMNS.items() if values[row] in NON_FINITE}
        changes = record.get("meta", {}).get("changes", [])
        assert sorted(c["field"] for c in changes) == sorted(nulled), record["data"]["id"]
        for change in changes:
            assert change == {"field": change["field"], "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}
        for name in nulled:
            assert record["data"][name] is None
    assert records[-1]["data"] == {"id": ROWS} | dict.fromkeys(COLUMNS)


@pytest.mark.parametrize("mode", ["overwrite", "append_dedup"])
def test_source_piped_into_destination_matches_row_for_row(
    dest: Destination, source: dict[str, Any], discovered: dict[str, Any], tmp_path: Path, mode: str
):
    if dest.kind == "postgres":  # jsonb read back with exact decimals, like the source's numbers
        psycopg.types.json.set_json_loads(loads, dest.conn)  # type: ignore[attr-defined]
    folder = tmp_path / "pipes"
    mismatches: list[str] = []
    # twice: the second sync must replace (overwrite) or deduplicate (append_dedup) the first, never add to it
    for attempt in (1, 2):
        messages, run = sync(dest, folder, source, discovered, mode)
        records = [m["record"] for m in messages if m["type"] == "RECORD"]
        assert len(records) == ROWS
        assert_states_echoed(messages, run)
        mismatches += [f"sync {attempt}: {m}" for m in table_mismatches(dest, records)]
    # the source schema is left as it was: nothing was written next to (or into) the source table
    schema = source["schemas"][0]
    with psycopg.connect(DSN) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        assert tables == [(TABLE,)]
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, TABLE))).fetchone()
        assert count == (ROWS,)
    assert not mismatches, "destination values differ from the source's RECORDs:\n" + "\n".join(mismatches)


def table_mismatches(dest: Destination, records: list[dict[str, Any]]) -> list[str]:
    """Checks the table's shape and metadata (asserting), and lists every cell that differs from its RECORD."""
    dialect = dest.kind
    types = PG_TYPES if dialect == "postgres" else DUCKDB_TYPES
    assert TABLE in dest.tables()

    # typed columns: the source's columns in the types the destination documents, plus its own four
    columns = dest.columns(TABLE)
    expected_columns = {"id": types["integer"]} | {name: types[kind] for name, (_, kind, _) in COLUMNS.items()}
    expected_columns |= METADATA_TYPES[dialect]
    assert {name: kind.lower() for name, kind in columns.items()} == {
        name: kind.lower() for name, kind in expected_columns.items()
    }

    kinds = {"id": "integer"} | {name: kind for name, (_, kind, _) in COLUMNS.items()}
    rows = dest.rows(TABLE, order_by="id")
    assert [row["id"] for row in rows] == [r["data"]["id"] for r in records]
    mismatches = []
    for row, record in zip(rows, records, strict=True):
        assert set(record["data"]) == set(kinds)
        for name, kind in kinds.items():
            expected = source_value(kind, record["data"][name])
            got = destination_value(kind, row[name], dialect)
            if not same(kind, got, expected, dialect):
                mismatches.append(f"id={row['id']} {name} ({kind}): source {record['data'][name]!r} -> {row[name]!r}")
        # the destination's own columns
        assert row["_airbyte_extracted_at"] == datetime.datetime.fromtimestamp(
            record["emitted_at"] / 1000, tz=datetime.UTC
        ), "the row of this sync, not an older one"
        assert row["_airbyte_generation_id"] == 0
        meta = meta_of(row["_airbyte_meta"])
        # valid data: no changes; a value the source nulled: the source's own change, carried over unaltered
        assert meta["changes"] == record.get("meta", {}).get("changes", []), (row["id"], meta)
    raw_ids = [str(row["_airbyte_raw_id"]) for row in rows]
    assert all(uuid.UUID(raw) for raw in raw_ids)
    assert len(set(raw_ids)) == len(raw_ids)
    # the bytes behind base64 survive too (a text column holding exactly the source's text)
    assert [base64.b64decode(r["c_bytea"]) if r["c_bytea"] is not None else None for r in rows][:2] == [
        b"\x00\xff\x10",
        b"",
    ]
    return mismatches


def assert_states_echoed(messages: list[dict[str, Any]], run: Run) -> None:
    """Every source STATE comes back, in order, with destinationStats.recordCount = the records it covers."""
    expected, since = [], 0
    for message in messages:
        if message["type"] == "RECORD":
            since += 1
        elif message["type"] == "STATE":
            state = json.loads(json.dumps(message["state"], default=float))
            expected.append(state | {"destinationStats": {"recordCount": since}})
            since = 0
    assert len(expected) >= 3  # checkpoint_interval_rows=3 over 7 rows, plus the final one
    final = expected[-1]
    assert final["stream"]["stream_state"] == {"__ab_full_refresh_sync_complete": True}
    echoed = [json.loads(json.dumps(s, default=float)) for s in run.states]
    assert echoed == expected
    assert echoed[-1]["destinationStats"]["recordCount"] == final["sourceStats"]["recordCount"]
    assert sum(s["destinationStats"]["recordCount"] for s in echoed) == ROWS
