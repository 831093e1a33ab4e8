"""spec, check and discover through the real CLI, and compatibility mode (an Airbyte low-code manifest)."""

from __future__ import annotations

from pathlib import Path

import yaml

from source_core.testing import free_port
from source_rest_api import sandbox
from source_rest_api.spec import MANIFEST_KEY
from tests.conftest import ALL_IDS, INCREMENTAL, SECRETS, Connector, Sandbox, catalog, config, stream

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "integration_tests" / "manifest.yaml").read_text())


def secret_paths(schema: dict, path: str = "") -> set[str]:
    found = {path} if schema.get("airbyte_secret") else set()
    for key, sub in schema.get("properties", {}).items():
        found |= secret_paths(sub, f"{path}.{key}")
    for option in schema.get("oneOf", []):
        found |= secret_paths(option, f"{path}[{option['properties']['type']['const']}]")
    return found


def test_spec_marks_every_secret(connector: Connector) -> None:
    run = connector.run("spec")
    assert run.exit_code == 0
    (spec,) = [m["spec"] for m in run.of("SPEC")]
    assert spec["supportsIncremental"] is True
    assert secret_paths(spec["connectionSpecification"]) == {
        ".auth[bearer].token",
        ".auth[basic].password",
        ".auth[api_key].value",
        ".auth[oauth2].client_secret",
        ".auth[oauth2].refresh_token",
        ".http.client_key",
    }


def test_check(api: Sandbox, connector: Connector) -> None:
    good = connector.run(
        "check", config(api, stream("items", auth="bearer"), auth={"type": "bearer", "token": sandbox.BEARER_TOKEN})
    )
    assert good.of("CONNECTION_STATUS")[0]["connectionStatus"] == {"status": "SUCCEEDED"}
    wrong = connector.run(
        "check", config(api, stream("items", auth="bearer"), auth={"type": "bearer", "token": "nope"})
    )
    status = wrong.of("CONNECTION_STATUS")[0]["connectionStatus"]
    assert wrong.exit_code == 0 and status["status"] == "FAILED"
    assert "refused the credentials (401)" in status["message"]
    missing = connector.run("check", config(api, {**stream("items"), "path": "/open/nothing"}))
    status = missing.of("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "does not exist (404)" in status["message"]
    nobody = {
        **config(api, stream("items")),
        "base_url": f"http://127.0.0.1:{free_port()}",
        "http": {"backoff_initial_seconds": 0.05},  # check itself caps the retries
    }
    status = connector.run("check", nobody).of("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "ConnectionError" in status["message"]


def test_discover_infers_schemas_and_a_given_schema_wins(api: Sandbox, connector: Connector) -> None:
    given = {"type": "object", "properties": {"id": {"type": "integer"}}}
    run = connector.run(
        "discover",
        config(
            api, stream("items", style="offset", incremental=INCREMENTAL), stream("fixed", style="link", schema=given)
        ),
    )
    assert run.exit_code == 0, run.stderr[-2000:]
    items, fixed = run.of("CATALOG")[0]["catalog"]["streams"]
    properties = items["json_schema"]["properties"]
    assert set(properties) == {"id", "updated_at", "name", "amount", "tags", "group"}
    assert "string" in properties["name"]["type"] and "array" in properties["tags"]["type"]
    assert set(properties["group"]["properties"]) == {"id", "label"}
    assert items["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert items["default_cursor_field"] == ["updated_at"] and items["source_defined_primary_key"] == [["id"]]
    assert fixed["json_schema"] == given and fixed["supported_sync_modes"] == ["full_refresh"]
    assert api.stats()["requests"] == 1  # one sample page, none for the stream with a schema


def test_manifest_compatibility_mode(api: Sandbox, connector: Connector) -> None:
    cfg = {MANIFEST_KEY: MANIFEST, "base_url": api.url, "token": sandbox.BEARER_TOKEN}
    check = connector.run("check", cfg)
    assert check.of("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED", check.stdout[-2000:]
    run = connector.run("read", cfg, catalog({"name": "items"}))
    assert run.exit_code == 0, run.stdout[-2000:]
    assert run.ids() == ALL_IDS
    for secret in SECRETS:
        assert secret not in run.stdout and secret not in check.stdout
