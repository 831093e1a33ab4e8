"""`spec` and `check`: a valid spec with secrets marked; check SUCCEEDED/FAILED (exit 0) for each way it can go.

Wrong S3 credentials are checked against a second moto_server with IAM authentication switched on (moto does
not check credentials unless told to), so the rejection is the server's, over HTTP.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from source_core.testing import free_port, start_moto, stop_server

from .conftest import REGION, config_of, jsonl, s3_client, stream, write


def succeeded(run, message: str | None = None) -> None:
    assert run.exit_code == 0, run.describe()
    if message is None:
        assert run.connection_status == {"status": "SUCCEEDED"}, run.connection_status
    else:
        assert run.connection_status["status"] == "SUCCEEDED", run.connection_status
        assert message in run.connection_status.get("message", ""), run.connection_status


def failed(run, *words: str) -> str:
    """The FAILED message of a check (exit 0), which must contain every one of `words` (case-insensitive)."""
    assert run.exit_code == 0, run.describe()
    status = run.connection_status
    assert status["status"] == "FAILED", status
    for word in words:
        assert word.lower() in status["message"].lower(), status["message"]
    return status["message"]


# ---------------------------------------------------------------- spec


def test_spec_is_a_valid_schema_with_secrets_marked(connector):
    run = connector.run("spec")
    assert run.exit_code == 0, run.describe()
    (message,) = run.of("SPEC")
    spec = message["spec"]
    assert spec["supportsIncremental"] is True
    schema = spec["connectionSpecification"]
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["required"] == ["streams"]
    props = schema["properties"]
    assert props["aws_access_key_id"].get("airbyte_secret") is True
    assert props["aws_secret_access_key"].get("airbyte_secret") is True
    for name in ("region", "endpoint_url", "streams", "sample_rows", "batch_bytes", "checkpoint_interval_seconds"):
        assert not props[name].get("airbyte_secret"), name
    item = props["streams"]["items"]
    assert set(item["required"]) == {"name", "globs"}
    assert item["properties"]["format"]["enum"] == ["csv", "jsonl", "parquet"]
    assert item["properties"]["on_error"]["enum"] == ["fail", "skip"]
    assert item["properties"]["on_error"]["default"] == "fail"
    # a typical config validates, and one without globs does not
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors({"streams": [{"name": "s", "globs": ["/d/*.csv"], "format": "csv"}]}))
    assert list(validator.iter_errors({"streams": [{"name": "s"}]}))


# ---------------------------------------------------------------- local files


@pytest.fixture
def readable(data_dir: Path) -> dict:
    write(data_dir / "csv" / "a.csv", "id,name\n1,x\n2,y\n")
    write(data_dir / "jsonl" / "sub" / "a.jsonl", jsonl({"id": 1, "o": {"k": [1]}}))
    pq.write_table(pa.table({"id": [1, 2]}), data_dir / "a.parquet")
    return config_of(
        stream("csv", data_dir / "csv" / "*.csv"),
        stream("jsonl", data_dir / "jsonl" / "**" / "*.jsonl"),
        stream("parquet", data_dir / "*.parquet"),
    )


def test_check_succeeds_on_readable_files(connector, readable):
    succeeded(connector.run("check", readable))


def test_check_succeeds_with_a_message_when_no_file_matches_yet(connector, readable, data_dir):
    config = config_of(*readable["streams"], stream("later", data_dir / "not-there-yet" / "**" / "*.csv"))
    run = connector.run("check", config)
    succeeded(run, "later")
    message = run.connection_status["message"]
    assert "jsonl" not in message and "parquet" not in message  # only the empty one


def _corrupt_parquet(folder: Path) -> Path:
    return write(folder / "bad.parquet", b"PAR1" + b"\x00garbage" * 20 + b"PAR1")


def _not_json(folder: Path) -> Path:
    return write(folder / "bad.jsonl", "this is not json\n")


def _corrupt_gzip(folder: Path) -> Path:
    return write(folder / "bad.csv.gz", b"id,v\n1,plain text, not gzip\n")


@pytest.mark.parametrize("make_bad", [_corrupt_parquet, _not_json, _corrupt_gzip])
def test_check_fails_on_a_malformed_file_naming_it(connector, readable, data_dir, make_bad):
    bad = make_bad(data_dir / "bad")
    config = config_of(*readable["streams"], stream("broken", bad))
    failed(connector.run("check", config), str(bad))


def test_unknown_csv_encoding_is_a_config_error(connector, readable):
    config = json.loads(json.dumps(readable))
    config["streams"][0]["csv"] = {"encoding": "no-such-encoding-42"}
    failed(connector.run("check", config), "no-such-encoding-42", "encoding")

    catalog = {
        "streams": [
            {
                "stream": {"name": "csv", "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                           "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ]
    }  # fmt: skip
    run = connector.run("read", config, catalog)
    assert run.exit_code != 0, run.describe()
    assert run.records == []
    assert run.errors, run.describe()
    assert run.errors[0]["failure_type"] == "config_error"
    assert "no-such-encoding-42" in run.errors[0]["message"]


def test_user_schema_property_that_is_not_an_object_is_a_config_error(connector, readable):
    """{"a": "string"} instead of {"a": {"type": "string"}}: check, discover and read say which stream and property,
    and the shape expected (it was a system error at read)."""
    config = json.loads(json.dumps(readable))
    config["streams"][0]["schema"] = {"type": "object", "properties": {"id": {"type": "integer"}, "name": "string"}}
    words = ["'csv'", "'name'", '{"name": {"type": "string"}}']
    failed(connector.run("check", config), *words)
    catalog = {"streams": [{"stream": {"name": "csv", "json_schema": config["streams"][0]["schema"],
                                       "supported_sync_modes": ["full_refresh"]},
                            "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}  # fmt: skip
    for run in (connector.run("discover", config), connector.run("read", config, catalog)):
        assert run.exit_code != 0, run.describe()
        assert run.records == [] and run.of("CATALOG") == []
        assert run.errors, run.describe()
        assert run.errors[0]["failure_type"] == "config_error", run.errors
        for word in words:
            assert word in run.errors[0]["message"], run.errors[0]["message"]


SECRET_NUMBER = 987654321123


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c["streams"][0].update(on_error="ignore"), ["streams.0.on_error", "ignore"]),
        (lambda c: c["streams"][1].update(csv={"delimiter": ";;"}), ["streams.1.csv.delimiter"]),
        (lambda c: c["streams"][2].pop("globs"), ["streams.2", "globs"]),
        (lambda c: c["streams"][0].update(format="xlsx"), ["streams.0.format", "xlsx"]),
        (lambda c: c.update(streams=[]), ["streams"]),
        (lambda c: c.update(aws_secret_access_key=SECRET_NUMBER), ["aws_secret_access_key"]),
    ],
    ids=["on_error", "delimiter", "no-globs", "format", "no-streams", "secret-type"],
)
def test_config_failing_the_spec_names_the_field(connector, readable, change, words):
    config = json.loads(json.dumps(readable))
    change(config)
    run = connector.run("check", config)
    failed(run, *words)
    assert str(SECRET_NUMBER) not in run.stdout + run.stderr


def test_config_failing_the_spec_fails_a_read_with_a_config_error(connector, readable):
    catalog = connector.catalog(readable)
    bad = json.loads(json.dumps(readable))
    bad["streams"][1]["on_error"] = "sometimes"
    run = connector.run("read", bad, catalog)
    assert run.exit_code != 0, run.describe()
    assert run.records == []
    (error,) = run.errors
    assert error["failure_type"] == "config_error"
    assert "streams.1.on_error" in error["message"]


def test_unreadable_location_is_a_clear_failure(connector, readable):
    config = config_of(stream("web", "http://example.invalid/data/*.csv"))
    failed(connector.run("check", config), "http://example.invalid/data/*.csv")


# ---------------------------------------------------------------- S3


def test_check_succeeds_on_s3_objects(connector, s3, bucket, s3_settings):
    s3.put_object(Bucket=bucket, Key="in/2024/a.csv", Body=b"id\n1\n")
    config = config_of(stream("s3", f"s3://{bucket}/in/**/*.csv"), **s3_settings)
    succeeded(connector.run("check", config))


def test_check_fails_on_a_missing_bucket(connector, s3, s3_settings):
    name = f"missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(botocore.exceptions.ClientError):  # the server agrees it does not exist
        s3.head_bucket(Bucket=name)
    config = config_of(stream("s3", f"s3://{name}/in/**/*.csv"), **s3_settings)
    failed(connector.run("check", config), name)


def test_check_fails_when_the_s3_endpoint_does_not_answer(connector):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    secret = f"never-print-{uuid.uuid4().hex}"
    config = config_of(
        stream("s3", "s3://some-bucket/in/*.csv"),
        endpoint_url=endpoint,
        region=REGION,
        aws_access_key_id="AKIAENDPOINTTEST",
        aws_secret_access_key=secret,
    )
    run = connector.run("check", config)
    failed(run, "s3://some-bucket/in/*.csv")
    assert secret not in run.stdout + run.stderr


@pytest.fixture(scope="module")
def authenticating_s3() -> Iterator[tuple[str, dict[str, str], str]]:
    """A second moto_server that checks signatures: (endpoint, valid key, bucket holding in/a.csv)."""
    process, endpoint = start_moto()
    try:
        iam = boto3.client(
            "iam", endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup", region_name=REGION
        )
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
        client = s3_client(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        client.create_bucket(Bucket="auth-bucket")
        client.put_object(Bucket="auth-bucket", Key="in/a.csv", Body=b"id\n1\n")
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        # from now on the server checks every request: a made-up key is refused, the real one works
        with pytest.raises(botocore.exceptions.ClientError):
            s3_client(endpoint, "AKIAMADEUP", "made-up").list_objects_v2(Bucket="auth-bucket")
        assert client.list_objects_v2(Bucket="auth-bucket")["KeyCount"] == 1
        yield (
            endpoint,
            {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]},
            ("auth-bucket"),
        )
    finally:
        stop_server(process)


def _auth_config(endpoint: str, bucket: str, keys: dict[str, str]) -> dict:
    return config_of(stream("s3", f"s3://{bucket}/in/*.csv"), endpoint_url=endpoint, region=REGION, **keys)


def test_check_succeeds_with_valid_credentials(connector, authenticating_s3):
    endpoint, keys, bucket = authenticating_s3
    run = connector.run("check", _auth_config(endpoint, bucket, keys))
    succeeded(run)
    assert keys["aws_secret_access_key"] not in run.stdout + run.stderr


@pytest.mark.parametrize("which", ["wrong-secret", "unknown-key"])
def test_check_fails_with_wrong_credentials_without_printing_them(connector, authenticating_s3, which):
    endpoint, keys, bucket = authenticating_s3
    secret = f"wrong-secret-{uuid.uuid4().hex}"
    key_id = keys["aws_access_key_id"] if which == "wrong-secret" else "AKIAUNKNOWNKEY0000042"
    run = connector.run("check", _auth_config(endpoint, bucket, {"aws_access_key_id": key_id,
                                                                  "aws_secret_access_key": secret}))  # fmt: skip
    message = failed(run, f"s3://{bucket}/in/*.csv")
    assert "signature" in message.lower() or "access key" in message.lower(), message
    assert secret not in run.stdout + run.stderr
    assert "AKIAUNKNOWNKEY0000042" not in run.stdout + run.stderr
