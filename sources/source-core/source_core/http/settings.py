"""An API connector's HTTP settings: one `http` object in its config, the same JSON schema in every spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_retries: int = 5
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    requests_per_second: float | None = None  # client-side budget; None: only what the server reports
    burst: int = 10
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 60.0
    max_server_wait_seconds: float = 600.0  # a longer Retry-After or rate-limit reset ends the request instead
    pool_size: int = 10
    verify_tls: bool = True
    ca_certificate: str | None = None  # PEM
    client_certificate: str | None = None  # PEM, for mutual TLS
    client_key: str | None = field(default=None, repr=False)  # PEM, secret: in no repr

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpSettings:
        """The settings under the config's `http` key; absent fields keep their defaults."""
        given = config.get("http") or {}
        return cls(**{f.name: given[f.name] for f in fields(cls) if given.get(f.name) is not None})


def http_spec() -> dict[str, Any]:
    """The JSON schema of the `http` config object, for a connector's spec."""
    number = {"type": "number", "exclusiveMinimum": 0}
    return {
        "type": "object",
        "title": "HTTP behaviour",
        "description": "Timeouts, retries, client-side rate limit and circuit breaker. Defaults suit most APIs.",
        "additionalProperties": False,
        "properties": {
            "requests_per_second": {
                **number,
                "title": "Rate limit (requests per second)",
                "description": "Requests per second this connector allows itself; unset: only the server's signals.",
            },
            "burst": {"type": "integer", "minimum": 1, "default": 10, "title": "Burst (requests)"},
            "connect_timeout_seconds": {**number, "default": 10, "title": "Connect timeout (s)"},
            "read_timeout_seconds": {**number, "default": 60, "title": "Read timeout (s)"},
            "max_retries": {"type": "integer", "minimum": 0, "default": 5, "title": "Retries per request"},
            "backoff_initial_seconds": {**number, "default": 1, "title": "First backoff (s)"},
            "backoff_max_seconds": {**number, "default": 60, "title": "Longest backoff (s)"},
            "breaker_failures": {
                "type": "integer",
                "minimum": 1,
                "default": 5,
                "title": "Circuit breaker: consecutive failures to open",
            },
            "breaker_cooldown_seconds": {**number, "default": 60, "title": "Circuit breaker: cool-down (s)"},
            "max_server_wait_seconds": {
                **number,
                "default": 600,
                "title": "Longest wait the server may ask for (s)",
                "description": "A longer Retry-After or rate-limit reset is not waited for: the read ends with a "
                "transient error (resumable from its last STATE).",
            },
            "pool_size": {"type": "integer", "minimum": 1, "default": 10, "title": "Connections kept per host"},
            "ca_certificate": {
                "type": "string",
                "multiline": True,
                "title": "CA certificate (PEM)",
                "description": "The CA that signed the server's certificate, when it is not a public one (a private "
                "CA, a TLS-inspecting proxy). The system's CAs are used otherwise.",
            },
            "client_certificate": {
                "type": "string",
                "multiline": True,
                "title": "Client certificate (PEM)",
                "description": "For servers that ask for mutual TLS; with client_key.",
            },
            "client_key": {
                "type": "string",
                "multiline": True,
                "airbyte_secret": True,
                "title": "Client key (PEM)",
                "description": "The private key of client_certificate.",
            },
            "verify_tls": {
                "type": "boolean",
                "default": True,
                "title": "Verify the server's certificate",
                "description": "Turn off only to try things out against a server with a self-made certificate: "
                "without verification anyone on the path can read and change the traffic.",
            },
        },
    }
