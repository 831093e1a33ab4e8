"""`check` against the real server: success, and a precise FAILED status (exit 0) for each way it can go wrong.

Needs `make pg-test-setup` (scram password auth for role pwuser and TLS with a localhost certificate).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from airbyte_cdk.models import FailureType
from psycopg import sql

from source_postgres.config import PostgresConfig
from source_postgres.errors import connect_error, is_connection_lost

PWUSER, PASSWORD = "pwuser", "pwuser-secret-9"
SERVER_CERT = Path("/etc/postgresql-test-tls/server.crt")


@pytest.fixture(scope="module")
def tls_and_passwords(admin_dsn: str) -> str:
    """The server certificate (PEM); fails when the server has no TLS or no scram user."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        ssl = conn.execute("SHOW ssl").fetchone()[0]
        has_user = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PWUSER,)).fetchone()
    if ssl != "on" or not has_user or not SERVER_CERT.exists():
        pytest.fail("the server needs password auth and TLS: run `make pg-test-setup` (as root) first", pytrace=False)
    return SERVER_CERT.read_text()


@pytest.fixture
def pw_config(config: dict, schema: str, pg: psycopg.Connection, tls_and_passwords: str) -> dict:
    pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(PWUSER)))
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(schema, "t")))
    pg.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, "t"), sql.Identifier(PWUSER)))
    return config | {"username": PWUSER, "password": PASSWORD}


def status(run) -> dict:
    (only,) = [m["connectionStatus"] for m in run.of("CONNECTION_STATUS")]
    return only


def failed(run, *words: str) -> str:
    assert run.exit_code == 0, run.stdout + run.stderr
    result = status(run)
    assert result["status"] == "FAILED"
    for word in words:
        assert word.lower() in result["message"].lower(), result["message"]
    return result["message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_valid_config_succeeds(connector, pw_config):
    run = connector.run("check", pw_config)
    assert run.exit_code == 0
    assert status(run) == {"status": "SUCCEEDED"}
    assert PASSWORD not in run.stdout + run.stderr


def test_wrong_password(connector, pw_config):
    run = connector.run("check", pw_config | {"password": "not-the-password"})
    failed(run, "Authentication failed", PWUSER)
    assert "not-the-password" not in run.stdout + run.stderr


def test_unknown_host(connector, config):
    failed(connector.run("check", config | {"host": "no-such-host.invalid"}), "Unknown host", "no-such-host.invalid")


def test_refused_port(connector, config):
    port = free_port()
    failed(connector.run("check", config | {"port": port}), "connection refused", str(port))


def test_missing_database(connector, config):
    failed(connector.run("check", config | {"database": "no_such_db_x"}), "Database 'no_such_db_x' does not exist")


def test_missing_schema(connector, config):
    failed(
        connector.run("check", config | {"schemas": ["no_such_schema_x"]}), "Schema 'no_such_schema_x' does not exist"
    )


def test_no_usage_on_schema(connector, config, schema, role):
    failed(connector.run("check", config | {"username": role}), "USAGE", schema)


def test_no_select_on_any_table(connector, config, schema, role, pg):
    pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(schema, "secret")))
    failed(connector.run("check", config | {"username": role}), "SELECT", schema)
    pg.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, "secret"), sql.Identifier(role)))
    assert status(connector.run("check", config | {"username": role}))["status"] == "SUCCEEDED"


def test_a_server_refusing_more_connections_is_a_transient_failure(connector, config, schema, role, pg):
    pg.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(role)))  # SQLSTATE 53300
    failed(connector.run("check", config | {"username": role}), "try again later", "too many connections")
    run = connector.run("read", config | {"username": role}, {"streams": []})
    assert run.exit_code != 0
    assert run.errors[0]["failure_type"] == "transient_error", run.errors


@pytest.mark.parametrize(
    "fatal",
    [
        "the database system is starting up",  # 57P03
        "the database system is not yet accepting connections",  # 57P03
        "the database system is shutting down",  # 57P03
        "terminating connection due to administrator command",  # 57P01
        "sorry, too many clients already",  # 53300
        "remaining connection slots are reserved for roles with the SUPERUSER attribute",  # 53300
    ],
)
def test_a_server_not_accepting_connections_now_is_transient(config, fatal):
    exc = psycopg.OperationalError(f'connection to server at "127.0.0.1", port 5432 failed: FATAL:  {fatal}')
    error = connect_error(exc, PostgresConfig.parse(config))
    assert error.failure_type == FailureType.transient_error
    assert fatal in error.message
    assert is_connection_lost(exc)  # a reconnect in the middle of a read that fails so is retried


def test_bad_extra_connection_parameter(connector, config):
    failed(connector.run("check", config | {"connection_parameters": "no_such_option=1"}), "connection_parameters")


def test_tls_required_connects_encrypted(connector, pw_config):
    run = connector.run("check", pw_config | {"ssl_mode": "require"})
    assert status(run) == {"status": "SUCCEEDED"}


def test_tls_verify_full_with_the_server_ca(connector, pw_config, tls_and_passwords):
    config = pw_config | {"host": "localhost", "ssl_mode": "verify-full", "ssl_ca_certificate": tls_and_passwords}
    assert status(connector.run("check", config)) == {"status": "SUCCEEDED"}


def test_tls_verify_full_with_another_ca_fails(connector, pw_config, tmp_path):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
         "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    config = pw_config | {
        "host": "localhost",
        "ssl_mode": "verify-full",
        "ssl_ca_certificate": (tmp_path / "c.pem").read_text(),
    }
    failed(connector.run("check", config), "TLS", "verify-full")


def test_verify_ca_without_a_certificate_is_a_config_failure(connector, config):
    failed(connector.run("check", config | {"ssl_mode": "verify-ca"}), "ssl_ca_certificate")


def test_malformed_config_fails_the_check(connector, config):
    run = connector.run("check", config | {"port": "not a number"})
    failed(run, "port")


def test_read_over_verified_tls_with_a_password_never_shows_it(connector, pw_config, tls_and_passwords, pg, schema):
    pg.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 50)").format(sql.Identifier(schema, "t")))
    config = pw_config | {
        "host": "localhost",
        "ssl_mode": "verify-full",
        "ssl_ca_certificate": tls_and_passwords,
        "connection_parameters": "application_name=tls-read-test",
    }
    run = connector.run("read", config, connector.catalog(config))
    assert run.exit_code == 0, run.stdout[-2000:]
    assert sorted(d["id"] for d in run.data) == list(range(1, 51))
    assert PASSWORD not in run.stdout + run.stderr

    catalog = connector.catalog(config)
    pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "t")))
    failed = connector.run("read", config, catalog)
    assert failed.exit_code != 0
    assert failed.errors[0]["failure_type"] == "config_error"
    assert PASSWORD not in failed.stdout + failed.stderr


def test_client_certificate_authentication(connector, config, pg, schema, tls_and_passwords):
    cert, key = (SERVER_CERT.parent / "client.crt").read_text(), (SERVER_CERT.parent / "client.key").read_text()
    pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO certuser").format(sql.Identifier(schema)))
    pg.execute(sql.SQL("CREATE TABLE {} AS SELECT generate_series(1, 20) AS id").format(sql.Identifier(schema, "t")))
    pg.execute(sql.SQL("GRANT SELECT ON {} TO certuser").format(sql.Identifier(schema, "t")))
    config = config | {"username": "certuser", "ssl_mode": "require"}
    leftovers = set(Path(tempfile.gettempdir()).glob("source-postgres-tls-*"))

    failed(connector.run("check", config), "certificate")
    with_cert = config | {"ssl_client_certificate": cert, "ssl_client_key": key}
    assert status(connector.run("check", with_cert)) == {"status": "SUCCEEDED"}
    run = connector.run("read", with_cert, connector.catalog(with_cert))
    assert run.exit_code == 0, run.stdout[-2000:]
    assert sorted(d["id"] for d in run.data) == list(range(1, 21))
    assert "PRIVATE KEY" not in run.stdout + run.stderr
    assert set(Path(tempfile.gettempdir()).glob("source-postgres-tls-*")) == leftovers  # key files removed
