"""The connectors' images (`make images`), run through the Docker API: Docker, or Podman's API service.

The engine of DOCKER_HOST (or Docker's default socket) is used if it answers; otherwise, where `podman` is installed,
the tests start its API service on a socket of their own for the session. No engine, or no image: the tests fail,
they do not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import duckdb
import pyarrow as pa
import pytest
from airbyte_cdk.models import Status

from sqlflow_bridge.connector import AirbyteConnector
from tests.conftest import table_of

SOURCE_IMAGE = "sqlflow/source-postgres:dev"
DESTINATION_IMAGE = "sqlflow/destination-duckdb:dev"


def _answering(url: str | None = None, seconds: float = 0) -> Any:
    """A client of the engine at `url` (None: DOCKER_HOST or the default socket) once it answers, else None."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client = docker.DockerClient(base_url=url) if url else docker.from_env()
            client.ping()
            return client
        except docker.errors.DockerException:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    service = None
    client = _answering()
    if client is None and shutil.which("podman"):
        url = f"unix://{tmp_path_factory.mktemp('podman')}/podman.sock"
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = _answering(url, seconds=30)
    try:
        if client is None:
            pytest.fail(
                "image tests need a container engine: Docker (DOCKER_HOST or its default socket) or Podman "
                "(see machine.md; scripts/container-engine.sh sets it up)",
                pytrace=False,
            )
        for image in (SOURCE_IMAGE, DESTINATION_IMAGE):
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                pytest.fail(f"image {image} is missing: build it with `make images`", pytrace=False)
        yield client
        client.close()
    finally:
        if service is not None:  # the API service these tests started
            service.terminate()
            service.wait(timeout=30)


def test_an_image_reads_like_the_package(engine: Any, config: dict, pg: Any, schema: str) -> None:
    pg.execute(
        f"CREATE TABLE \"{schema}\".items AS SELECT g AS id, 'item ' || g AS label, g * 0.5 AS price, "
        "jsonb_build_object('g', g) AS doc FROM generate_series(1, 3000) g"
    )
    image = AirbyteConnector.image(SOURCE_IMAGE, client=engine)
    assert image.spec().connectionSpecification["properties"]["password"]["airbyte_secret"]
    assert image.check(config).status == Status.SUCCEEDED
    from_image = table_of(list(image.read(config, ["items"])))
    in_process = table_of(list(AirbyteConnector.in_process("source-postgres").read(config, ["items"])))
    assert from_image.num_rows == 3000
    assert from_image.equals(in_process)
    assert from_image.schema.field("price").type == pa.float64()


def test_a_missing_image_says_what_to_do(engine: Any) -> None:
    with pytest.raises(Exception, match="not present"):
        AirbyteConnector.image("sqlflow/source-none:dev", client=engine)


def test_image_files_are_removed_after_the_run(engine: Any, tmp_path: Path) -> None:
    image = AirbyteConnector.image(SOURCE_IMAGE, client=engine)
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("sqlflow-bridge-*"))
    image.spec()
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("sqlflow-bridge-*")) <= before


def test_an_image_writes_through_stdin(engine: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's user (uid 1000) writes the database file
    table = pa.table({"id": pa.array(range(5000), pa.int64()), "label": [f"row {i}" for i in range(5000)]})
    destination = AirbyteConnector.image(DESTINATION_IMAGE, client=engine, volumes={str(out): "/out"})
    result = destination.write(
        {"destination_path": "/out/w.duckdb"}, [("t", table.slice(0, 2000)), ("t", table.slice(2000))]
    )
    assert [s["stream"]["stream_state"] for s in result.acknowledged][-1] == {"bridge_chunk": 2}
    assert result.rows_committed == 5000
    with duckdb.connect(str(out / "w.duckdb"), read_only=True) as db:
        written = db.sql("SELECT id, label FROM main.t ORDER BY id").to_arrow_table()
    assert written.equals(table)
