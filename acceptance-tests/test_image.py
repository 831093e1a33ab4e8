"""Images follow Airbyte's conventions: AIRBYTE_ENTRYPOINT equal to the ENTRYPOINT, io.airbyte.name and
io.airbyte.version labels equal to metadata.yaml, a non-root user, WORKDIR /airbyte/integration_code, and no
build tools or package caches in the image."""

from __future__ import annotations

import json
import subprocess

from acceptance.connectors import REPOSITORY


def _inspect(image: str) -> dict:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]["Config"]


def test_image_follows_airbyte_conventions(image) -> None:
    config = _inspect(image.image)
    metadata = image.connector.metadata
    assert config["Labels"]["io.airbyte.name"] == metadata["dockerRepository"]
    assert config["Labels"]["io.airbyte.version"] == metadata["dockerImageTag"]
    environment = dict(variable.split("=", 1) for variable in config["Env"])
    assert environment["AIRBYTE_ENTRYPOINT"] == " ".join(config["Entrypoint"])
    assert config["WorkingDir"] == "/airbyte/integration_code"
    assert config["User"] not in ("", "root", "0")


def test_image_holds_no_build_tools_or_caches(image) -> None:
    leftovers = "/airbyte/venv/bin/pip* /root/.cache /home/airbyte/.cache /tmp/wheels"
    probe = f"command -v gcc cc; ls -d {leftovers} 2>/dev/null; true"
    done = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", image.image, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"found in {image.image}: {done.stdout}"
