"""Authentication kinds, on airbyte-cdk's requests authenticators; an API key may also go in the query."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from airbyte_cdk.sources.streams.http.requests_native_auth import (
    BasicHttpAuthenticator,
    Oauth2Authenticator,
    TokenAuthenticator,
)
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from requests.auth import AuthBase

SECRET_FIELDS = ("token", "password", "value", "client_secret", "refresh_token")  # the auth object's secrets
TOKEN_PARAMS = frozenset({"access_token"})  # a credential by its name (RFC 6750 2.3: a bearer token in the query)


class Auth:
    """What a request carries to authenticate: a requests auth, headers, query parameters."""

    def __init__(self, config: Mapping[str, Any]):
        kind = config.get("type", "none")
        self.kind = kind
        self._secrets = frozenset(str(config[f]) for f in SECRET_FIELDS if config.get(f))
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
        """`url` without the query parameters that hold a credential: the ones this auth adds, any whose value is
        one of its secrets or the current access token, and `access_token`. A next-page URL may echo them, state
        must not; every request gets the auth again. The other parameters keep their own encoding."""
        parts = urlsplit(url)
        if self.kind == "none" or not parts.query:
            return url
        secrets = self._secrets | self._access_token()
        pairs = parts.query.split("&")
        kept = [p for p in pairs if not self._credential(p, secrets)]
        return url if len(kept) == len(pairs) else urlunsplit(parts._replace(query="&".join(kept)))

    def _credential(self, pair: str, secrets: frozenset[str]) -> bool:
        name, _, value = pair.partition("=")
        name = unquote_plus(name)
        return name in self.params or name in TOKEN_PARAMS or unquote_plus(value) in secrets

    def _access_token(self) -> frozenset[str]:
        token = self.requests_auth.access_token if isinstance(self.requests_auth, Oauth2Authenticator) else None
        return frozenset({token}) if token else frozenset()
