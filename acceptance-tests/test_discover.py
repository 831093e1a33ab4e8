"""discover: exactly one CATALOG; every stream's schema is a valid JSON schema of an object in Airbyte's type
system; declared primary keys and cursors exist in the schema."""

from __future__ import annotations

import jsonschema

from acceptance.checks import has_field, schema_problems
from acceptance.protocol import discovered


def test_discover_catalog_is_valid(source, tmp_path) -> None:
    for entry in source.connector.required_tests("discovery"):
        streams = discovered(source, source.connector.json_file(entry["config_path"], tmp_path), tmp_path)
        assert streams, "the catalog has no stream"
        for stream in streams:
            schema = stream["json_schema"]
            jsonschema.Draft7Validator.check_schema(schema)
            assert schema.get("type") == "object" or "object" in (schema.get("type") or []), stream["name"]
            assert not schema_problems(schema), f"{stream['name']}: {schema_problems(schema)}"
            assert stream["supported_sync_modes"], stream["name"]
            for key in stream.get("source_defined_primary_key") or []:
                assert has_field(schema, key), f"{stream['name']}: primary key {key} is not in the schema"
            if cursor := stream.get("default_cursor_field"):
                assert has_field(schema, cursor), f"{stream['name']}: cursor {cursor} is not in the schema"
