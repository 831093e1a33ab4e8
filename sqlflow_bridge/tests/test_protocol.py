"""spec, check and discover through each way of running a connector; errors and `${ENV}` references."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from airbyte_cdk.models import FailureType, Status

from destination_core.parse import logger as parser_logger
from source_core.testing import free_port
from sqlflow_bridge.connector import AirbyteConnector
from sqlflow_bridge.connector import logger as bridge_logger
from sqlflow_bridge.errors import ConnectorError
from sqlflow_bridge.secrets import MASK
from tests.conftest import fake_connector

SECRET = "s3cr3t-t0ken-0123456789"


def test_spec_is_typed(source: AirbyteConnector) -> None:
    spec = source.spec()
    properties = spec.connectionSpecification["properties"]
    assert properties["password"]["airbyte_secret"] is True
    assert "host" in spec.connectionSpecification["required"]


def test_check_succeeds_and_fails_with_the_connectors_message(source: AirbyteConnector, config: dict) -> None:
    assert source.check(config).status == Status.SUCCEEDED
    port = free_port()
    status = source.check(config | {"port": port})
    assert status.status == Status.FAILED
    assert str(port) in status.message


def test_discover_gives_typed_streams(source: AirbyteConnector, config: dict, pg: psycopg.Connection, schema: str):
    pg.execute(f'CREATE TABLE "{schema}".items (id bigint PRIMARY KEY, label text, at timestamptz)')
    catalog = source.discover(config)
    (stream,) = catalog.streams
    assert (stream.name, stream.namespace) == ("items", schema)
    assert set(stream.json_schema["properties"]) == {"id", "label", "at"}
    assert stream.json_schema["properties"]["at"]["format"] == "date-time"


def test_failure_raises_one_error_type_with_the_connectors_message_and_type(source: AirbyteConnector, config: dict):
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": "missing",
                    "namespace": config["schemas"][0],
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append",
            }
        ]
    }
    with pytest.raises(ConnectorError) as caught:
        list(source.read(config, catalog=catalog))
    assert caught.value.failure_type == FailureType.config_error
    assert "'missing'" in caught.value.message and "discover" in caught.value.message


def test_env_references_are_resolved_and_masked(config: dict[str, Any]) -> None:
    secret_db = "nodb_s3cr3t_value"
    connector = AirbyteConnector.command("source-postgres", environ={"BRIDGE_DB": secret_db})
    status = connector.check(config | {"database": "${BRIDGE_DB}"})
    assert status.status == Status.FAILED
    assert secret_db not in status.message and MASK in status.message  # the server named the database
    with pytest.raises(ConnectorError) as caught:
        connector.discover(config | {"database": "${BRIDGE_DB}"})
    assert secret_db not in str(caught.value) + (caught.value.internal_message or "")


def test_a_missing_env_variable_is_a_config_error_naming_it(config: dict[str, Any]) -> None:
    connector = AirbyteConnector.in_process("source-postgres", environ={})
    with pytest.raises(ConnectorError) as caught:
        connector.check(config | {"password": "${BRIDGE_NOT_SET}"})
    assert caught.value.failure_type == FailureType.config_error
    assert "BRIDGE_NOT_SET" in caught.value.message


def test_a_command_that_is_not_installed_says_so() -> None:
    with pytest.raises(ConnectorError, match="not on PATH"):
        AirbyteConnector.command("source-does-not-exist")


def test_a_connector_that_dies_without_a_trace_is_reported_with_its_stderr() -> None:
    crash = [sys.executable, "-c", "import sys; print('not json'); print('disk on fire', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(ConnectorError) as caught:
        AirbyteConnector.command(crash).spec()
    assert "code 3" in caught.value.message and "disk on fire" in caught.value.message
    assert caught.value.failure_type == FailureType.system_error


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the bridge's logger and destination-core's parser's logger (`airbyte`) log."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    for logger in (bridge_logger, parser_logger):
        logger.addHandler(handler)
    yield text
    for logger in (bridge_logger, parser_logger):
        logger.removeHandler(handler)


def leaked(text: str) -> bool:
    """Whether any six characters of SECRET in a row show in `text`."""
    return any(SECRET[i : i + 6] in text for i in range(len(SECRET) - 5))


def test_secrets_are_masked_before_output_is_cut_short(logged: io.StringIO) -> None:
    connector = fake_connector(environ={"BRIDGE_TOKEN": SECRET})
    connector.check({"token": "${BRIDGE_TOKEN}", "mode": "stray"})  # a stray line, its secret across 200 characters
    list(connector.read({"token": "${BRIDGE_TOKEN}", "mode": "stray"}))  # a stray line the parser logs
    with pytest.raises(ConnectorError) as caught:
        connector.check({"token": "${BRIDGE_TOKEN}", "mode": "die"})  # its secret across the last 1000 characters
    assert "token=****" in logged.getvalue() and "password ****" in logged.getvalue()
    assert not leaked(logged.getvalue()) and not leaked(str(caught.value))


def test_an_escaped_reference_stays_literal_in_a_read() -> None:
    (part,) = fake_connector(environ={}).read({"token": "$${BRIDGE_NOT_SET}"})
    assert part.chunk.arrow_table.column("token").to_pylist() == ["${BRIDGE_NOT_SET}"]
