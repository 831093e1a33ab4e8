"""check: each declared config gives one CONNECTION_STATUS with the declared outcome and exit 0; a failure says
why; no secret value of the config appears anywhere in the output."""

from __future__ import annotations

from acceptance.checks import secret_values, spec_properties
from acceptance.protocol import spec_of
from acceptance.runner import invoke


def test_check_outcomes_and_no_secret_in_output(target, tmp_path) -> None:
    entries = target.connector.required_tests("connection")
    schema = spec_of(target)["connectionSpecification"]
    for entry in entries:
        config = target.connector.json_file(entry["config_path"], tmp_path)
        out = invoke(target.runner, tmp_path, "check", config=config)
        assert out.exit_code == 0, f"{entry['config_path']}: {out.describe()}"
        statuses = [m["connectionStatus"] for m in out.of_type("CONNECTION_STATUS")]
        assert len(statuses) == 1, f"{entry['config_path']}: expected one CONNECTION_STATUS; {out.describe()}"
        expected = "SUCCEEDED" if entry["status"] == "succeed" else "FAILED"
        assert statuses[0]["status"] == expected, f"{entry['config_path']}: {statuses[0]}"
        if expected == "FAILED":
            assert statuses[0].get("message"), "a failed check must say why"
        for secret in secret_values(schema, config):
            assert secret not in out.stdout and secret not in out.stderr, f"{entry['config_path']}: a secret leaked"


def test_declared_configs_hold_secrets_to_check(target, tmp_path) -> None:
    """The leak check above proves something only if some declared config holds a secret; a connector whose spec
    has secret fields must declare one."""
    schema = spec_of(target)["connectionSpecification"]
    configs = [target.connector.json_file(e["config_path"], tmp_path) for e in target.connector.tests("connection")]
    if any(prop.get("airbyte_secret") for _, prop in spec_properties(schema)):
        assert any(secret_values(schema, config) for config in configs), "no declared config holds a secret value"
