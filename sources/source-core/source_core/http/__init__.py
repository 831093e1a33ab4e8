"""The HTTP layer every API connector shares: one `HttpClient` per run (session, timeouts, retries, pacing,
circuit breaker, figures), configured by the `http` object of the connector's config."""

from source_core.http.client import HttpClient, HttpStatusError, endpoint
from source_core.http.figures import HttpFigures, parse_figures
from source_core.http.settings import HttpSettings, http_spec

__all__ = ["HttpClient", "HttpFigures", "HttpSettings", "HttpStatusError", "endpoint", "http_spec", "parse_figures"]
