"""Fixtures for destination-s3 tests: the real CLI as a process, real local folders and a real S3 API server.

The connector runs exactly as a platform would run it: config and catalog as files, messages on stdin, every stdout
line parsed as JSON. S3 is `moto_server`, started as a separate process on a free port for the session; the tests
create buckets and read objects back with boto3 over HTTP. If `moto_server` cannot start, the S3 tests fail, they
never skip. What the connector wrote is read back with pyarrow (Parquet, CSV) or json (JSON lines) and turned into
plain Python values (`canonical`) to compare with the records sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from source_core import testing
from source_core.testing import Run, lines, parse_output, start_moto, stop_server

CLI = [sys.executable, "-c", "from destination_s3.run import run; run()"]
# Secrets are masked in everything the connector prints: values that occur in no message keep the output readable.
KEY_ID, SECRET = "AKIAS3DESTTESTKEY", "moto-secret-for-destination-s3-tests"
REGION = "us-east-1"
METADATA = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_generation_id", "_airbyte_meta")
EXTENSION = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
COMPRESSED = {"gzip": ".gz", "zstd": ".zst"}


# ---------------------------------------------------------------- running the CLI


class Cli(testing.Cli):
    """destination-s3's CLI with its own TMPDIR (where a write keeps its open part files), and live writes."""

    def __init__(self, folder: Path) -> None:
        self.tmp = folder / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        super().__init__(CLI, folder, env={**os.environ, "TMPDIR": str(self.tmp)})

    def start_write(self, config: dict[str, Any], catalog: dict[str, Any]) -> LiveWrite:
        return LiveWrite(self.command("write", config, catalog), self.env or {})


class LiveWrite:
    """A `write` fed through a pipe, piece by piece, while a thread collects what it echoes (to inspect meanwhile)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        pipe = subprocess.PIPE
        self.process = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=pipe, env=env)
        self.messages: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.changed = threading.Condition()
        self.stderr = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text = line.decode()
            with self.changed:
                self.raw.append(text)
                with contextlib.suppress(json.JSONDecodeError):
                    self.messages.append(json.loads(text))
                self.changed.notify_all()

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def send(self, messages: list[dict[str, Any]] | bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(messages if isinstance(messages, bytes) else lines(messages))
        self.process.stdin.flush()

    @property
    def states(self) -> list[dict[str, Any]]:
        with self.changed:
            return [m["state"] for m in self.messages if m.get("type") == "STATE"]

    def wait_states(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Block until at least `count` STATEs were echoed; fail (with the output so far) after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while sum(m.get("type") == "STATE" for m in self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"waited for {count} STATE(s); got:\n{''.join(self.raw)[-3000:]}")
                self.changed.wait(min(left, 0.2))
        return self.states

    def finish(self, timeout: float = 60.0) -> Run:
        """Close stdin, wait for the end, and return the whole run."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        self.err_reader.join(timeout=timeout)
        return parse_output("".join(self.raw), self.stderr.decode(errors="replace"), self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "_cli")


# ---------------------------------------------------------------- a real S3 API server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    process, endpoint = start_moto()
    yield endpoint
    stop_server(process)


@pytest.fixture(scope="session")
def s3(s3_endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket for one test."""
    name = f"dest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, str]:
    """The config fields that point the connector at the test server."""
    return {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION, "endpoint_url": s3_endpoint}


# ---------------------------------------------------------------- where files go, and reading them back


class Store:
    """A destination_path under test, local or on S3: its config, and its files as paths relative to it."""

    kind: str
    url: str
    settings: dict[str, Any]

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"destination_path": self.url, **self.settings, **extra}

    def entries(self) -> list[str]:
        """Every file (local) or object key (S3) under the destination path, relative to it."""
        raise NotImplementedError

    def read(self, relative: str) -> bytes:
        raise NotImplementedError

    def files(self, under: str = "") -> list[str]:
        """The data files under `under` (a folder, relative): S3 keys ending in '/' (folder markers) left out."""
        return sorted(e for e in self.entries() if e.startswith(under) and not e.endswith("/"))


class LocalStore(Store):
    kind = "local"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = str(folder)
        self.settings = {}

    def entries(self) -> list[str]:
        if not self.folder.exists():
            return []
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if not p.is_dir())

    def read(self, relative: str) -> bytes:
        return (self.folder / relative).read_bytes()


class S3Store(Store):
    kind = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str, settings: dict[str, Any]) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.url = f"s3://{bucket}/{prefix}"
        self.settings = settings

    def entries(self) -> list[str]:
        head = self.prefix + "/"
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=head):
            keys += [o["Key"][len(head) :] for o in page.get("Contents", [])]
        return sorted(k for k in keys if k)  # '' is a marker for the prefix itself

    def all_keys(self) -> list[str]:
        """Every key in the bucket, prefix included."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, relative: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{relative}")["Body"].read()


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "lake")


@pytest.fixture
def s3_store(s3: Any, bucket: str, s3_settings: dict[str, str]) -> S3Store:
    return S3Store(s3, bucket, "raw/lake", s3_settings)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(f"{request.param}_store")


def decompress(data: bytes, compression: str) -> bytes:
    """A whole gzip or zstd file's content (raising if it is truncated); other data as it is."""
    if compression not in COMPRESSED:
        return data
    with pa.CompressedInputStream(pa.BufferReader(data), compression) as stream:
        return stream.read()


def read_file(data: bytes, fmt: str, compression: str = "none") -> list[dict[str, Any]]:
    """A whole file's rows as written (raising if the file is not complete and valid)."""
    if fmt == "parquet":
        return pq.read_table(pa.BufferReader(data)).to_pylist()
    text = decompress(data, compression if fmt != "parquet" else "none")
    if fmt == "jsonl":
        assert text.endswith(b"\n"), "a JSON lines file must end with a whole line"
        return [json.loads(line) for line in text.decode().splitlines()]
    header = next(iter(text.decode().splitlines()), "")
    names = [n.strip('"') for n in header.split(",")]
    options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    return pacsv.read_csv(pa.BufferReader(text), convert_options=options).to_pylist()


def kind_of(schema: dict[str, Any]) -> str:
    types = schema.get("type", [])
    types = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    if len(types) != 1:
        return "json"
    if types[0] == "string" and schema.get("format") == "date-time":
        return "ts" if schema.get("airbyte_type") == "timestamp_without_timezone" else "tstz"
    if types[0] == "string" and schema.get("format") in ("date", "time"):
        return schema["format"]
    return types[0] if types[0] in ("integer", "number", "boolean", "string") else "json"


def _timestamp(value: Any, aware: bool) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime), value
    if aware:
        assert value.tzinfo is not None, f"{value!r} has no time zone"
        return value.astimezone(dt.UTC)
    assert value.tzinfo is None, f"{value!r} should have no time zone"
    return value


def canonical(row: dict[str, Any], properties: dict[str, Any], fmt: str) -> dict[str, Any]:
    """A row read back from a file, as plain Python values: the same whatever the format wrote."""
    out: dict[str, Any] = {}
    for name, schema in properties.items():
        value, kind = row[name], kind_of(schema)
        if value is None:
            out[name] = None
        elif kind == "integer":
            out[name] = int(value)
        elif kind == "number":
            out[name] = float(value)
        elif kind == "boolean":
            out[name] = value if isinstance(value, bool) else {"true": True, "false": False}[value]
        elif kind == "date":
            out[name] = value if isinstance(value, str) else value.isoformat()
        elif kind == "time":
            out[name] = value if isinstance(value, dt.time) else dt.time.fromisoformat(value)
        elif kind in ("ts", "tstz"):
            out[name] = _timestamp(value, kind == "tstz")
        elif kind == "json":
            out[name] = json.loads(value) if fmt != "jsonl" else value
        else:
            out[name] = value
    meta = row["_airbyte_meta"]
    out["_airbyte_meta"] = json.loads(meta) if isinstance(meta, str) else meta
    out["_airbyte_extracted_at"] = _timestamp(row["_airbyte_extracted_at"], True)
    out["_airbyte_generation_id"] = int(row["_airbyte_generation_id"])
    out["_airbyte_raw_id"] = str(uuid.UUID(row["_airbyte_raw_id"]))
    return out


def expected(data: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """What `canonical` should give for a record sent with `data` (data columns only)."""
    out: dict[str, Any] = {}
    for name, schema in properties.items():
        value, kind = data.get(name), kind_of(schema)
        if value is None:
            out[name] = None
        elif kind == "number":
            out[name] = float(value)
        elif kind == "time":
            out[name] = dt.time.fromisoformat(value)
        elif kind in ("ts", "tstz"):
            out[name] = _timestamp(value, kind == "tstz")
        else:
            out[name] = value
    return out


def data_only(rows: list[dict[str, Any]], properties: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: row[k] for k in properties} for row in rows]


def template_pattern(fmt: str, compression: str, head: str) -> re.Pattern[str]:
    """The default path_template's file names under `head` (e.g. 'default/users/'): groups date, timestamp, part."""
    extension = EXTENSION[fmt] + (COMPRESSED.get(compression, "") if fmt != "parquet" else "")
    return re.compile(re.escape(head) + r"(\d{4}-\d{2}-\d{2})/(\d{13})_(\d{5})" + re.escape(extension))


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
