"""Fixtures for source-rest-api tests: the API sandbox as a real server process on a free loopback port, and the
connector's real CLI as a subprocess. If the sandbox cannot start, the tests fail (they never skip)."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from source_core.sandbox_http import SandboxHandler, SandboxHTTPServer
from source_core.testing import Cli, free_port, served, state, state_list
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


# What a scripted API answers a GET with: (status, headers, JSON body), from the path and the query's last values.
Route = Callable[[str, dict[str, str]], tuple[int, dict[str, str], Any]]


class ScriptedApi:
    """A JSON API whose answers a test writes, for what the sandbox has no switch for (pages changing during a read,
    relative links, expired page tokens, ...): a real HTTP server on a free loopback port, in a thread of the test's
    process; the connector still runs as its own process and reaches it over TCP."""

    def __init__(self, route: Route):
        self.route = route
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.generation = 0
        self.requests: list[str] = []  # each GET's path and query, in order
        self.server = SandboxHTTPServer(("127.0.0.1", free_port()), ScriptedHandler, self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ScriptedHandler(SandboxHandler):
    def do_GET(self) -> None:
        api = self.server.sandbox
        with api.lock:
            api.requests.append(self.path)
        url = urlsplit(self.path)
        status, headers, body = api.route(url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})
        self._json(status, body, headers)


Scripted = Callable[[Route], ScriptedApi]  # the `scripted` fixture: starts an API answering with a route


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    """Starts a `ScriptedApi` per call; all are stopped after the test."""
    started: list[ScriptedApi] = []

    def start(route: Route) -> ScriptedApi:
        started.append(ScriptedApi(route))
        return started[-1]

    yield start
    for api in started:
        api.close()


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


def listed(name: str, **settings: Any) -> dict[str, Any]:
    """A stream of a scripted API at `/<name>` whose records are the body's `items`, keyed by `id`."""
    return {"name": name, "path": f"/{name}", "record_selector": "items", "primary_key": ["id"], **settings}


INCREMENTAL = {"cursor_field": "updated_at", "request_param": "updated_since"}


def config(api: Sandbox | ScriptedApi, *streams: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"base_url": api.url, "streams": list(streams), "http": FAST_HTTP, **settings}


class Connector(Cli):
    """`source-rest-api` as a separate process, with files written to a temp folder."""

    def __init__(self, folder: Path):
        super().__init__(CLI, folder)


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


def saved(stream: dict[str, Any], value: dict[str, Any]) -> list[dict[str, Any]]:
    """`value` as the `--state` of a read of `stream`."""
    return state_list(state(stream["name"], value)["state"])


ALL_IDS = list(range(1, RECORDS + 1))
SECRETS = [
    sandbox.BEARER_TOKEN,
    sandbox.BASIC_PASSWORD,
    sandbox.API_KEY,
    sandbox.CLIENT_SECRET,
    sandbox.REFRESH_TOKEN,
]
