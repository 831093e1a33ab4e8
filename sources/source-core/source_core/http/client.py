"""One HTTP client per connector run: a pooled `requests` session with connect and read timeouts, retries
(tenacity: exponential backoff with jitter, or exactly what `Retry-After` says), client-side pacing and a circuit
breaker per host, and the run's figures.

Retried: connection errors, timeouts, 408, 429 and 5xx, bodies that are not JSON (when parsed) and bodies a
connector's `retry_if` names as a server failure. Any other status >= 400 is returned at once as an
`HttpStatusError` for the connector to explain; a failed TLS handshake or a token endpoint refusing an
authenticator's credentials is a config error at once. A wait the server asks for beyond `max_server_wait_seconds`
is not waited for (`pacing.py`). When the retries are spent the request ends in a TRACE ERROR of type
transient_error naming the endpoint (never its query string, which may hold a key) and the last status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pybreaker
import requests
import tenacity
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter

from source_core.config import config_error
from source_core.http import jsoncodec
from source_core.http.breaker import HostBreakers
from source_core.http.figures import HttpFigures
from source_core.http.pacing import Pacer, PacingHook, rate_limit_remaining, retry_after_seconds, wait_too_long
from source_core.http.settings import HttpSettings
from source_core.http.tls import TlsFiles, tls_failure

RETRIED_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

RetryIf = Callable[[Any], str | None]
"""What in a parsed body makes it a failed attempt worth retrying (an API reporting a server error with status
200), said in a few words; None for a good body."""


def endpoint(url: str) -> str:
    """The URL without its query string and credentials, safe to show."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


class HttpStatusError(Exception):
    """A response with a status >= 400 that retrying cannot fix (401, 403, 404, ...)."""

    def __init__(self, response: requests.Response):
        self.response = response
        self.status = response.status_code
        super().__init__(f"{response.request.method} {endpoint(response.url)} returned {self.status}")


class _Failed(Exception):
    """One failed attempt worth retrying: the status (None: no response) and how long the server asked to wait."""

    def __init__(self, what: str, status: int | None, retry_after: float | None = None):
        super().__init__(what)
        self.status = status
        self.retry_after = retry_after


def _token_refused(error: requests.RequestException) -> AirbyteTracedException | None:
    """The config error for an authenticator's token request that the token endpoint refused (an `HTTPError` raised
    while the request was being prepared, with a status no retry changes); None for any other failure."""
    response = error.response
    if not isinstance(error, requests.HTTPError) or response is None or response.status_code in RETRIED_STATUSES:
        return None
    said = f"{response.status_code} {_oauth_error(response)}".strip()
    return config_error(
        f"The token endpoint {endpoint(response.url)} refused the credentials ({said}): check the OAuth client id, "
        "client secret and, for the refresh_token grant, the refresh token.",
        f"token request refused: {said}",
    )


def _oauth_error(response: requests.Response) -> str:
    """The error code of a token endpoint's answer (RFC 6749 5.2: `invalid_client`, `invalid_grant`, ...), or ''."""
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return code if isinstance(code, str) and code.isidentifier() else ""


def _not_a_host_failure(error: BaseException) -> bool:
    """A refused request (4xx) or a throttle (429) says nothing about the host's health."""
    return isinstance(error, HttpStatusError) or (isinstance(error, _Failed) and error.status == 429)


class HttpClient:
    def __init__(self, settings: HttpSettings, logger: logging.Logger, pacing_hook: PacingHook | None = None):
        self.settings = settings
        self.logger = logger
        self.figures = HttpFigures()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=settings.pool_size, pool_maxsize=settings.pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.tls = TlsFiles(settings)
        self.pacer = Pacer(settings.requests_per_second, settings.burst, settings.max_server_wait_seconds, pacing_hook)
        self.breakers = HostBreakers(
            settings.breaker_failures, settings.breaker_cooldown_seconds, self._opened, [_not_a_host_failure]
        )
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=settings.backoff_initial_seconds,
            max=settings.backoff_max_seconds,
            jitter=settings.backoff_initial_seconds,
        )

    def close(self) -> None:
        self.session.close()
        self.tls.remove()

    def get_json(self, url: str, **kwargs: Any) -> tuple[requests.Response, Any]:
        """GET and parse the JSON body; a body that is not JSON counts as a failed attempt and is retried."""
        return self._call("GET", url, parse=True, **kwargs)

    def post_json(self, url: str, retry_if: RetryIf | None = None, **kwargs: Any) -> tuple[requests.Response, Any]:
        """POST and parse the JSON body; a body that is not JSON, or that `retry_if` names, is retried."""
        return self._call("POST", url, parse=True, retry_if=retry_if, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._call("GET", url, **kwargs)[0]

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request with retries; a response with status < 400, else `HttpStatusError` or a TRACE."""
        return self._call(method, url, **kwargs)[0]

    def _call(
        self,
        method: str,
        url: str,
        *,
        parse: bool = False,
        retry_if: RetryIf | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        data: Any = None,
    ) -> tuple[requests.Response, Any]:
        host = urlsplit(url).netloc
        breaker = self.breakers.get(host)
        sent_before = self.figures.requests

        def attempt() -> tuple[requests.Response, Any]:
            return breaker.call(self._send, method, url, parse, retry_if, params, headers, auth, data)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, pybreaker.CircuitBreakerError):
                return self.breakers.remaining_cooldown(host)
            if isinstance(error, _Failed) and error.retry_after is not None:
                return error.retry_after
            return self._backoff(state)

        def stop(state: tenacity.RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            sends = self.figures.requests - sent_before
            return not isinstance(error, pybreaker.CircuitBreakerError) and sends > self.settings.max_retries

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Failed):  # a wait for the breaker re-sends nothing
                self.figures.retries += 1
            self.logger.info(f"{method} {endpoint(url)}: {error}; retrying in {state.upcoming_sleep:.2f} s")

        # A wait for an open breaker's cool-down is not an attempt: only sends use up the retries.
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_Failed, pybreaker.CircuitBreakerError)),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (_Failed, pybreaker.CircuitBreakerError) as exc:  # HttpStatusError passes through
            sends = self.figures.requests - sent_before
            raise AirbyteTracedException(
                message=(
                    f"{method} {endpoint(url)} still failed after {sends} attempts (last: {exc}); "
                    "the server may be down or overloaded: "
                    "try again later. Every STATE emitted before this is safe to resume from."
                ),
                internal_message=f"{type(exc).__name__}: {exc} after {sends} attempts",
                failure_type=FailureType.transient_error,
            ) from exc

    def _send(
        self,
        method: str,
        url: str,
        parse: bool,
        retry_if: RetryIf | None,
        params: Any,
        headers: Any,
        auth: Any,
        data: Any,
    ) -> tuple[requests.Response, Any]:
        self.pacer.wait()
        started = time.perf_counter()
        timeout = (self.settings.connect_timeout_seconds, self.settings.read_timeout_seconds)
        try:
            response = self.session.request(
                method, url, params=params, headers=headers, auth=auth, data=data, timeout=timeout, **self._tls()
            )
            size = len(response.content)  # reads the body: a read timeout or reset mid-body lands here
        except requests.exceptions.SSLError as exc:
            self.figures.attempt(time.perf_counter() - started, None)
            raise tls_failure(urlsplit(url).netloc, exc) from None
        except requests.RequestException as exc:
            self.figures.attempt(time.perf_counter() - started, None)
            refused = _token_refused(exc)
            if refused is not None:
                raise refused from None
            # only the exception's type: its text repeats the URL with its query string, which may hold a key
            raise _Failed(type(exc).__name__, None) from exc
        self.figures.attempt(time.perf_counter() - started, response.status_code, size)
        remaining = rate_limit_remaining(response)
        if remaining is not None:
            self.figures.rate_limit_remaining = remaining
        self.pacer.observe(response)
        if response.status_code in RETRIED_STATUSES:
            retry_after = retry_after_seconds(response)
            if retry_after is not None and retry_after > self.settings.max_server_wait_seconds:
                raise wait_too_long(retry_after, "Retry-After", self.settings.max_server_wait_seconds)
            raise _Failed(f"status {response.status_code}", response.status_code, retry_after)
        if response.status_code >= 400:
            raise HttpStatusError(response)
        if not parse:
            return response, None
        try:
            body = jsoncodec.loads(response.content)
        except ValueError as exc:
            self.figures.errors += 1
            raise _Failed(f"malformed JSON body ({exc})", response.status_code) from exc
        failure = retry_if(body) if retry_if is not None else None
        if failure:
            self.figures.errors += 1
            raise _Failed(failure, response.status_code)
        return response, body

    def _tls(self) -> dict[str, Any]:
        """Per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE in the environment (requests#3829)."""
        return {"verify": self.tls.verify, "cert": self.tls.cert}

    def open_stream(self, url: str) -> requests.Response:
        """One GET whose body is read as it comes (`iter_lines`), with the run's timeouts and TLS; not retried (a
        large download is restarted by its caller). A TLS failure is a config error, other failures transient."""
        timeout = (self.settings.connect_timeout_seconds, self.settings.read_timeout_seconds)
        try:
            return self.session.get(url, stream=True, timeout=timeout, **self._tls())
        except requests.exceptions.SSLError as exc:
            raise tls_failure(urlsplit(url).netloc, exc) from None
        except requests.RequestException as exc:
            raise AirbyteTracedException(
                message=f"GET {endpoint(url)} failed ({type(exc).__name__}): try again later.",
                failure_type=FailureType.transient_error,
            ) from None

    def _opened(self) -> None:
        self.figures.breaker_opens += 1
        self.logger.warning("Circuit breaker opened: too many consecutive failures, pausing requests to this host.")
