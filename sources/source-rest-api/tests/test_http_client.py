"""The shared HTTP layer (source_core.http) against the real sandbox server: retries, Retry-After, pacing,
circuit breaker, figures."""

from __future__ import annotations

import logging
import time

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.http import HttpClient, HttpSettings, HttpStatusError
from tests.conftest import FAST_HTTP, Sandbox

LOGGER = logging.getLogger("test_http_client")


def client(**overrides: object) -> HttpClient:
    return HttpClient(HttpSettings(**{**FAST_HTTP, **overrides}), LOGGER)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "429", "count": 2, "retry_after": 0},
        {"kind": "500", "count": 2},
        {"kind": "503", "count": 2},
        {"kind": "reset", "count": 2},
        {"kind": "slow", "count": 2, "seconds": 1.5},
        {"kind": "malformed", "count": 2},
    ],
    ids=lambda f: f["kind"],
)
def test_retries_recover_from_each_transient_fault(api: Sandbox, fault: dict) -> None:
    api.faults(fault)
    http = client()
    _, body = http.get_json(api.url + "/open/offset", params={"limit": 7})
    assert [r["id"] for r in body["data"]["items"]] == [1, 2, 3, 4, 5, 6, 7]
    assert http.figures.requests == 3 and http.figures.retries == 2
    assert api.stats()["requests"] == 3


def test_retry_after_is_honoured_in_seconds_and_as_http_date(api: Sandbox) -> None:
    api.faults({"kind": "429", "count": 1, "retry_after": 1}, {"kind": "429", "count": 1, "retry_after": "date"})
    http = client()
    started = time.monotonic()
    http.get_json(api.url + "/open/none")
    elapsed = time.monotonic() - started
    # 1 s, then an HTTP date 2 s ahead (whole seconds: at least 1 s); the exponential backoff alone is < 0.2 s
    assert elapsed >= 2.0, elapsed
    assert http.figures.throttled == 2


@pytest.mark.parametrize(("path", "status"), [("/bearer/offset", 401), ("/open/nowhere", 404)])
def test_client_errors_are_not_retried(api: Sandbox, path: str, status: int) -> None:
    http = client()
    with pytest.raises(HttpStatusError) as raised:
        http.get(api.url + path)
    assert raised.value.status == status
    assert api.stats()["statuses"] == {str(status): 1}
    assert http.figures.requests == 1 and http.figures.retries == 0


def test_breaker_opens_and_the_request_ends_in_a_transient_trace(api: Sandbox) -> None:
    api.faults({"kind": "503", "count": 100})
    http = client(max_retries=4, breaker_failures=2, breaker_cooldown_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(AirbyteTracedException) as raised:
        http.get(api.url + "/open/offset", params={"api_key": "not-shown"})
    error = raised.value
    assert error.failure_type == FailureType.transient_error
    assert "/open/offset" in error.message and "status 503" in error.message and "5 attempts" in error.message
    assert "not-shown" not in error.message
    assert api.stats()["statuses"] == {"503": 5}
    assert http.figures.breaker_opens >= 2
    assert time.monotonic() - started >= 1.0  # two cool-downs of 0.5 s at least: nothing was sent meanwhile


def test_half_open_probe_closes_the_breaker(api: Sandbox) -> None:
    api.faults({"kind": "500", "count": 2})
    http = client(breaker_failures=2, breaker_cooldown_seconds=0.5)
    http.get(api.url + "/open/offset")
    assert http.figures.breaker_opens == 1
    assert http.breakers.get(api.url.split("//")[1]).current_state == "closed"


def test_client_side_budget_keeps_the_server_limit(api: Sandbox) -> None:
    api.rate_limit(burst=5, per_second=20)
    http = client(requests_per_second=20, burst=5)
    started = time.monotonic()
    for _ in range(45):
        http.get(api.url + "/open/offset", params={"limit": 1})
    elapsed = time.monotonic() - started
    stats = api.stats()
    assert stats["throttled"] == 0, stats
    assert elapsed >= (45 - 5) / 20 * 0.95  # the budget really paced the requests
    assert http.figures.rate_limit_remaining is not None


def test_server_reported_limit_paces_without_a_client_budget(api: Sandbox) -> None:
    api.rate_limit(burst=5, per_second=20)
    http = client()
    for _ in range(30):
        http.get(api.url + "/open/offset", params={"limit": 1})
    assert api.stats()["throttled"] == 0


def test_figures(api: Sandbox) -> None:
    api.faults({"kind": "429", "count": 1, "retry_after": 0}, {"kind": "500", "count": 1})
    http = client()
    response = http.get(api.url + "/open/offset", params={"limit": 3})
    summary = http.figures.summary()
    assert summary["requests"] == 3 and summary["retries"] == 2
    assert summary["throttled"] == 1 and summary["errors"] == 2
    assert summary["bytes"] >= len(response.content)
    assert 0 < summary["latency_mean_ms"] <= summary["latency_p95_ms"]


def test_connector_pacing_hook(api: Sandbox) -> None:
    """A connector's own signal (Shopify's query cost, say) spaces the requests that follow."""
    seen: list[int] = []

    def hook(response: requests.Response) -> float:
        seen.append(response.status_code)
        return 0.3

    http = HttpClient(HttpSettings(**FAST_HTTP), LOGGER, pacing_hook=hook)
    started = time.monotonic()
    for _ in range(4):
        http.get(api.url + "/open/offset", params={"limit": 1})
    assert time.monotonic() - started >= 0.9  # three waits of 0.3 s between four requests
    assert seen == [200, 200, 200, 200]
