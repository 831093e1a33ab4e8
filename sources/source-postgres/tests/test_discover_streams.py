"""`discover` against the real server: which relations become streams, their keys and their JSON schemas."""

from __future__ import annotations

import jsonschema
import psycopg
import pytest
from psycopg import sql


def catalog(connector, config) -> dict[str, dict]:
    run = connector.run("discover", config)
    assert run.exit_code == 0, run.stdout + run.stderr
    (found,) = [m["catalog"] for m in run.of("CATALOG")]
    return {s["name"]: s for s in found["streams"]}


def execute(pg: psycopg.Connection, statement: str, schema: str, *names: str) -> None:
    """Run `statement` with {} placeholders filled by schema-qualified identifiers of `names`."""
    pg.execute(sql.SQL(statement).format(*(sql.Identifier(schema, n) for n in names)))


def test_tables_views_and_materialized_views_with_keys(pg, schema, config, connector):
    execute(pg, "CREATE TABLE {} (id bigint PRIMARY KEY, v text)", schema, "plain")
    execute(pg, "CREATE TABLE {} (a text, b int, v text, PRIMARY KEY (b, a))", schema, "composite")
    execute(pg, "CREATE TABLE {} (v text)", schema, "keyless")
    execute(pg, "CREATE VIEW {} AS SELECT id FROM {}", schema, "a_view", "plain")
    execute(pg, "CREATE MATERIALIZED VIEW {} AS SELECT id FROM {}", schema, "a_matview", "plain")
    execute(pg, "CREATE TABLE {} (id int, at date) PARTITION BY RANGE (at)", schema, "parted")
    execute(pg, "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')", schema,
            "parted_2024", "parted")  # fmt: skip

    streams = catalog(connector, config)
    assert set(streams) == {"plain", "composite", "keyless", "a_view", "a_matview", "parted"}
    for stream in streams.values():
        assert stream["namespace"] == schema
        assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
        assert stream["source_defined_cursor"] is False
        jsonschema.Draft7Validator.check_schema(stream["json_schema"])
        for prop in stream["json_schema"]["properties"].values():
            assert "null" in prop["type"]
    assert streams["plain"]["source_defined_primary_key"] == [["id"]]
    assert streams["composite"]["source_defined_primary_key"] == [["b"], ["a"]]
    assert streams["keyless"].get("source_defined_primary_key") is None
    assert streams["keyless"]["is_resumable"] is True  # by ctid
    assert streams["a_view"]["is_resumable"] is False
    assert streams["a_matview"]["is_resumable"] is True


def test_only_what_the_user_may_read(pg, schema, config, connector):
    role = "r_disc_" + schema[-6:]
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        execute(pg, "CREATE TABLE {} (id int, secret text)", schema, "partly")
        execute(pg, "CREATE TABLE {} (id int)", schema, "hidden")
        pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        pg.execute(
            sql.SQL("GRANT SELECT (id) ON {} TO {}").format(sql.Identifier(schema, "partly"), sql.Identifier(role))
        )
        streams = catalog(connector, config | {"username": role})
        assert set(streams) == {"partly"}
        assert set(streams["partly"]["json_schema"]["properties"]) == {"id"}
    finally:
        pg.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        pg.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_odd_names_are_kept_exactly(pg, schema, config, connector):
    table, column = 'Mixed Case "quoted".dot ü', 'Col "x".y ß'
    pg.execute(
        sql.SQL("CREATE TABLE {} ({} int PRIMARY KEY)").format(sql.Identifier(schema, table), sql.Identifier(column))
    )
    streams = catalog(connector, config)
    assert list(streams) == [table]
    assert list(streams[table]["json_schema"]["properties"]) == [column]
    assert streams[table]["source_defined_primary_key"] == [[column]]


TYPES = {
    "c_int2": ("smallint", {"type": ["null", "integer"]}),
    "c_int8": ("bigint", {"type": ["null", "integer"]}),
    "c_numeric": ("numeric(20,5)", {"type": ["null", "number"]}),
    "c_float": ("double precision", {"type": ["null", "number"]}),
    "c_money": ("money", {"type": ["null", "number"]}),
    "c_bool": ("boolean", {"type": ["null", "boolean"]}),
    "c_text": ("varchar(10)", {"type": ["null", "string"]}),
    "c_date": ("date", {"type": ["null", "string"], "format": "date"}),
    "c_ts": ("timestamp", {"type": ["null", "string"], "format": "date-time",
                           "airbyte_type": "timestamp_without_timezone"}),
    "c_tstz": ("timestamptz", {"type": ["null", "string"], "format": "date-time",
                               "airbyte_type": "timestamp_with_timezone"}),
    "c_time": ("time", {"type": ["null", "string"], "format": "time", "airbyte_type": "time_without_timezone"}),
    "c_timetz": ("timetz", {"type": ["null", "string"], "format": "time", "airbyte_type": "time_with_timezone"}),
    "c_interval": ("interval", {"type": ["null", "string"]}),
    "c_jsonb": ("jsonb", {"type": ["null", "object", "array", "string", "number", "boolean"]}),
    "c_uuid": ("uuid", {"type": ["null", "string"], "format": "uuid"}),
    "c_bytea": ("bytea", {"type": ["null", "string"], "contentEncoding": "base64"}),
    "c_ints": ("int[]", {"type": ["null", "array"], "items": {"type": ["null", "integer"]}}),
    "c_texts": ("text[]", {"type": ["null", "array"], "items": {"type": ["null", "string"]}}),
    "c_inet": ("inet", {"type": ["null", "string"]}),
    "c_enum": ("mood", {"type": ["null", "string"]}),
    "c_domain": ("positive", {"type": ["null", "integer"]}),
}  # fmt: skip


@pytest.mark.parametrize("column", list(TYPES))
def test_type_mapping(pg, schema, config, connector, column):
    pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    pg.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    pg.execute("CREATE DOMAIN positive AS integer CHECK (VALUE > 0)")
    pg.execute(sql.SQL("CREATE TABLE t ({} {})").format(sql.Identifier(column), sql.SQL(TYPES[column][0])))
    properties = catalog(connector, config)["t"]["json_schema"]["properties"]
    assert properties[column] == TYPES[column][1]
