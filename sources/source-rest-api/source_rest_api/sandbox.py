"""A local JSON API for tests and trials: `python -m source_rest_api.sandbox --port 8765` (`make api-sandbox`).

Records: `id` 1..N, `updated_at` shared by three records at a time (cursor ties), `name`, `amount`, `tags`,
`group`; in (updated_at, id) order (`order=desc`: the reverse), filtered by `updated_since` (inclusive, RFC 3339
or epoch seconds).

Data endpoints are `GET /<auth>/<style>`:
- auth: `open`; `bearer` (Authorization: Bearer <token>); `basic` (<user>:<password>); `header` (X-API-Key);
  `query` (?api_key=); `oauth` (a Bearer token from `POST /oauth/token`, grants client_credentials and
  refresh_token).
- style: `none` (every record, `{"items": [...]}`); `offset` (`offset`, `limit`, `{"data": {"items": [...]}}`);
  `page` (`page` from 1, `per_page`, `{"results": [...]}`); `cursor` (`cursor`, `limit`,
  `{"items": [...], "meta": {"next_cursor": ...}}`); `next_url` (`{"items": [...], "next": <url or null>}`);
  `link` (a JSON list, the next page in an RFC 8288 `Link` header).

Control (JSON): `POST /_control` with `{"faults": [{"kind": K, "count": n, ...}], "rate_limit": {"burst": b,
"per_second": r} | null}`. Kinds: `ok` (n requests pass untouched), `429` (with `retry_after`: seconds or
`"date"`), `500`, `503`, `slow` (`seconds`), `reset` (connection reset), `malformed` (truncated JSON body),
`expire_tokens` (every issued OAuth token stops working); faults apply to the next data requests in order.
`GET /_stats` counts requests, statuses and the times of 429s; `POST /_reset` clears faults, limits and counts.
HTTPS with `--certfile`/`--keyfile`, mutual TLS with `--client-ca` too.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import math
import secrets
import socket
import ssl
import struct
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from source_core.sandbox_http import SandboxHandler, SandboxHTTPServer, pending_faults, take_fault

BEARER_TOKEN = "sandbox-bearer-token"
BASIC_USER, BASIC_PASSWORD = "sandbox-user", "sandbox-password"
API_KEY = "sandbox-api-key"
CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-client-secret"
REFRESH_TOKEN = "sandbox-refresh-token"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TIES = 3  # records sharing one updated_at value
STYLES = ("none", "offset", "page", "cursor", "next_url", "link")
AUTHS = ("open", "bearer", "basic", "header", "query", "oauth")


def make_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "updated_at": (EPOCH + timedelta(minutes=(i - 1) // TIES)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "name": f"item {i}",
            "amount": round(i * 1.25, 2),
            "tags": [f"t{i % 5}", f"g{i % 3}"],
            "group": {"id": i % 7, "label": f"group {i % 7}"},
        }
        for i in range(1, count + 1)
    ]


def _since(value: str) -> str:
    """`updated_since` as the records' own text form, from RFC 3339 or epoch seconds."""
    try:
        when = datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LeakyBucket:
    """The server's rate limit: `burst` requests at once, draining at `per_second`."""

    def __init__(self, burst: int, per_second: float):
        self.burst, self.rate = burst, per_second
        self.level, self.last = 0.0, time.monotonic()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until one more request is allowed)."""
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.last) * self.rate)
        self.last = now
        allowed = self.level + 1 <= self.burst
        if allowed:
            self.level += 1
        remaining = math.floor(self.burst - self.level)
        wait = max(0.0, (self.level + 1 - self.burst) / self.rate)
        return allowed, remaining, wait


class Sandbox:
    """The server's state; one lock keeps faults, limits and counts consistent across handler threads."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.lock = threading.Lock()
        self.generation = 0  # counts resets: a response to a request from before the last reset is not counted
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.faults: deque[dict[str, Any]] = deque()
            self.bucket: LeakyBucket | None = None
            self.tokens: set[str] = set()
            self.requests = 0
            self.statuses: Counter[int] = Counter()
            self.throttled_at: list[float] = []
            self.started = time.time()
            self.generation += 1

    def next_fault(self) -> dict[str, Any] | None:
        with self.lock:
            self.requests += 1
            return take_fault(self.faults)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "throttled": len(self.throttled_at),
                "throttled_after_seconds": [round(t - self.started, 3) for t in self.throttled_at],
                "pending_faults": pending_faults(self.faults),
            }


class Handler(SandboxHandler):
    server: SandboxServer

    def _reset_connection(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # -- routes
    def do_POST(self) -> None:
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        if path == "/_control":
            control = orjson.loads(self._body() or b"{}")
            with sandbox.lock:
                sandbox.faults.extend(dict(f) for f in control.get("faults", []))
                if "rate_limit" in control:
                    limit = control["rate_limit"]
                    sandbox.bucket = LeakyBucket(limit["burst"], limit["per_second"]) if limit else None
            self._json(200, {"ok": True}, counted=False)
        elif path == "/_reset":
            self._body()
            sandbox.reset()
            self._json(200, {"ok": True}, counted=False)
        elif path == "/oauth/token":
            self._token(parse_qs(self._body().decode()))
        else:
            self._json(404, {"error": f"no route POST {path}"})

    def _token(self, form: dict[str, list[str]]) -> None:
        get = {k: v[0] for k, v in form.items()}
        if (get.get("client_id"), get.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            self._json(401, {"error": "invalid_client"})
            return
        grant = get.get("grant_type")
        if grant == "refresh_token" and get.get("refresh_token") != REFRESH_TOKEN:
            self._json(400, {"error": "invalid_grant"})
            return
        if grant not in ("client_credentials", "refresh_token"):
            self._json(400, {"error": "unsupported_grant_type"})
            return
        token = secrets.token_hex(16)
        with self.server.sandbox.lock:
            self.server.sandbox.tokens.add(token)
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_stats":
            self._json(200, self.server.sandbox.stats(), counted=False)
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in AUTHS or parts[1] not in STYLES:
            self._json(404, {"error": f"no such endpoint {url.path}: use /<auth>/<style>"})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if self._fault(query):
            return
        denied = self._denied(parts[0], query)
        if denied:
            self._json(401, {"error": denied})
            return
        limit_headers = self._rate_limit()
        if limit_headers is None:
            return
        self._page(parts[1], query, url.path, limit_headers)

    def _fault(self, query: dict[str, str]) -> bool:
        """Apply the next pending fault; True if it answered the request."""
        fault = self.server.sandbox.next_fault()
        if fault is None:
            return False
        kind = str(fault["kind"])
        if kind == "ok":
            return False
        if kind == "429":
            after = fault.get("retry_after", 1)
            if after == "date":
                value = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
            else:
                value = str(after)
            with self.server.sandbox.lock:
                self.server.sandbox.throttled_at.append(time.time())
            self._json(429, {"error": "slow down"}, {"Retry-After": value})
        elif kind in ("500", "503"):
            self._json(int(kind), {"error": "server trouble"})
        elif kind == "slow":
            time.sleep(float(fault.get("seconds", 5)))
            return False
        elif kind == "reset":
            self._reset_connection()
        elif kind == "malformed":
            self._send(200, b'{"items": [{"id": 1, "na')
        elif kind == "expire_tokens":
            with self.server.sandbox.lock:
                self.server.sandbox.tokens.clear()
            return False
        else:
            self._json(500, {"error": f"unknown fault kind {kind}"})
        return True

    def _denied(self, auth: str, query: dict[str, str]) -> str | None:
        header = self.headers.get("Authorization", "")
        if auth == "bearer" and header != f"Bearer {BEARER_TOKEN}":
            return "missing or wrong bearer token"
        if auth == "basic":
            expected = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
            if header != f"Basic {expected}":
                return "missing or wrong basic credentials"
        if auth == "header" and self.headers.get("X-API-Key") != API_KEY:
            return "missing or wrong X-API-Key header"
        if auth == "query" and query.get("api_key") != API_KEY:
            return "missing or wrong api_key parameter"
        if auth == "oauth":
            token = header.removeprefix("Bearer ")
            with self.server.sandbox.lock:
                known = token in self.server.sandbox.tokens
            if not known:
                return "token expired or unknown"
        return None

    def _rate_limit(self) -> dict[str, str] | None:
        """Rate-limit headers for the response, or None after answering 429."""
        sandbox = self.server.sandbox
        with sandbox.lock:
            bucket = sandbox.bucket
            if bucket is None:
                return {}
            allowed, remaining, wait = bucket.take()
            if not allowed:
                sandbox.throttled_at.append(time.time())
        headers = {
            "X-RateLimit-Limit": str(bucket.burst),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{wait:.3f}",
        }
        if not allowed:
            self._json(429, {"error": "rate limit exceeded"}, {**headers, "Retry-After": str(math.ceil(wait))})
            return None
        return headers

    def _page(self, style: str, query: dict[str, str], path: str, headers: dict[str, str]) -> None:
        records = self.server.sandbox.records
        if "updated_since" in query:
            since = _since(query["updated_since"])
            records = [r for r in records if r["updated_at"] >= since]
        if query.get("order") == "desc":
            records = records[::-1]
        size = int(query.get("limit") or query.get("per_page") or 100)
        if style == "none":
            self._json(200, {"items": records}, headers)
        elif style == "offset":
            start = int(query.get("offset", 0))
            self._json(200, {"data": {"items": records[start : start + size]}, "total": len(records)}, headers)
        elif style == "page":
            start = (int(query.get("page", 1)) - 1) * size
            self._json(200, {"results": records[start : start + size], "page": int(query.get("page", 1))}, headers)
        else:
            position = int(query.get("cursor") or query.get("after") or 0)
            chunk = records[position : position + size]
            after = position + size if position + size < len(records) else None
            if style == "cursor":
                meta = {"next_cursor": str(after) if after is not None else None}
                self._json(200, {"items": chunk, "meta": meta}, headers)
                return
            host = self.headers.get("Host", "127.0.0.1")
            following = urlencode({**query, "after": after}) if after is not None else None
            next_url = f"http://{host}{path}?{following}" if following else None
            if style == "next_url":
                self._json(200, {"items": chunk, "next": next_url}, headers)
            else:
                self._json(200, chunk, {**headers, **({"Link": f'<{next_url}>; rel="next"'} if next_url else {})})


class SandboxServer(SandboxHTTPServer):
    sandbox: Sandbox

    def __init__(self, address: tuple[str, int], sandbox: Sandbox):
        super().__init__(address, Handler, sandbox)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local JSON API with every pagination style, auth and fault.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--certfile", help="serve HTTPS with this PEM certificate (chain) ...")
    parser.add_argument("--keyfile", help="... and this PEM key")
    parser.add_argument("--client-ca", help="ask for a client certificate signed by this PEM CA (mutual TLS)")
    args = parser.parse_args(argv)
    server = SandboxServer((args.host, args.port), Sandbox(make_records(args.records)))
    scheme = "http"
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print(f"API sandbox on {scheme}://{args.host}:{server.server_address[1]} with {args.records} records", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
