from __future__ import annotations

import jsonschema


def test_spec_is_one_valid_message_with_secrets_marked(connector):
    run = connector.run("spec")
    assert run.exit_code == 0, run.stderr
    (spec,) = [m["spec"] for m in run.of("SPEC")]
    schema = spec["connectionSpecification"]
    jsonschema.Draft7Validator.check_schema(schema)
    secrets = {name for name, prop in schema["properties"].items() if prop.get("airbyte_secret")}
    assert secrets == {"password", "ssl_client_key", "ssl_client_key_password"}
    assert set(schema["required"]) == {"host", "database", "username"}
    assert schema["properties"]["ssl_mode"]["enum"] == [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ]
    assert spec["supportsIncremental"] is True
    assert not run.non_json
