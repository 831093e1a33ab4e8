"""Every common type read through the CLI, checked against what PostgreSQL itself says about the same value."""

from __future__ import annotations

import base64
import datetime
import decimal
import json

import jsonschema
import pytest
from psycopg import sql

# column -> (type, SQL literals for rows 1..4; row 4 is all NULL)
COLUMNS = {
    "c_int2": ("smallint", ["-32768", "0", "32767"]),
    "c_int8": ("bigint", ["-9223372036854775808", "0", "9223372036854775807"]),
    "c_numeric": ("numeric", ["12345678901234567890.123456789012345", "0.000000001", "'NaN'"]),
    "c_numeric2": ("numeric(10,2)", ["-1.50", "0", "99999999.99"]),
    "c_float4": ("real", ["0.1", "'Infinity'", "-3.25"]),
    "c_float8": ("double precision", ["1e300", "'NaN'", "'-Infinity'"]),
    "c_bool": ("boolean", ["true", "false", "true"]),
    "c_text": ("text", [r"E'quote \" back\\slash'", r"E'line\nbreak\ttab\x01ctl'", "'emoji 😀 ünï'"]),
    "c_char": ("char(5)", ["'ab'", "''", "'abcde'"]),
    "c_date": ("date", ["'2024-02-29'", "'infinity'", "'0044-03-15 BC'"]),
    "c_time": ("time", ["'00:00:00'", "'23:59:59.999999'", "'12:30:00.5'"]),
    "c_timetz": ("timetz", ["'10:00:00+05:30'", "'10:00:00-08'", "'23:59:59.25+00'"]),
    "c_ts": ("timestamp", ["'2024-01-31 10:15:00.123456'", "'1970-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'"]),
    "c_tstz": ("timestamptz", ["'2024-01-31 10:15:00.5+02'", "'infinity'", "'1900-06-01 00:00:00+00'"]),
    "c_interval": ("interval", ["'1 day 2 hours'", "'-3 months 4.5 seconds'", "'0'"]),
    "c_json": ("json", ["'{\"a\":\n [1, 2.50]}'", "'\"just a string\"'", "'[]'"]),
    "c_jsonb": ("jsonb", ["'{\"a\": {\"b\": null}}'", "'3.14159265358979323846'", "'true'"]),
    "c_uuid": ("uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "gen_random_uuid()", "'{ffffffffffffffffffffffffffffffff}'"]),  # noqa: E501
    "c_bytea": ("bytea", ["'\\x00ff10'", "decode(repeat('ab', 100), 'hex')", "''"]),
    "c_ints": ("int[]", ["'{1,2,3}'", "'{NULL,4}'", "'{}'"]),
    "c_texts": ("text[]", ["ARRAY['a', 'b\"c', NULL]", "'{}'", "ARRAY['ü']"]),
    "c_moneys": ("money[]", ["ARRAY[1.5::money]", "'{}'", "ARRAY[NULL, '-2'::money]"]),
    "c_floats": ("float8[]", ["ARRAY[0.5, 'NaN']", "ARRAY['-Infinity'::float8]", "'{}'"]),
    "c_numerics": ("numeric[]", ["ARRAY[1.25, 'NaN']", "'{}'", "ARRAY[2]"]),
    "c_oids": ("oid[]", ["ARRAY[1::oid, 4294967295]", "'{}'", "'{7}'"]),
    "c_bytes": ("bytea[]", ["ARRAY['\\x00ff'::bytea]", "'{}'", "ARRAY[NULL::bytea]"]),
    "c_enum": ("mood", ["'sad'", "'ok'", "'ok'"]),
    "c_inet": ("inet", ["'10.0.0.1'", "'::1/128'", "'192.168.0.0/16'"]),
    "c_cidr": ("cidr", ["'10.0.0.0/8'", "'::/0'", "'192.168.1.0/24'"]),
    "c_mac": ("macaddr", ["'08:00:2b:01:02:03'", "'00:00:00:00:00:00'", "'ff:ff:ff:ff:ff:ff'"]),
    "c_money": ("money", ["12.5", "-0.01", "1000000"]),
    "c_domain": ("amount", ["1.25", "0", "1e10"]),
}  # fmt: skip
NULLED = {  # row index (0-based) -> columns whose value JSON cannot carry
    0: set(),
    1: {"c_float4", "c_float8", "c_date", "c_tstz"},
    2: {"c_numeric", "c_float8", "c_date"},
}


@pytest.fixture
def typed_table(pg, schema) -> str:
    pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    pg.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    pg.execute("CREATE DOMAIN amount AS numeric(20,4)")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, (t, _) in COLUMNS.items()
    )
    pg.execute(sql.SQL("CREATE TABLE typed (id int PRIMARY KEY, {})").format(columns))
    for row in range(3):
        values = sql.SQL(", ").join(sql.SQL(v[row]) for _, v in COLUMNS.values())
        pg.execute(sql.SQL("INSERT INTO typed VALUES ({}, {})").format(sql.Literal(row + 1), values))
    pg.execute("INSERT INTO typed (id) VALUES (4)")
    return "typed"


@pytest.fixture
def read_typed(typed_table, config, connector):
    run = connector.run("read", config, connector.catalog(config))
    assert run.exit_code == 0, run.stdout[-3000:]
    assert not run.non_json
    lines = [line for line in run.stdout.splitlines() if line.startswith('{"type":"RECORD"')]
    # parse_float keeps the exact digits of numbers, to compare them with PostgreSQL's own text
    return [json.loads(line, parse_float=decimal.Decimal)["record"] for line in lines], run


def truth(pg, column: str, expression: str = "{}") -> list:
    """What PostgreSQL returns for `expression` (each {} is `column`), row by row (ids 1..3)."""
    identifiers = [sql.Identifier(column)] * expression.count("{}")
    query = sql.SQL("SELECT " + expression + " FROM typed ORDER BY id LIMIT 3").format(*identifiers)
    return [row[0] for row in pg.execute(query)]


def column(records, name: str) -> list:
    return [r["data"][name] for r in records[:3]]


def test_values_json_cannot_carry_are_nulled_and_reported(read_typed):
    records, _ = read_typed
    for row, record in enumerate(records[:3]):
        changes = {c["field"] for c in record.get("meta", {}).get("changes", [])}
        assert changes == NULLED[row]
        for change in record.get("meta", {}).get("changes", []):
            assert change == {"field": change["field"], "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}
        for name in NULLED[row]:
            assert record["data"][name] is None


def test_all_null_row(read_typed):
    records, _ = read_typed
    assert records[3]["data"] == {"id": 4} | dict.fromkeys(COLUMNS)
    assert "meta" not in records[3]


def test_records_match_the_discovered_schema(read_typed, config, connector):
    records, _ = read_typed
    (stream,) = connector.catalog(config)["streams"]
    validator = jsonschema.Draft7Validator(json.loads(json.dumps(stream["stream"]["json_schema"])))
    for record in records:
        validator.validate(json.loads(json.dumps(record["data"], default=float)))


def test_integers_and_exact_numerics(pg, read_typed):
    records, _ = read_typed
    assert column(records, "c_int2") == truth(pg, "c_int2")
    assert column(records, "c_int8") == truth(pg, "c_int8")
    for name in ("c_numeric", "c_numeric2", "c_money", "c_domain"):
        expected = [
            None if t == "NaN" else decimal.Decimal(t) for t in truth(pg, name, "CAST(CAST({} AS numeric) AS text)")
        ]
        # exact values: the driver may spell 0.000000001 as 1E-9, the same number, never a rounded one
        assert column(records, name) == expected, name


def test_floats_round_trip(pg, read_typed):
    records, _ = read_typed
    for name in ("c_float4", "c_float8"):
        for got, value in zip(column(records, name), truth(pg, name), strict=True):
            if got is not None:
                assert float(got) == pytest.approx(value, rel=1e-7 if name == "c_float4" else 0)


def test_booleans_and_text(pg, read_typed):
    records, _ = read_typed
    assert column(records, "c_bool") == truth(pg, "c_bool")
    assert column(records, "c_text") == truth(pg, "c_text")
    assert column(records, "c_char") == truth(pg, "c_char")
    assert column(records, "c_enum") == truth(pg, "c_enum", "CAST({} AS text)")
    for name in ("c_inet", "c_cidr", "c_mac"):
        assert column(records, name) == truth(pg, name, "CAST({} AS text)")


def test_dates_and_times(pg, read_typed):
    records, _ = read_typed
    assert column(records, "c_date")[0] == truth(pg, "c_date", "CAST({} AS text)")[0]
    for got, value in zip(column(records, "c_time"), truth(pg, "c_time"), strict=True):
        assert datetime.time.fromisoformat(got) == value
    for got, value in zip(column(records, "c_timetz"), truth(pg, "c_timetz"), strict=True):
        assert got[-6] in "+-", got
        assert got[-3] == ":", got
        assert datetime.time.fromisoformat(got) == value
    for got, value in zip(column(records, "c_ts"), truth(pg, "c_ts"), strict=True):
        assert "+" not in got
        assert not got.endswith("Z")
        assert datetime.datetime.fromisoformat(got) == value
    finite = "CASE WHEN isfinite({}) THEN {} END"  # psycopg cannot load infinity
    for got, value in zip(column(records, "c_tstz"), truth(pg, "c_tstz", finite), strict=True):
        if got is not None:
            assert got.endswith("Z")
            assert datetime.datetime.fromisoformat(got) == value


def test_intervals_are_iso_8601(pg, read_typed):
    records, _ = read_typed
    pg.execute("SET IntervalStyle = iso_8601")
    assert column(records, "c_interval") == truth(pg, "c_interval", "CAST({} AS text)")


def test_json_uuid_bytea_and_arrays(pg, read_typed):
    records, _ = read_typed
    assert column(records, "c_json") == [
        json.loads(t, parse_float=decimal.Decimal) for t in truth(pg, "c_json", "CAST({} AS text)")
    ]
    assert column(records, "c_jsonb") == [
        json.loads(t, parse_float=decimal.Decimal) for t in truth(pg, "c_jsonb", "CAST({} AS text)")
    ]
    assert column(records, "c_uuid") == [str(u) for u in truth(pg, "c_uuid")]
    assert [base64.b64decode(v) for v in column(records, "c_bytea")] == [bytes(b) for b in truth(pg, "c_bytea")]
    assert column(records, "c_ints") == truth(pg, "c_ints")
    assert column(records, "c_texts") == truth(pg, "c_texts")


def test_time_24_00_is_read_as_postgresql_gives_it(pg, schema, config, connector):
    table = sql.Identifier(schema, "clock")
    pg.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, tm time)").format(table))
    pg.execute(sql.SQL("INSERT INTO {} VALUES (1, '24:00:00'), (2, '00:00:00')").format(table))
    run = connector.run("read", config, connector.catalog(config))
    assert run.exit_code == 0, run.stdout[-2000:]
    assert run.data == [{"id": 1, "tm": "24:00:00.000000"}, {"id": 2, "tm": "00:00:00.000000"}]
