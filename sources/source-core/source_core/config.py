"""Config errors: validation against the spec that names the offending field (the CDK's message does not), and
the one way a connector raises a config_error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import ConnectorSpecification, FailureType
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match


def config_error(message: str, internal: str | None = None) -> AirbyteTracedException:
    """A TRACE ERROR of type config_error: the user's config (or catalog) must change."""
    return AirbyteTracedException(message=message, internal_message=internal, failure_type=FailureType.config_error)


def validate_config(spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
    """Raise a config_error naming the first invalid field; values of secret fields are never repeated."""
    schema = spec.connectionSpecification
    connector_config, _ = split_config(config)
    error = best_match(Draft7Validator(schema).iter_errors(dict(connector_config)))
    if error is None:
        return
    path = ".".join(str(p) for p in error.absolute_path)
    field_schema = schema.get("properties", {}).get(str(error.absolute_path[0]), {}) if error.absolute_path else {}
    if field_schema.get("airbyte_secret"):
        detail = f"fails '{error.validator}: {error.validator_value}'"
    else:
        detail = error.message
    where = f"Config field '{path}'" if path else "The config"
    raise AirbyteTracedException(
        message=f"{where} is invalid: {detail}.",
        internal_message=f"config validation: {error.validator} at {path or '<root>'}",
        failure_type=FailureType.config_error,
    )
