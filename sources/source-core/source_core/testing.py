"""Test support shared by the connectors' test suites: a real S3 API server (moto_server) on loopback.

The server is a separate process speaking S3 over HTTP; tests and connectors reach it with `endpoint_url`. If it
cannot start, the test fails (it never skips).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(env: dict[str, str] | None = None, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start `moto_server` (on `port`, or a free one) and wait until it answers; fail the test if it does not.

    Its log goes to a file: moto logs every request, and a pipe nobody reads would fill up and stall the server.
    """
    if not MOTO_SERVER.exists():
        pytest.fail(
            f"moto_server is not installed next to {sys.executable} (pip install 'moto[server]')", pytrace=False
        )
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="moto_server-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}: {log.read_text()[-2000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as response:
                if response.status == 200:
                    return process, endpoint
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_moto(process)
            pytest.fail(
                f"moto_server did not answer at {endpoint} within 30 s: {log.read_text()[-2000:]}", pytrace=False
            )
        time.sleep(0.1)


def stop_moto(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
