"""`spec` and `check`: the spec as the platform reads it; check writes a probe, reads it back, leaves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from .conftest import KEY_ID, SECRET, Cli, LocalStore, S3Store


def test_spec_is_valid_and_marks_secrets(cli: Cli) -> None:
    run = cli.spec()
    assert run.exit_code == 0, run.describe()
    (message,) = run.of("SPEC")
    spec = message["spec"]
    assert spec["supported_destination_sync_modes"] == ["overwrite", "append"]
    schema = spec["connectionSpecification"]
    properties = schema["properties"]
    Draft7Validator.check_schema(schema)
    Draft7Validator(schema).validate({"destination_path": "/data/lake"})
    assert not Draft7Validator(schema).is_valid({"destination_path": "/x", "commit_interval_rows": 0})
    assert schema["required"] == ["destination_path"]
    secret = {name for name, prop in properties.items() if prop.get("airbyte_secret")}
    assert secret == {"aws_access_key_id", "aws_secret_access_key"}
    assert properties["format"]["enum"] == ["parquet", "csv", "jsonl"]
    assert set(properties["compression"]["enum"]) == {"none", "gzip", "zstd", "snappy"}
    assert properties["path_template"]["default"] == "{namespace}/{stream}/{date}/{timestamp}_{part}"
    orders = [prop["order"] for prop in properties.values()]
    assert len(orders) == len(set(orders)), "every field needs an order of its own"


def test_check_local_folder_is_created_and_left_empty(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "does" / "not" / "exist"
    run = cli.check({"destination_path": str(folder)})
    assert run.exit_code == 0, run.describe()
    assert run.connection_status == {"status": "SUCCEEDED"}
    assert folder.is_dir()
    assert list(folder.iterdir()) == [], "check left its probe behind"


def test_check_s3_bucket_leaves_nothing_behind(cli: Cli, s3_store: S3Store) -> None:
    run = cli.check(s3_store.config())
    assert run.exit_code == 0, run.describe()
    assert run.connection_status["status"] == "SUCCEEDED", run.connection_status
    # the probe is gone; pyarrow's S3 delete keeps the emptied parent 'folder' as a zero-byte marker key (raw/lake/),
    # which holds no data: only such markers may remain
    assert [k for k in s3_store.all_keys() if not k.endswith("/")] == [], "check left objects in the bucket"


def test_check_s3_without_prefix(cli: Cli, s3_store: S3Store) -> None:
    run = cli.check(s3_store.config(destination_path=f"s3://{s3_store.bucket}"))
    assert run.connection_status["status"] == "SUCCEEDED", run.connection_status
    assert [k for k in s3_store.all_keys() if not k.endswith("/")] == []


def _failing_configs(tmp_path: Path, s3_store: S3Store) -> dict[str, tuple[dict[str, Any], list[str]]]:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    local = str(tmp_path / "lake")
    return {
        "missing bucket": (
            s3_store.config(destination_path="s3://no-such-bucket-here/raw"),
            ["s3://no-such-bucket-here/raw", "no-such-bucket-here"],
        ),
        "path under a regular file": ({"destination_path": str(a_file / "sub")}, [str(a_file / "sub")]),
        "template without {stream}/": (
            {"destination_path": local, "path_template": "{namespace}/{stream}_{part}"},
            ["{stream}/"],
        ),
        "template without {part}": (
            {"destination_path": local, "path_template": "{namespace}/{stream}/{date}"},
            ["{part}"],
        ),
        "varying part before {stream}/": (
            {"destination_path": local, "path_template": "{date}/{stream}/{part}"},
            ["{date}"],
        ),
        "snappy for CSV": ({"destination_path": local, "format": "csv", "compression": "snappy"}, ["snappy", "CSV"]),
        "other URL scheme": ({"destination_path": "gs://bucket/x"}, ["gs://bucket/x"]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing bucket",
        "path under a regular file",
        "template without {stream}/",
        "template without {part}",
        "varying part before {stream}/",
        "snappy for CSV",
        "other URL scheme",
    ],
)
def test_check_fails_with_a_clear_message(
    cli: Cli, tmp_path: Path, s3_store: S3Store, local_store: LocalStore, case: str
) -> None:
    config, words = _failing_configs(tmp_path, s3_store)[case]
    run = cli.check(config)
    assert run.exit_code == 0, run.describe()  # a failed check is an answer, not a crash
    connection = run.connection_status
    assert connection["status"] == "FAILED", connection
    for word in words:
        assert word in connection["message"], connection["message"]
    assert "Traceback" not in connection["message"]
    assert SECRET not in run.stdout + run.stderr and KEY_ID not in run.stdout + run.stderr, "a secret was printed"
    assert not local_store.folder.exists(), "a refused config must not create the destination folder"
    assert s3_store.all_keys() == []
