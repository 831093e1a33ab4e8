"""What real APIs do and the sandbox does not, against a small server of such quirks (`quirky_api.py`) and the
sandbox: tokens echoed into next-page links, JSON bodies orjson reads wrong or not at all, a token endpoint that
refuses the credentials, waits the server asks for that are too long or given in epoch milliseconds."""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.http import HttpClient, HttpSettings
from source_core.testing import free_port, served
from source_rest_api import sandbox
from tests.conftest import FAST_HTTP, Connector, Sandbox, catalog, config, stream
from tests.quirky_api import ACCESS_TOKEN, PAGE_SIZE, PAGES

LOGGER = logging.getLogger("test_api_quirks")
BEARER = "quirky-bearer-token-7c2a9b"


class Quirky:
    def __init__(self, url: str):
        self.url = url

    def requests(self) -> dict[str, int]:
        """Requests so far per path."""
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return json.loads(response.read())["paths"]


@pytest.fixture(scope="module")
def quirky() -> Iterator[Quirky]:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("quirky_api.py")), "--port", str(port)]
    with served(argv, f"http://127.0.0.1:{port}/_stats", "the quirky API"):
        yield Quirky(f"http://127.0.0.1:{port}")


def client(**overrides: Any) -> HttpClient:
    return HttpClient(HttpSettings(**{**FAST_HTTP, **overrides}), LOGGER)


@pytest.mark.parametrize(
    ("auth", "secret"),
    [
        ({"type": "bearer", "token": BEARER}, BEARER),
        ({"type": "oauth2", "endpoint": "{url}/oauth/token", "client_id": "c", "client_secret": "s"}, ACCESS_TOKEN),
    ],
    ids=["bearer", "oauth2"],
)
def test_tokens_echoed_in_next_links_stay_out_of_states(
    quirky: Quirky, connector: Connector, auth: dict[str, str], secret: str
) -> None:
    auth = {k: v.format(url=quirky.url) for k, v in auth.items()}
    echo = {"name": "echo", "path": "/echo", "record_selector": "data"}
    echo["pagination"] = {"type": "next_url", "next_url_path": "paging.next"}
    cfg = {"base_url": quirky.url, "auth": auth, "checkpoint_records": PAGE_SIZE, "streams": [echo], "http": FAST_HTTP}
    run = connector.read(cfg, catalog(echo))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(1, PAGES * PAGE_SIZE + 1))  # the next links without the token still work
    pages = [s["next_page"]["url"] for s in run.stream_states if "next_page" in s]
    assert [p.split("?")[1] for p in pages] == [f"after=c{n}&page={n}" for n in range(1, PAGES)]
    assert secret not in run.output


def test_json_bodies_orjson_cannot_read_exactly_are_read_exactly(quirky: Quirky, connector: Connector) -> None:
    streams = [{"name": name, "path": f"/{name}", "record_selector": "items"} for name in ("big", "bom", "surrogate")]
    before = quirky.requests()
    run = connector.read({"base_url": quirky.url, "streams": streams, "http": FAST_HTTP}, catalog(*streams))
    assert run.exit_code == 0, run.describe()
    # parsed by Python's json: an integer rounded on the way would come back as a float and compare unequal
    assert run.stream_data("big") == [{"id": 1, "wei": 20000000000000000001}, {"id": 2, "neg": -9223372036854775809}]
    assert '"wei":20000000000000000001' in run.stdout
    assert run.stream_data("bom") == [{"id": 1}]
    assert run.stream_data("surrogate") == [{"id": 1, "title": "ok"}, {"id": 2, "title": "half an emoji \ud83d"}]
    after = quirky.requests()
    assert {name: after[f"/{name}"] - before.get(f"/{name}", 0) for name in ("big", "bom", "surrogate")} == {
        "big": 1,
        "bom": 1,
        "surrogate": 1,
    }


@pytest.mark.parametrize(
    ("grant", "refusal"),
    [("client_credentials", ("401", "invalid_client")), ("refresh_token", ("400", "invalid_grant"))],
)
def test_a_token_endpoint_refusing_the_credentials_is_a_config_error(
    api: Sandbox, connector: Connector, grant: str, refusal: tuple[str, str]
) -> None:
    wrong_secret = grant == "client_credentials"
    auth = {
        "type": "oauth2",
        "endpoint": api.url + "/oauth/token",
        "client_id": sandbox.CLIENT_ID,
        "client_secret": "wrong-client-secret" if wrong_secret else sandbox.CLIENT_SECRET,
        "grant_type": grant,
        "refresh_token": sandbox.REFRESH_TOKEN if wrong_secret else "revoked-refresh-token",
    }
    cfg = config(api, stream("items", "oauth"), auth=auth)
    said = f"The token endpoint {api.url}/oauth/token refused the credentials ({' '.join(refusal)})"
    run = connector.read(cfg, catalog(*cfg["streams"]))
    assert run.exit_code == 1
    assert run.errors and all(e["failure_type"] == "config_error" and said in e["message"] for e in run.errors)
    stats = api.stats()
    assert (stats["statuses"], stats["requests"]) == ({refusal[0]: 1}, 0)  # one token request, not retried; no data
    checked = connector.check(cfg).connection_status
    assert checked["status"] == "FAILED" and said in checked["message"]
    assert "wrong-client-secret" not in run.output and "revoked-refresh-token" not in run.output


@pytest.mark.parametrize("most", [None, 30])
def test_a_retry_after_beyond_the_longest_allowed_wait_ends_the_read_at_once(
    api: Sandbox, connector: Connector, most: int | None
) -> None:
    api.faults({"kind": "429", "count": 1, "retry_after": 86400})
    items = stream("items")
    http = {**FAST_HTTP, **({"max_server_wait_seconds": most} if most else {})}
    started = time.monotonic()
    run = connector.run("read", config(api, items, http=http), catalog(items), timeout=60)  # not a day
    assert time.monotonic() - started < 30
    assert run.exit_code == 1
    assert run.errors and all(e["failure_type"] == "transient_error" for e in run.errors)
    said = "asked to wait 86400 s (Retry-After) before the next request, longer than http.max_server_wait_seconds"
    assert f"{said} ({most or 600} s)" in run.errors[0]["message"]
    assert api.stats()["requests"] == 1


def test_a_rate_limit_reset_in_epoch_milliseconds_is_waited_for(quirky: Quirky) -> None:
    http = client()
    http.get_json(quirky.url + "/reset_ms", params={"in": 1})
    started = time.monotonic()
    _, body = http.get_json(quirky.url + "/reset_ms", params={"in": 1})
    assert 0.5 < time.monotonic() - started < 5  # about the second until the reset, not the year 55000
    assert body == {"items": [{"id": 1}]}


def test_a_rate_limit_reset_too_far_ahead_ends_the_next_request(quirky: Quirky) -> None:
    http = client(max_server_wait_seconds=60)
    http.get_json(quirky.url + "/reset_ms", params={"in": 3600})
    with pytest.raises(AirbyteTracedException) as raised:
        http.get_json(quirky.url + "/reset_ms", params={"in": 3600})
    assert raised.value.failure_type == FailureType.transient_error
    assert "asked to wait 3600 s (X-RateLimit-Reset)" in raised.value.message
