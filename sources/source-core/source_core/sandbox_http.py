"""The HTTP plumbing the API sandboxes (source-rest-api's, source-shopify's) share: a threading server holding the
sandbox's state, a handler that answers with a body or JSON and counts each response's status, and the fault queue.

Here and not in `source_core.testing`: the sandboxes ship in the connectors' wheels, and that package needs pytest.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson


class Counted(Protocol):
    """A sandbox's state as the handler sees it: `lock` guards `statuses`; `generation` goes up on each reset."""

    lock: threading.Lock
    statuses: Counter[int]
    generation: int


def take_fault(faults: deque[dict[str, Any]]) -> dict[str, Any] | None:
    """A copy of the first fault with a count left, that count taken by one; the caller holds the sandbox's lock."""
    while faults and faults[0]["count"] <= 0:
        faults.popleft()
    if not faults:
        return None
    faults[0]["count"] -= 1
    return dict(faults[0])


def pending_faults(faults: deque[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in faults if f["count"] > 0]


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's connection pool is exercised
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    content_type = "application/json"
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        # Once the request line is in (a kept-alive connection may have idled across a reset before it came).
        self.generation = self.server.sandbox.generation
        return super().parse_request()

    def _count(self, status: int) -> None:
        """Count a response's status, unless its request came before the last reset."""
        sandbox = self.server.sandbox
        with sandbox.lock:
            if self.generation == sandbox.generation:
                sandbox.statuses[status] += 1

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        counted: bool = True,
        content_type: str | None = None,
    ) -> None:
        if counted:  # before the response goes out: a client that asks for the counts once it has it finds it counted
            self._count(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type or self.content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None, counted: bool = True) -> None:
        self._send(status, orjson.dumps(payload), headers, counted)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[SandboxHandler], sandbox: Counted):
        super().__init__(address, handler)
        self.sandbox = sandbox
