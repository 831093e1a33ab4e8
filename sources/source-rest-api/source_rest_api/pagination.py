"""Every pagination style as two functions: the first page's request, and the next one from a response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from source_rest_api.config import Pagination, dig


@dataclass(frozen=True)
class PageRequest:
    """One page to fetch: its URL and query parameters (never the auth's own; a STATE may hold it)."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


def first_page(pagination: Pagination, url: str, params: dict[str, Any]) -> PageRequest:
    size = {pagination.size_param: pagination.page_size} if pagination.size_param else {}
    match pagination.type:
        case "offset":
            return PageRequest(
                url, {**params, pagination.offset_param: 0, pagination.limit_param: pagination.page_size}
            )
        case "page":
            return PageRequest(url, {**params, pagination.page_param: pagination.start_page, **size})
        case "cursor":
            return PageRequest(url, {**params, **size})
        case _:
            return PageRequest(url, dict(params))


def next_page(
    pagination: Pagination, request: PageRequest, response: requests.Response, body: Any, count: int
) -> PageRequest | None:
    """The request after `request`, whose page held `count` records; None after the last page.

    Offset and page numbers end at an empty page, not a short one: APIs cap the page size silently. The token
    styles end when no next token or URL comes, even after an empty page (APIs filter pages after paging them).
    A relative next URL is resolved against the page's own URL.
    """
    match pagination.type:
        case "offset":
            if count == 0:
                return None
            offset = int(request.params[pagination.offset_param]) + count
            return PageRequest(request.url, {**request.params, pagination.offset_param: offset})
        case "page":
            if count == 0:
                return None
            page = int(request.params[pagination.page_param]) + 1
            return PageRequest(request.url, {**request.params, pagination.page_param: page})
        case "cursor":
            token = dig(body, pagination.cursor_path)
            if token in (None, ""):
                return None
            return PageRequest(request.url, {**request.params, pagination.cursor_param: token})
        case "next_url":
            following = dig(body, pagination.next_url_path)
            return PageRequest(urljoin(response.url, str(following))) if following else None
        case "link_header":
            following = response.links.get("next", {}).get("url")
            return PageRequest(urljoin(response.url, following)) if following else None
        case _:
            return None
