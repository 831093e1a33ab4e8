"""`spec` and `check` of destination-postgres against the real server, run as a separate process.

`check` must answer SUCCEEDED or FAILED (exit code 0 either way) with a message that says what to fix, must
leave nothing behind in the database, and must never print a password. Needs `make pg-test-setup` (scram
password auth for role pwuser, TLS with a localhost certificate).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest
from psycopg import sql

from source_core.testing import Cli, Run

from .conftest import relations, schema_exists

PWUSER = "pwuser"
PWUSER_PASSWORD = os.environ.get("PWUSER_PASSWORD", "pwuser-secret-9")
SERVER_CERT = Path(os.environ.get("TLS_DIR", "/etc/postgresql-test-tls")) / "server.crt"
SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def secret() -> str:
    """A password no run has seen before, so that finding it in the output can only mean the connector printed it."""
    return f"pw-{uuid.uuid4().hex}"


def succeeded(run: Run, *secrets: str) -> None:
    assert run.exit_code == 0, run.describe()
    assert run.connection_status == {"status": "SUCCEEDED"}, run.describe()
    never_printed(run, *secrets)


def failed(run: Run, *words: str, secrets: tuple[str, ...] = ()) -> str:
    """Assert a FAILED status (exit 0) whose message holds every word (case-insensitive); return the message."""
    assert run.exit_code == 0, run.describe()
    result = run.connection_status
    assert result["status"] == "FAILED", run.describe()
    message = result.get("message") or ""
    for word in words:
        assert word.lower() in message.lower(), message
    never_printed(run, *secrets)
    return message


def never_printed(run: Run, *secrets: str) -> None:
    for value in secrets:
        assert value not in run.output, f"a secret was printed: {run.describe()}"


@pytest.fixture(scope="module")
def tls_and_passwords(admin_dsn: str) -> str:
    """The server certificate (PEM); fails (never skips) when the server has no TLS or no scram user."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        ssl = conn.execute("SHOW ssl").fetchone()[0]
        has_user = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PWUSER,)).fetchone()
    if ssl != "on" or not has_user or not SERVER_CERT.exists():
        pytest.fail("the server needs password auth and TLS: run `make pg-test-setup` (as root) first", pytrace=False)
    return SERVER_CERT.read_text()


@pytest.fixture
def make_role(pg: psycopg.Connection) -> Iterator[Callable[[], tuple[str, str]]]:
    """Creates throwaway roles: NOLOGIN first, then LOGIN with a password (127.0.0.1 trusts them, so the password
    only has to reach the server). Every privilege, object and the role itself are removed afterwards."""
    made: list[str] = []

    def make() -> tuple[str, str]:
        name, password = f"r_{uuid.uuid4().hex[:10]}", secret()
        pg.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        made.append(name)
        pg.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        return name, password

    yield make
    database = pg.execute("SELECT current_database()").fetchone()[0]
    for name in made:
        pg.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(database), sql.Identifier(name)))
        pg.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        pg.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def grant(pg: psycopg.Connection, privileges: str, on: str, target: str, role: str) -> None:
    pg.execute(
        sql.SQL("GRANT {} ON {} {} TO {}").format(
            sql.SQL(privileges), sql.SQL(on), sql.Identifier(target), sql.Identifier(role)
        )
    )


# -- spec ----------------------------------------------------------------------------------------------------


def test_spec_is_one_valid_message(cli: Cli) -> None:
    run = cli.spec()
    assert run.exit_code == 0, run.describe()
    assert not run.non_json, run.non_json
    (spec,) = [m["spec"] for m in run.of("SPEC")]
    schema = spec["connectionSpecification"]
    jsonschema.Draft7Validator.check_schema(schema)
    properties = schema["properties"]
    assert set(schema["required"]) == {"host", "database", "username"}
    assert properties["password"]["airbyte_secret"] is True
    assert properties["password"]["type"] == "string"
    secrets = {name for name, prop in properties.items() if prop.get("airbyte_secret")}
    assert secrets == {"password", "ssl_client_key", "ssl_client_key_password"}
    assert properties["ssl_mode"]["enum"] == SSL_MODES
    assert properties["ssl_mode"]["default"] in SSL_MODES
    assert properties["port"]["type"] == "integer"
    assert set(spec["supported_destination_sync_modes"]) == {"overwrite", "append", "append_dedup"}
    assert spec["supportsIncremental"] is True
    # a minimal config validates against the spec, one with a wrong type does not
    minimal = {"host": "h", "database": "d", "username": "u"}
    jsonschema.validate(minimal, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(minimal | {"port": "5432"}, schema)


# -- success ---------------------------------------------------------------------------------------------------


def test_check_succeeds_and_leaves_no_table(cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str):
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(schema, "already_here")))
    password = secret()  # trust auth ignores it; it must still never be printed
    succeeded(cli.check(config | {"password": password}), password)
    assert relations(pg, schema) == {"already_here"}


def test_check_succeeds_with_an_empty_key_in_the_config(cli: Cli, config: dict[str, Any]):
    """The secrets are masked by walking the config with dpath, which refuses an empty key unless told otherwise
    (airbyte_cdk.sources's `__init__` tells it, and the destinations' start-up leaves that `__init__` out)."""
    password = secret()
    succeeded(cli.check(config | {"password": password, "labels": {"": "unnamed"}}), password)


def test_check_on_a_missing_schema_succeeds_and_does_not_create_it(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, drop_schemas: list[str]
):
    missing = f"d_missing_{uuid.uuid4().hex[:8]}"
    drop_schemas.append(missing)
    succeeded(cli.check(config | {"schema": missing}))
    assert not schema_exists(pg, missing)


def test_check_with_scram_password_and_create_on_the_schema(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, tls_and_passwords: str
):
    """pwuser owns no database privilege beyond CONNECT: USAGE and CREATE on the existing schema are all it needs."""
    grant(pg, "USAGE, CREATE", "SCHEMA", schema, PWUSER)
    succeeded(cli.check(config | {"username": PWUSER, "password": PWUSER_PASSWORD}), PWUSER_PASSWORD)
    assert relations(pg, schema) == set()


def test_check_with_a_role_that_may_create(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, make_role
):
    role, password = make_role()
    grant(pg, "CREATE", "DATABASE", config["database"], role)
    grant(pg, "USAGE, CREATE", "SCHEMA", schema, role)
    succeeded(cli.check(config | {"username": role, "password": password}), password)
    assert relations(pg, schema) == set()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_check_over_tls(cli: Cli, config: dict[str, Any], tls_and_passwords: str, host: str):
    succeeded(cli.check(config | {"host": host, "ssl_mode": "require"}))
    verified = config | {"host": "localhost", "ssl_mode": "verify-full", "ssl_ca_certificate": tls_and_passwords}
    succeeded(cli.check(verified))


# -- failures: FAILED, exit code 0, a message that says what to fix --------------------------------------------


def test_wrong_password(cli: Cli, config: dict[str, Any], tls_and_passwords: str):
    wrong = f"wrong-{uuid.uuid4().hex[:12]}"
    run = cli.check(config | {"username": PWUSER, "password": wrong})
    failed(run, "authentication failed", PWUSER, "password", secrets=(wrong, PWUSER_PASSWORD))


def test_unknown_host(cli: Cli, config: dict[str, Any]):
    password = secret()
    host = f"no-such-host-{uuid.uuid4().hex[:6]}.invalid"
    failed(cli.check(config | {"host": host, "password": password}), "unknown host", host, secrets=(password,))


def test_refused_port(cli: Cli, config: dict[str, Any]):
    password = secret()
    run = cli.check(config | {"port": 1, "password": password})
    failed(run, "refused", f"{config['host']}:1", "port", secrets=(password,))


def test_missing_database(cli: Cli, config: dict[str, Any]):
    password = secret()
    database = f"no_such_db_{uuid.uuid4().hex[:8]}"
    failed(
        cli.check(config | {"database": database, "password": password}),
        database,
        "does not exist",
        secrets=(password,),
    )


@pytest.mark.parametrize("create_on_database", [False, True], ids=["plain-role", "role-with-create-on-database"])
def test_role_without_create_on_the_schema(
    cli: Cli, config: dict[str, Any], pg: psycopg.Connection, schema: str, make_role, create_on_database: bool
):
    role, password = make_role()
    grant(pg, "ALL", "SCHEMA", schema, role)
    pg.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(sql.Identifier(schema), sql.Identifier(role)))
    if create_on_database:
        grant(pg, "CREATE", "DATABASE", config["database"], role)
    message = failed(
        cli.check(config | {"username": role, "password": password}), role, schema, "CREATE", secrets=(password,)
    )
    if create_on_database:  # nothing else can be at fault: the message must blame the schema
        assert f"permission denied for schema {schema}" in message, message
    assert relations(pg, schema) == set()
    # granting what the message asks for is enough
    grant(pg, "CREATE", "SCHEMA", schema, role)
    grant(pg, "CREATE", "DATABASE", config["database"], role)
    succeeded(cli.check(config | {"username": role, "password": password}), password)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"port": "5432"}, "port"),
        ({"port": "not a number"}, "port"),
        ({"port": 70000}, "port"),
        ({"host": None}, "host"),
        ({"ssl_mode": "sometimes"}, "ssl_mode"),
        ({"commit_interval_rows": 0}, "commit_interval_rows"),
    ],
    ids=["port-as-digits-string", "port-as-words", "port-out-of-range", "host-missing", "ssl-mode", "commit-rows"],
)
def test_malformed_config_names_the_field(cli: Cli, config: dict[str, Any], change: dict[str, Any], field: str):
    password = secret()
    broken = {k: v for k, v in (config | {"password": password} | change).items() if v is not None}
    message = failed(cli.check(broken), field, secrets=(password,))
    assert f"'{field}'" in message or f'"{field}"' in message, message


def test_malformed_password_is_named_but_never_repeated(cli: Cli, config: dict[str, Any]):
    value = int(uuid.uuid4().int % 10**15) + 10**15  # a number where a string belongs
    failed(cli.check(config | {"password": value}), "password", secrets=(str(value),))
