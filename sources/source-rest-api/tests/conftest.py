"""Fixtures for source-rest-api tests: the API sandbox as a real server process on a free loopback port, and the
connector's real CLI as a subprocess. If the sandbox cannot start, the tests fail (they never skip)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from source_core.testing import free_port, served
from source_rest_api import sandbox

RECORDS = 1000
CLI = [sys.executable, "-c", "from source_rest_api.run import run; run()"]
# Fast failure settings for tests: short backoffs and cool-down, timeouts well below the sandbox's slow fault.
FAST_HTTP = {
    "backoff_initial_seconds": 0.05,
    "backoff_max_seconds": 0.5,
    "read_timeout_seconds": 1.0,
    "breaker_failures": 3,
    "breaker_cooldown_seconds": 0.3,
    "max_retries": 6,
}


class Sandbox:
    def __init__(self, url: str):
        self.url = url

    def _post(self, path: str, payload: Any) -> Any:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def faults(self, *faults: dict[str, Any]) -> None:
        self._post("/_control", {"faults": list(faults)})

    def rate_limit(self, burst: int, per_second: float) -> None:
        self._post("/_control", {"rate_limit": {"burst": burst, "per_second": per_second}})

    def reset(self) -> None:
        self._post("/_reset", {})

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    port = free_port()
    server = Sandbox(f"http://127.0.0.1:{port}")
    argv = [sys.executable, "-m", "source_rest_api.sandbox", "--port", str(port), "--records", str(RECORDS)]
    with served(argv, f"{server.url}/_stats", "the API sandbox"):
        yield server


@pytest.fixture
def api(sandbox_server: Sandbox) -> Sandbox:
    """The sandbox with no faults, no rate limit and zeroed counts."""
    sandbox_server.reset()
    return sandbox_server


def stream(name: str, auth: str = "open", style: str = "offset", **settings: Any) -> dict[str, Any]:
    """A stream of the sandbox's endpoint `/<auth>/<style>` with the matching selector and pagination."""
    selector, pagination = {
        "none": ("items", {"type": "none"}),
        "offset": ("data.items", {"type": "offset", "page_size": 100}),
        "page": ("results", {"type": "page", "page_size": 100}),
        "cursor": ("items", {"type": "cursor", "cursor_path": "meta.next_cursor", "page_size": 100}),
        "next_url": ("items", {"type": "next_url", "next_url_path": "next"}),
        "link": ("", {"type": "link_header"}),
    }[style]
    return {
        "name": name,
        "path": f"/{auth}/{style}",
        "record_selector": selector,
        "primary_key": ["id"],
        "pagination": pagination,
        **settings,
    }


INCREMENTAL = {"cursor_field": "updated_at", "request_param": "updated_since"}


def config(api: Sandbox, *streams: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"base_url": api.url, "streams": list(streams), "http": FAST_HTTP, **settings}


@dataclass
class Run:
    """What one CLI invocation printed: every stdout line parsed as a message, plus exit code and stderr."""

    exit_code: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str
    non_json: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def data(self) -> list[dict[str, Any]]:
        return [m["record"]["data"] for m in self.of("RECORD")]

    def ids(self, stream: str | None = None) -> list[int]:
        return [m["record"]["data"]["id"] for m in self.of("RECORD") if stream in (None, m["record"]["stream"])]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of("TRACE") if m["trace"]["type"] == "ERROR"]

    @property
    def figures(self) -> dict[str, Any]:
        found = [json.loads(m["log"]["message"]) for m in self.of("LOG") if "http_figures" in m["log"]["message"]]
        assert len(found) == 1, f"expected one http_figures LOG message, got {len(found)}"
        return found[0]["http_figures"]


class Connector:
    """Runs `source-rest-api` commands as a separate process, with files written to a temp folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def _file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def run(self, command: str, config: dict | None = None, catalog: dict | None = None, state: Any = None) -> Run:
        args = [command]
        if config is not None:
            args += ["--config", self._file("config", config)]
        if catalog is not None:
            args += ["--catalog", self._file("catalog", catalog)]
        if state is not None:
            args += ["--state", self._file("state", state)]
        done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
        messages, non_json = [], []
        for line in done.stdout.splitlines():
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                non_json.append(line)
        return Run(done.returncode, messages, done.stdout, done.stderr, non_json)


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path)


def catalog(*streams: dict[str, Any], incremental: bool = False) -> dict[str, Any]:
    """A configured catalog for the config's `streams` (without running discover)."""
    return {
        "streams": [
            {
                "stream": {
                    "name": s["name"],
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append",
                **({"cursor_field": [s["incremental"]["cursor_field"]]} if incremental else {}),
            }
            for s in streams
        ]
    }


def state_list(state: dict[str, Any]) -> list[dict[str, Any]]:
    """A STATE message's payload as the `--state` file content for the next run."""
    return [{"type": "STREAM", "stream": state["stream"]}]


ALL_IDS = list(range(1, RECORDS + 1))
SECRETS = [
    sandbox.BEARER_TOKEN,
    sandbox.BASIC_PASSWORD,
    sandbox.API_KEY,
    sandbox.CLIENT_SECRET,
    sandbox.REFRESH_TOKEN,
]
