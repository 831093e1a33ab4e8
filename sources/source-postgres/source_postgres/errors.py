"""Driver errors -> TRACE errors that say what to fix.

libpq reports connection failures without a SQLSTATE, so those are told apart by its message; errors
raised by the server inside a session carry a SQLSTATE (psycopg's error classes, ADBC's `sqlstate`).
"""

from __future__ import annotations

import re

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_postgres.config import PostgresConfig

# A server that takes no session right now: SQLSTATE 57P01-57P03 (terminating, shutting down, starting up, in
# recovery, not yet accepting connections) and 53300 (too many connections), at the first connect or a reconnect.
_NOT_ACCEPTING_NOW = (
    r"the database system is|terminating connection|too many (?:clients|connections)|remaining connection slots"
)

# (pattern in libpq's message, failure type, what to tell the user)
_CONNECT_FAILURES: list[tuple[str, FailureType, str]] = [
    (
        _NOT_ACCEPTING_NOW,
        FailureType.transient_error,
        "{address} does not accept connections right now ({detail}): try again later.",
    ),
    (
        r"password authentication failed|no password supplied|role .* does not exist|pg_hba\.conf",
        FailureType.config_error,
        "Authentication failed for user '{user}' on {address}: check username and password "
        "(and that pg_hba.conf lets this user in from here).",
    ),
    (r"database .* does not exist", FailureType.config_error, "Database '{database}' does not exist on {address}."),
    (
        r"failed to resolve host|could not translate host name|Name or service not known",
        FailureType.config_error,
        "Unknown host '{host}': the name does not resolve. Check the host.",
    ),
    (
        r"Connection refused",
        FailureType.config_error,
        "Nothing accepts connections on {address} (connection refused): check host and port, "
        "and that PostgreSQL is running and listening on TCP.",
    ),
    (
        r"timeout expired|timed out",
        FailureType.transient_error,
        "Connecting to {address} timed out after {timeout} s: check host, port and firewalls, "
        "or raise connect_timeout.",
    ),
    (
        r"SSL|certificate|TLS",
        FailureType.config_error,
        "TLS connection to {address} failed with ssl_mode={ssl_mode}: {detail}. Check ssl_mode and the certificates.",
    ),
]

# SQLSTATEs and messages meaning the session is gone (or a new one refused for now) but a new one may well work.
_LOST_SQLSTATES = {"57P01", "57P02", "57P03", "53300", "08000", "08003", "08006", "08001", "08004"}
_LOST_MESSAGES = re.compile(
    r"server closed the connection|connection (?:to server )?.*(?:lost|closed)|could not receive data|"
    rf"no connection to the server|Connection refused|{_NOT_ACCEPTING_NOW}",
    re.IGNORECASE,
)


def _libpq_detail(exc: BaseException) -> str:
    text = str(exc).strip()
    text = re.sub(r"^(?:IO: )?\[libpq\] (?:Failed to connect: )?", "", text)
    return re.sub(r"^connection failed: ", "", text).splitlines()[0] if text else type(exc).__name__


def connect_error(exc: BaseException, config: PostgresConfig) -> AirbyteTracedException:
    detail = _libpq_detail(exc)
    for pattern, failure_type, template in _CONNECT_FAILURES:
        if re.search(pattern, str(exc), re.IGNORECASE):
            message = template.format(
                user=config.username,
                address=config.address,
                database=config.database,
                host=config.host,
                timeout=config.connect_timeout,
                ssl_mode=config.ssl_mode,
                detail=detail,
            )
            return AirbyteTracedException(message=message, internal_message=detail, failure_type=failure_type)
    return AirbyteTracedException(
        message=f"Could not connect to {config.address}: {detail}",
        internal_message=str(exc),
        failure_type=FailureType.config_error,
    )


def is_connection_lost(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate in _LOST_SQLSTATES or bool(_LOST_MESSAGES.search(str(exc)))
