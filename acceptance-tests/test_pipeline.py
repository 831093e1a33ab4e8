"""`source-postgres read | destination-postgres write`, both run the way the suite runs connectors (commands or
images), copies the seeded tables into another schema row for row."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
from psycopg import sql

from acceptance.protocol import configured_catalog
from acceptance.runner import TIMEOUT_SECONDS, Output


def _pair(by_name: dict):
    if "source-postgres" not in by_name or "destination-postgres" not in by_name:
        pytest.skip("runs when both source-postgres and destination-postgres are under test")
    return by_name["source-postgres"], by_name["destination-postgres"]


def _columns(connection: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND column_name NOT LIKE '\\_airbyte\\_%%' ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]


def _rows(connection: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[tuple]:
    query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
    )
    return connection.execute(query).fetchall()


def test_source_postgres_piped_into_destination_postgres(targets_by_name, tmp_path) -> None:
    source, destination = _pair(targets_by_name)
    source_config = source.connector.json_file("integration_tests/config.json")
    destination_config = destination.connector.json_file("integration_tests/config.json")
    destination_config |= {"schema": "acceptance_pipeline", "ignore_source_namespace": True}
    catalog = configured_catalog(source, {"configured_catalog_path": "integration_tests/configured_catalog.json"},
                                 source_config, tmp_path)  # fmt: skip
    files = {}
    for name, value in (("source", source_config), ("destination", destination_config), ("catalog", catalog)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(value))
    read_args = ["read", "--config", str(files["source"]), "--catalog", str(files["catalog"])]
    write_args = ["write", "--config", str(files["destination"]), "--catalog", str(files["catalog"])]
    reader = subprocess.Popen(
        source.runner.argv(read_args, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    writer = subprocess.run(
        destination.runner.argv(write_args, tmp_path), stdin=reader.stdout, capture_output=True, timeout=TIMEOUT_SECONDS
    )
    reader.stdout.close()
    assert reader.wait(timeout=TIMEOUT_SECONDS) == 0
    written = Output(writer.returncode, writer.stdout.decode(), writer.stderr.decode(errors="replace"))
    assert written.exit_code == 0 and not written.errors, written.describe()
    assert written.states, "the destination acknowledged no state"

    dsn = source_config
    with psycopg.connect(host=dsn["host"], port=dsn["port"], dbname=dsn["database"], user=dsn["username"]) as conn:
        for configured in catalog["streams"]:
            table = configured["stream"]["name"]
            columns = _columns(conn, "acceptance", table)
            assert set(_columns(conn, "acceptance_pipeline", table)) == set(columns)
            copied = _rows(conn, "acceptance_pipeline", table, columns)
            assert copied == _rows(conn, "acceptance", table, columns), f"{table}: the copy differs"
            assert copied, f"{table}: nothing was copied"
