"""Local servers for tests (the S3 API's moto_server, the API
sandboxes) started as real processes on loopback and waited for.

If a server cannot start, the test fails (it never skips).
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    argv: list[str],
    probe_url: str,
    name: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    probe_tls: ssl.SSLContext | None = None,
) -> subprocess.Popen:
    """Start `argv` and wait until `probe_url` answers a GET with 200 (over TLS with `probe_tls`); fail the test if
    it exits or never does.

    Its output goes to a file: a server that logs every request would stall on a pipe nobody reads.
    """
    log = Path(tempfile.mkstemp(prefix=f"{name.replace(' ', '-')}-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(probe_url, timeout=2, context=probe_tls) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            pytest.fail(
                f"{name} did not answer at {probe_url} within {timeout:.0f} s: {log.read_text()[-2000:]}", pytrace=False
            )
        time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def served(
    argv: list[str], probe_url: str, name: str, probe_tls: ssl.SSLContext | None = None
) -> Iterator[subprocess.Popen]:
    """A server process for the length of a `with` block (see `start_server`)."""
    process = start_server(argv, probe_url, name, probe_tls=probe_tls)
    try:
        yield process
    finally:
        stop_server(process)


def start_moto(env: dict[str, str] | None = None, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start `moto_server` (on `port`, or a free one) and wait until it answers; fail the test if it does not."""
    if not MOTO_SERVER.exists():
        pytest.fail(
            f"moto_server is not installed next to {sys.executable} (pip install 'moto[server]')", pytrace=False
        )
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)]
    return start_server(argv, f"{endpoint}/moto-api/", "moto_server", env={**os.environ, **(env or {})}), endpoint
