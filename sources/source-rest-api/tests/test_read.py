"""Full refresh reads through the real CLI: every pagination style, every auth kind, faults survived."""

from __future__ import annotations

from typing import Any

import pytest

from source_core.testing import state_list
from source_rest_api import sandbox
from tests.conftest import ALL_IDS, SECRETS, Connector, Sandbox, Scripted, catalog, config, listed, saved, stream

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


ROWS = [{"id": i} for i in range(1, 201)]


def capped(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """Offset and page pages of `ROWS`, their size silently capped at 50 whatever the request asks."""
    if path == "/offset":
        start, size = int(query["offset"]), min(int(query["limit"]), 50)
    else:
        size = min(int(query["per_page"]), 50)
        start = (int(query["page"]) - 1) * size
    return 200, {}, {"items": ROWS[start : start + size]}


def test_offset_and_page_read_on_past_a_capped_page_size(scripted: Scripted, connector: Connector) -> None:
    api = scripted(capped)
    streams = [listed(kind, pagination={"type": kind, "page_size": 100}) for kind in ("offset", "page")]
    run = connector.run("read", config(api, *streams), catalog(*streams))
    assert run.exit_code == 0, run.describe()
    for kind in ("offset", "page"):
        assert run.ids(kind) == [r["id"] for r in ROWS], kind
    assert len(api.requests) == 2 * 5  # four pages of 50 and the empty page that ends each stream


def test_an_offset_the_api_ignores_is_a_config_error(scripted: Scripted, connector: Connector) -> None:
    """Without the short page as the end, an endpoint that does not page would be read again and again."""
    api = scripted(lambda path, query: (200, {}, {"items": ROWS[:20]}))
    items = listed("offset", pagination={"type": "offset", "page_size": 100})
    run = connector.run("read", config(api, items), catalog(items), timeout=60)
    assert run.exit_code != 0
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error" and "same records as the page before" in error["message"]
    assert len(api.requests) == 2


class TokenPages:
    """A route serving `pages` behind a next cursor (`/cursor`), a next URL in the body (`/next_url`) and a Link
    header (`/link`); the URLs start with `base` (empty: relative)."""

    def __init__(self, pages: list[list[dict[str, Any]]]):
        self.pages = pages
        self.base = ""

    def __call__(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        n = int(query.get("cursor") or query.get("p") or 0)
        more = n + 1 < len(self.pages)
        following = f"{self.base}{path}?p={n + 1}" if more else None
        if path == "/cursor":
            return 200, {}, {"items": self.pages[n], "meta": {"next_cursor": str(n + 1) if more else None}}
        if path == "/next_url":
            return 200, {}, {"items": self.pages[n], "next": following}
        return 200, {"Link": f'<{following}>; rel="next"'} if more else {}, {"items": self.pages[n]}


TOKEN_STYLES = {
    "cursor": {"type": "cursor", "cursor_path": "meta.next_cursor", "page_size": 10},
    "next_url": {"type": "next_url", "next_url_path": "next"},
    "link": {"type": "link_header"},
}
THREE_PAGES = [[{"id": i} for i in range(p * 10 + 1, p * 10 + 11)] for p in range(3)]


@pytest.mark.parametrize("style", TOKEN_STYLES)
def test_an_empty_page_with_a_next_token_does_not_end_the_read(
    scripted: Scripted, connector: Connector, style: str
) -> None:
    """APIs that filter a page after paging it can send an empty one with more to come."""
    route = TokenPages([THREE_PAGES[0], [], *THREE_PAGES[1:]])
    api = scripted(route)
    route.base = api.url
    items = listed(style, pagination=TOKEN_STYLES[style])
    run = connector.run("read", config(api, items), catalog(items))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(1, 31))


@pytest.mark.parametrize("style", ["next_url", "link"])
def test_relative_next_links(scripted: Scripted, connector: Connector, style: str) -> None:
    api = scripted(TokenPages(THREE_PAGES))
    items = listed(style, pagination=TOKEN_STYLES[style])
    run = connector.run("read", config(api, items), catalog(items))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(1, 31))
    assert api.requests == [f"/{style}", f"/{style}?p=1", f"/{style}?p=2"]


def test_a_next_cursor_given_twice_ends_the_read(scripted: Scripted, connector: Connector) -> None:
    api = scripted(lambda path, query: (200, {}, {"items": [{"id": len(query)}], "meta": {"next_cursor": "again"}}))
    items = listed("cursor", pagination=TOKEN_STYLES["cursor"])
    run = connector.run("read", config(api, items), catalog(items), timeout=60)
    assert run.exit_code == 0, run.describe()
    assert run.ids() == [1, 2]  # the first page (only `limit` asked), then the one at cursor "again"
    assert any("the same next page twice" in line for line in run.logs)


def test_a_resumed_full_refresh_whose_saved_page_expired_starts_over(scripted: Scripted, connector: Connector) -> None:
    """A page token from an earlier attempt that the API no longer takes (400) is not a config error for ever."""

    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        token = query.get("cursor", "new-0")
        if not token.startswith("new-"):
            return 400, {}, {"error": "invalid or expired cursor"}
        page = int(token.removeprefix("new-"))
        following = f"new-{page + 1}" if page < 2 else None
        return 200, {}, {"items": THREE_PAGES[page], "meta": {"next_cursor": following}}

    api = scripted(route)
    items = listed("items", pagination=TOKEN_STYLES["cursor"])
    expired = {"next_page": {"url": f"{api.url}/items", "params": {"limit": 10, "cursor": "old-2"}}}
    run = connector.run("read", config(api, items), catalog(items), saved(items, expired))
    assert run.exit_code == 0, run.describe()
    assert run.ids() == list(range(1, 31))
    assert any("refused the saved next page (400" in line for line in run.logs)
    assert run.stream_states[-1] == {"__ab_full_refresh_sync_complete": True}


def test_records_that_are_not_objects_are_a_config_error(scripted: Scripted, connector: Connector) -> None:
    api = scripted(lambda path, query: (200, {}, {"items": [{"id": 1}, "id-2", None]}))
    items = listed("items")
    run = connector.run("read", config(api, items), catalog(items))
    assert run.exit_code != 0 and run.ids() == []
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert error["failure_type"] == "config_error"
    assert "path 'items' holds \"id-2\"" in error["message"] and "JSON objects" in error["message"]
