"""spec: exactly one SPEC, a valid JSON schema of an object, credentials marked airbyte_secret, what the connector's
own spec file says; configs that the connector should accept validate against it."""

from __future__ import annotations

import jsonschema

from acceptance.checks import unmarked_secrets
from acceptance.protocol import spec_of

DESTINATION_SYNC_MODES = {"append", "overwrite", "append_dedup", "overwrite_dedup"}


def test_spec_is_one_valid_json_schema_with_secrets_marked(target) -> None:
    spec = spec_of(target)
    schema = spec["connectionSpecification"]
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema.get("type") == "object"
    assert not unmarked_secrets(schema), f"credential fields without airbyte_secret: {unmarked_secrets(schema)}"
    for entry in target.connector.tests("spec"):
        declared = target.connector.json_file(entry["spec_path"])
        assert schema == declared["connectionSpecification"], f"the SPEC differs from {entry['spec_path']}"
    if not target.connector.is_source:
        modes = set(spec.get("supported_destination_sync_modes") or [])
        assert modes and modes <= DESTINATION_SYNC_MODES, f"supported_destination_sync_modes: {modes}"


def test_configs_that_should_work_validate_against_spec(target, tmp_path) -> None:
    schema = spec_of(target)["connectionSpecification"]
    for entry in target.connector.tests("connection"):
        if entry.get("status") == "succeed":
            config = target.connector.json_file(entry["config_path"], tmp_path)
            jsonschema.validate(config, schema)
