"""What the acceptance suite (acceptance-tests/) prepares before it runs this connector: a real S3 API server on
the loopback port that config.json names, holding the demo's sample files (so that the connector finds them
whether it runs as a command or in an image on the host network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import boto3

from source_core.testing import start_moto, stop_server

HERE = Path(__file__).parent
DATA = HERE.parents[2] / "demo" / "data"
BUCKET = "acceptance"


@contextmanager
def environment() -> Iterator[None]:
    config = json.loads((HERE / "config.json").read_text())
    process, endpoint = start_moto(port=urlsplit(config["endpoint_url"]).port)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=config["aws_access_key_id"],
            aws_secret_access_key=config["aws_secret_access_key"],
            region_name=config["region"],
        )
        s3.create_bucket(Bucket=BUCKET)
        for file in sorted(DATA.rglob("*")):
            if file.is_file():
                s3.upload_file(str(file), BUCKET, file.relative_to(DATA).as_posix())
        yield
    finally:
        stop_server(process)
