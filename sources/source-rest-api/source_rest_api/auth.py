"""Authentication kinds, on airbyte-cdk's requests authenticators; an API key may also go in the query."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from airbyte_cdk.sources.streams.http.requests_native_auth import (
    BasicHttpAuthenticator,
    Oauth2Authenticator,
    TokenAuthenticator,
)
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from requests.auth import AuthBase


class Auth:
    """What a request carries to authenticate: a requests auth, headers, query parameters."""

    def __init__(self, config: Mapping[str, Any]):
        kind = config.get("type", "none")
        self.requests_auth: AuthBase | None = None
        self.headers: dict[str, str] = {}
        self.params: dict[str, str] = {}
        if kind == "bearer":
            self.requests_auth = TokenAuthenticator(config["token"])
        elif kind == "basic":
            self.requests_auth = BasicHttpAuthenticator(config["username"], config["password"])
        elif kind == "api_key":
            target = self.params if config.get("in") == "query" else self.headers
            target[config["name"]] = config["value"]
        elif kind == "oauth2":
            grant = config.get("grant_type", "client_credentials")
            self.requests_auth = Oauth2Authenticator(
                token_refresh_endpoint=config["endpoint"],
                client_id=config["client_id"],
                client_secret=config["client_secret"],
                refresh_token=config.get("refresh_token") if grant == "refresh_token" else None,  # type: ignore[arg-type]
                scopes=config.get("scopes"),
                grant_type=grant,
            )

    @property
    def refreshable(self) -> bool:
        return isinstance(self.requests_auth, Oauth2Authenticator)

    def expire(self) -> None:
        """Forget the access token (the server said it expired): the next request fetches a new one."""
        if isinstance(self.requests_auth, Oauth2Authenticator):
            self.requests_auth.set_token_expiry_date(ab_datetime_now() - timedelta(days=1))

    def strip(self, url: str) -> str:
        """`url` without the query parameters this auth adds (a next-page URL may echo a key; state must not)."""
        parts = urlsplit(url)
        if not self.params or not parts.query:
            return url
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in self.params]
        return urlunsplit(parts._replace(query=urlencode(query)))
