"""S3 over HTTP (moto_server): discover and read of CSV, JSONL and Parquet objects selected by `**` globs, giving
the same schemas and values as the same files read from a local folder. Credentials never reach the output."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from source_core.testing import Run

from . import samples
from .conftest import BASE_NS, FILE_MODIFIED, FILE_URL, Connector, config_of, set_mtime, stream, write
from .samples import strict

OBJECTS = {  # key under the prefix -> content; the files of a stream share their columns
    "values.csv": samples.VALUES_CSV,
    "2024/values.csv": samples.VALUES_CSV,
    "2024/01/values.csv.gz": samples.gzipped(samples.VALUES_CSV),
    "2024/notes.txt": b"id,word\n99,not matched\n",
    "json/nested.jsonl": samples.NESTED_JSONL,
    "json/deeper/nested.jsonl.zst": samples.zstd(samples.NESTED_JSONL),
    "pq/types.parquet": samples.parquet_bytes(),
}
EXPECTED = {
    "csv": [
        (f, row) for f in ("2024/01/values.csv.gz", "2024/values.csv", "values.csv") for row in samples.VALUES_ROWS
    ],
    "jsonl": [(f, row) for f in ("json/deeper/nested.jsonl.zst", "json/nested.jsonl") for row in samples.NESTED_ROWS],
    "parquet": [("pq/types.parquet", row) for row in samples.PARQUET_ROWS],
}
OUTSIDE = {"elsewhere/values.csv": samples.VALUES_CSV}  # same bucket, outside the prefix: not matched


def streams_under(root: str) -> list[dict[str, Any]]:
    return [
        stream("csv", f"{root}/**/*.csv", f"{root}/**/*.csv.gz"),
        stream("jsonl", f"{root}/json/**/*.jsonl*"),
        stream("parquet", f"{root}/**/*.parquet"),
    ]


class Both:
    def __init__(
        self, s3_discover: Run, s3_run: Run, local_catalog, local_run: Run, bucket: str, folder: Path, secrets
    ):
        self.s3_discover, self.s3_catalog, self.s3_run = s3_discover, s3_discover.catalog, s3_run
        self.local_catalog, self.local_run = local_catalog, local_run
        self.bucket, self.folder, self.secrets = bucket, folder, secrets


def catalog_for(catalog: dict[str, dict]) -> dict:
    return {
        "streams": [
            {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in catalog.values()
        ]
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory, s3, s3_endpoint) -> Both:
    bucket = f"s3-read-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    for key, body in (OBJECTS | OUTSIDE).items():
        s3.put_object(Bucket=bucket, Key=key if key in OUTSIDE else f"data/{key}", Body=body)
    folder = tmp_path_factory.mktemp("local") / "data"
    for key, body in OBJECTS.items():
        set_mtime(write(folder / key, body), BASE_NS)

    # credentials the server does not check, but unique, so that any echo of them would be found
    secrets = {"aws_access_key_id": f"AKIA{uuid.uuid4().hex[:16].upper()}",
               "aws_secret_access_key": f"secret-{uuid.uuid4().hex}"}  # fmt: skip
    s3_config = config_of(*streams_under(f"s3://{bucket}/data"), endpoint_url=s3_endpoint, region="us-east-1",
                          **secrets)  # fmt: skip
    local_config = config_of(*streams_under(str(folder)))
    connector = Connector(tmp_path_factory.mktemp("connector"))
    s3_discover = connector.run("discover", s3_config)
    assert s3_discover.exit_code == 0, s3_discover.describe()
    s3_run = connector.run("read", s3_config, catalog_for(s3_discover.catalog))
    local_catalog = connector.streams(local_config)
    local_run = connector.run("read", local_config, catalog_for(local_catalog))
    assert s3_run.exit_code == 0, s3_run.describe()
    assert local_run.exit_code == 0, local_run.describe()
    return Both(s3_discover, s3_run, local_catalog, local_run, bucket, folder, secrets)


def by_file(run: Run, name: str, prefix: str) -> list[tuple[str, Any]]:
    """(file path under the prefix, values) of a stream's records, in file path order (S3 times are whole seconds)."""
    out = []
    for record in run.records:
        if record["stream"] == name:
            data = dict(record["data"])
            url = data.pop(FILE_URL)
            data.pop(FILE_MODIFIED)
            assert url.startswith(prefix), url
            out.append((url[len(prefix) :], strict(data)))
    return sorted(out, key=lambda item: item[0])  # stable: rows of a file stay in file order


def test_discover_gives_the_same_schemas_as_local_files(both):
    assert set(both.s3_catalog) == {"csv", "jsonl", "parquet"}
    for name in both.s3_catalog:
        assert both.s3_catalog[name]["json_schema"] == both.local_catalog[name]["json_schema"], name
    assert both.s3_catalog["parquet"]["json_schema"]["properties"]["dec"] == {"type": ["null", "number"]}


def test_globs_select_the_objects_under_the_prefix_at_any_depth(both):
    prefix = f"s3://{both.bucket}/data/"
    files = {name: sorted({f for f, _ in by_file(both.s3_run, name, prefix)}) for name in both.s3_catalog}
    assert files == {name: sorted({f for f, _ in rows}) for name, rows in EXPECTED.items()}


def test_s3_values_are_the_local_values_and_what_the_files_hold(both):
    for name, expected in EXPECTED.items():
        s3_rows = by_file(both.s3_run, name, f"s3://{both.bucket}/data/")
        local_rows = by_file(both.local_run, name, f"{both.folder}/")
        assert s3_rows == local_rows, name
        assert s3_rows == [(f, strict(row)) for f, row in expected], name
    assert f'"amount":{samples.BIG},' in both.s3_run.stdout
    assert f'"dec":{samples.BIG},' in both.s3_run.stdout


def test_records_name_their_object_and_its_last_modified(both, s3):
    for record in both.s3_run.records:
        url = record["data"][FILE_URL]
        key = url.removeprefix(f"s3://{both.bucket}/")
        head = s3.head_object(Bucket=both.bucket, Key=key)
        assert record["data"][FILE_MODIFIED] == head["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert len(both.s3_run.records) == len(both.local_run.records) == sum(map(len, EXPECTED.values()))


def test_credentials_are_never_printed(both):
    for secret in both.secrets.values():
        assert secret not in both.s3_run.stdout + both.s3_run.stderr
        assert secret not in both.s3_discover.stdout + both.s3_discover.stderr
