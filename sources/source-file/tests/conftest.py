"""Fixtures for source-file tests: real files in a temp folder, a real S3 API server (moto_server) and the real CLI.

`moto_server` runs as a separate process on a free port; the tests and the connector talk to it over HTTP. If it
cannot start, the tests that need it fail; they never skip.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from source_core.testing import Cli, start_moto, stop_server

CLI = [sys.executable, "-c", "from source_file.run import run; run()"]
KEY_ID, SECRET = "testing", "testing"
REGION = "us-east-1"
FILE_URL = "_ab_source_file_url"
FILE_MODIFIED = "_ab_source_file_last_modified"


# ---------------------------------------------------------------- running the CLI


class Connector(Cli):
    """`source-file` as a separate process (JSON floats read as Decimal), with a catalog from its discover."""

    def __init__(self, folder: Path):
        super().__init__(CLI, folder, parse_float=Decimal)

    def streams(self, config: dict) -> dict[str, dict[str, Any]]:
        """discover's streams by name (the discover must succeed)."""
        found = self.discover(config)
        assert found.exit_code == 0, found.describe()
        return found.catalog

    def catalog(self, config: dict, sync_mode: str = "full_refresh", streams: list[str] | None = None) -> dict:
        """A configured catalog from `discover`: every stream (or those named) in `sync_mode`."""
        return configured_catalog(self.streams(config).values(), sync_mode, streams)


def configured_catalog(streams: Any, sync_mode: str = "full_refresh", names: list[str] | None = None) -> dict:
    destination = "append" if sync_mode == "incremental" else "overwrite"
    return {
        "streams": [
            {"stream": s, "sync_mode": sync_mode, "destination_sync_mode": destination}
            | ({"cursor_field": [FILE_MODIFIED]} if sync_mode == "incremental" else {})
            for s in streams
            if names is None or s["name"] in names
        ]
    }


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path / "_connector")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def stream(name: str, *globs: str | Path, **options: Any) -> dict[str, Any]:
    return {"name": name, "globs": [str(g) for g in globs], **options}


def config_of(*streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"streams": list(streams), **extra}


# ---------------------------------------------------------------- writing files


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode(encoding)
    path.write_bytes(content)
    return path


def write_gzip(path: Path, content: str) -> Path:
    return write(path, gzip.compress(content.encode()))


def write_zstd(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as raw, pa.CompressedOutputStream(raw, "zstd") as out:
        out.write(content.encode())
    return path


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


BASE_NS = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z


def set_mtime(path: Path, ns: int) -> Path:
    os.utime(path, ns=(ns, ns))
    return path


def iso_of_ns(ns: int) -> str:
    """The `_ab_source_file_last_modified` text of a modification time given in ns (microsecond precision, Z)."""
    seconds, rest = divmod(ns, 10**9)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


# ---------------------------------------------------------------- a real S3 API server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    process, endpoint = start_moto()
    yield endpoint
    stop_server(process)


def s3_client(endpoint: str, key_id: str = KEY_ID, secret: str = SECRET):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=REGION
    )


@pytest.fixture(scope="session")
def s3(s3_endpoint: str):
    return s3_client(s3_endpoint)


@pytest.fixture
def bucket(s3) -> str:
    """A new, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, str]:
    """The config fields that point the connector at the test server."""
    return {
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "region": REGION,
        "endpoint_url": s3_endpoint,
    }
