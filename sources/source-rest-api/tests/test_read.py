"""Full refresh reads through the real CLI: every pagination style, every auth kind, faults survived."""

from __future__ import annotations

from typing import Any

import pytest

from source_core.testing import state_list
from source_rest_api import sandbox
from tests.conftest import ALL_IDS, SECRETS, Connector, Sandbox, catalog, config, stream

AUTHS: dict[str, dict[str, Any]] = {
    "bearer": {"type": "bearer", "token": sandbox.BEARER_TOKEN},
    "basic": {"type": "basic", "username": sandbox.BASIC_USER, "password": sandbox.BASIC_PASSWORD},
    "header": {"type": "api_key", "name": "X-API-Key", "value": sandbox.API_KEY, "in": "header"},
    "query": {"type": "api_key", "name": "api_key", "value": sandbox.API_KEY, "in": "query"},
}
OAUTH = {"type": "oauth2", "client_id": sandbox.CLIENT_ID, "client_secret": sandbox.CLIENT_SECRET}


def test_every_pagination_style_reads_every_record_exactly_once(api: Sandbox, connector: Connector) -> None:
    styles = ["none", "offset", "page", "cursor", "next_url", "link"]
    streams = [stream(style, style=style) for style in styles]
    run = connector.run("read", config(api, *streams), catalog(*streams))
    assert run.exit_code == 0, run.stderr[-2000:]
    for style in styles:
        assert run.ids(style) == ALL_IDS, style
    assert [s["stream"]["stream_descriptor"]["name"] for s in run.states] == styles
    assert run.logged("http_figures")["requests"] == api.stats()["requests"]


@pytest.mark.parametrize(
    ("kind", "auth"),
    [
        *AUTHS.items(),
        ("oauth", {**OAUTH, "grant_type": "client_credentials"}),
        ("oauth", {**OAUTH, "grant_type": "refresh_token", "refresh_token": sandbox.REFRESH_TOKEN}),
    ],
    ids=[*AUTHS, "oauth-client-credentials", "oauth-refresh-token"],
)
def test_auth_kinds_read_and_never_show_a_secret(api: Sandbox, connector: Connector, kind: str, auth: dict) -> None:
    """Each kind reads everything; a failed attempt (logged with its URL) and, for OAuth, a token expiring
    mid-read are survived; no secret appears in any output, STATEs included."""
    items = stream("items", auth=kind, style="next_url")
    api.faults({"kind": "ok", "count": 3}, {"kind": "expire_tokens", "count": 1}, {"kind": "500", "count": 1})
    if kind == "oauth":
        auth = {**auth, "endpoint": api.url + "/oauth/token"}
    run = connector.run("read", config(api, items, auth=auth, checkpoint_records=100), catalog(items))
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.ids() == ALL_IDS
    assert len(run.states) >= 10  # each holding a next-page URL, which the API built with its query
    statuses = api.stats()["statuses"]
    assert statuses.get("401", 0) == (1 if kind == "oauth" else 0) and statuses["500"] == 1
    for secret in SECRETS:
        assert secret not in run.stdout and secret not in run.stderr


def test_wrong_credentials_fail_plainly(api: Sandbox, connector: Connector) -> None:
    items = stream("items", auth="bearer")
    run = connector.run("read", config(api, items, auth={"type": "bearer", "token": "wrong"}), catalog(items))
    assert run.exit_code != 0
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error"
    assert "refused the credentials (401)" in error["message"] and "/bearer/offset" in error["message"]
    assert api.stats()["statuses"] == {"401": 1}


def test_transient_faults_are_survived(api: Sandbox, connector: Connector) -> None:
    api.faults(
        {"kind": "ok", "count": 2},
        {"kind": "429", "count": 1, "retry_after": 0},
        {"kind": "ok", "count": 1},
        {"kind": "500", "count": 2},
        {"kind": "reset", "count": 1},
        {"kind": "slow", "count": 1, "seconds": 1.5},
        {"kind": "malformed", "count": 1},
        {"kind": "503", "count": 1},
    )
    items = stream("items", style="offset")
    run = connector.run("read", config(api, items), catalog(items))
    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.ids() == ALL_IDS
    figures = run.logged("http_figures")
    assert figures["retries"] == 7 and figures["throttled"] == 1
    assert figures["requests"] == api.stats()["requests"]


@pytest.mark.parametrize("incremental", [False, True], ids=["full_refresh", "incremental"])
def test_breaker_ends_the_read_and_every_state_before_resumes(
    api: Sandbox, connector: Connector, incremental: bool
) -> None:
    settings = {"incremental": {"cursor_field": "updated_at", "request_param": "updated_since"}} if incremental else {}
    items = stream("items", style="cursor", **settings)
    cfg = config(api, items, checkpoint_records=100)
    api.faults({"kind": "ok", "count": 4}, {"kind": "503", "count": 1000})
    failed = connector.run("read", cfg, catalog(items, incremental=incremental))
    assert failed.exit_code != 0
    (error,) = [e for e in failed.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "transient_error"
    assert "/open/cursor" in error["message"] and "status 503" in error["message"]
    assert failed.ids() == ALL_IDS[:400] and len(failed.states) >= 3
    assert failed.logged("http_figures")["breaker_opens"] >= 1
    api.reset()
    resumed = connector.run("read", cfg, catalog(items, incremental=incremental), state_list(failed.states[-1]))
    assert resumed.exit_code == 0, resumed.stderr[-2000:]
    assert failed.ids() + resumed.ids() == ALL_IDS


def test_record_selector_that_is_not_a_list(api: Sandbox, connector: Connector) -> None:
    items = {**stream("items", style="offset"), "record_selector": "total"}
    run = connector.run("read", config(api, items), catalog(items))
    assert run.exit_code != 0
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error" and "record_selector" in error["message"]


def test_unknown_stream_in_catalog(api: Sandbox, connector: Connector) -> None:
    run = connector.run("read", config(api, stream("items")), catalog(stream("other")))
    assert run.exit_code != 0
    assert run.errors[-1]["failure_type"] == "config_error" and "'other'" in run.errors[-1]["message"]
