"""A small JSON API with quirks real APIs have and the sandbox does not, for tests: `python quirky_api.py --port N`.

- `POST /oauth/token`: the access token `ACCESS_TOKEN`, for any credentials.
- `GET /echo?page=n`: `PAGES` pages of `PAGE_SIZE` records whose next page's URL holds the caller's bearer token as
  `access_token` (as Facebook's Graph API does in `paging.next`); 401 without an Authorization header.
- `GET /big`, `/bom`, `/surrogate`: bodies that orjson reads wrong or not at all: integers beyond 64 bits, a UTF-8
  byte order mark before the JSON, a string holding an escaped lone surrogate.
- `GET /reset_ms?in=s`: `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` in epoch milliseconds, `s` seconds from
  now.
- `GET /_stats`: the requests per path.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from source_core.sandbox_http import SandboxHandler, SandboxHTTPServer

ACCESS_TOKEN = "quirky-access-token-0d5e1f"
PAGES, PAGE_SIZE = 4, 10
BIG = b'{"items": [{"id": 1, "wei": 20000000000000000001}, {"id": 2, "neg": -9223372036854775809}]}'
BOM = b'\xef\xbb\xbf{"items": [{"id": 1}]}'
SURROGATE = b'{"items": [{"id": 1, "title": "ok"}, {"id": 2, "title": "half an emoji \\ud83d"}]}'


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.paths: Counter[str] = Counter()
        self.generation = 0


class Handler(SandboxHandler):
    def do_POST(self) -> None:
        self._body()
        self._json(200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/_stats":
            with self.server.sandbox.lock:
                self._json(200, {"paths": dict(self.server.sandbox.paths)}, counted=False)
            return
        with self.server.sandbox.lock:
            self.server.sandbox.paths[url.path] += 1
        if url.path == "/echo":
            self._echo(int(query.get("page", 0)))
        elif url.path in ("/big", "/bom", "/surrogate"):
            self._send(200, {"/big": BIG, "/bom": BOM, "/surrogate": SURROGATE}[url.path])
        elif url.path == "/reset_ms":
            reset = int((time.time() + float(query["in"])) * 1000)
            self._json(200, {"items": [{"id": 1}]}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
        else:
            self._json(404, {"error": f"no route {url.path}"})

    def _echo(self, page: int) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            self._json(401, {"error": "no credentials"})
            return
        host = self.headers.get("Host")
        following = f"http://{host}/echo?access_token={token}&after=c{page + 1}&page={page + 1}"
        records = [{"id": page * PAGE_SIZE + i} for i in range(1, PAGE_SIZE + 1)]
        self._json(200, {"data": records, "paging": {"next": following if page + 1 < PAGES else None}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    SandboxHTTPServer(("127.0.0.1", parser.parse_args().port), Handler, State()).serve_forever()


if __name__ == "__main__":
    main()
