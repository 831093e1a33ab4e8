"""The connector's config, turned into a libpq connection string shared by psycopg and the ADBC driver."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from psycopg import ProgrammingError
from psycopg.conninfo import make_conninfo

from source_core.config import config_error

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_CHECKPOINT_ROWS = 100_000
DEFAULT_CHECKPOINT_SECONDS = 30


@dataclass
class PostgresConfig:
    host: str
    port: int
    database: str
    username: str
    password: str | None
    schemas: list[str]
    ssl_mode: str
    ssl_ca_certificate: str | None
    ssl_client_certificate: str | None
    ssl_client_key: str | None
    ssl_client_key_password: str | None
    connect_timeout: int
    connection_parameters: dict[str, str]
    checkpoint_rows: int
    checkpoint_seconds: int
    application_name: str = "source-postgres"
    _pem_dir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], application_name: str = "source-postgres") -> PostgresConfig:
        ssl_mode = raw.get("ssl_mode", "prefer")
        if ssl_mode not in SSL_MODES:
            raise config_error(f"ssl_mode must be one of {', '.join(SSL_MODES)}, not {ssl_mode!r}.")
        if ssl_mode in ("verify-ca", "verify-full") and not raw.get("ssl_ca_certificate"):
            raise config_error(
                f"ssl_mode {ssl_mode} needs ssl_ca_certificate: paste the server's CA certificate (PEM)."
            )
        if bool(raw.get("ssl_client_certificate")) != bool(raw.get("ssl_client_key")):
            raise config_error("ssl_client_certificate and ssl_client_key go together: give both or neither.")
        params = parse_qsl(raw.get("connection_parameters") or "", keep_blank_values=True, strict_parsing=False)
        schemas = list(raw.get("schemas") or ["public"])
        return cls(
            host=raw["host"],
            port=int(raw.get("port", 5432)),
            database=raw["database"],
            username=raw["username"],
            password=raw.get("password"),
            schemas=schemas,
            ssl_mode=ssl_mode,
            ssl_ca_certificate=raw.get("ssl_ca_certificate"),
            ssl_client_certificate=raw.get("ssl_client_certificate"),
            ssl_client_key=raw.get("ssl_client_key"),
            ssl_client_key_password=raw.get("ssl_client_key_password"),
            connect_timeout=int(raw.get("connect_timeout", 10)),
            connection_parameters=dict(params),
            checkpoint_rows=int(raw.get("checkpoint_interval_rows", DEFAULT_CHECKPOINT_ROWS)),
            checkpoint_seconds=int(raw.get("checkpoint_interval_seconds", DEFAULT_CHECKPOINT_SECONDS)),
            application_name=application_name,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _pem_file(self, name: str, content: str) -> str:
        """libpq takes certificates as files: write them once, owner-only, into a private temp folder."""
        if self._pem_dir is None:
            self._pem_dir = tempfile.TemporaryDirectory(prefix=f"{self.application_name}-tls-")
        path = os.path.join(self._pem_dir.name, name)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(content if content.endswith("\n") else content + "\n")
        return path

    def conninfo(self) -> str:
        """A libpq connection string: every value quoted by psycopg, unknown extra parameters refused."""
        tls: dict[str, str] = {"sslmode": self.ssl_mode}
        if self.ssl_ca_certificate:
            tls["sslrootcert"] = self._pem_file("ca.pem", self.ssl_ca_certificate)
        if self.ssl_client_certificate and self.ssl_client_key:
            tls["sslcert"] = self._pem_file("client.pem", self.ssl_client_certificate)
            tls["sslkey"] = self._pem_file("client.key", self.ssl_client_key)
        if self.ssl_client_key_password:
            tls["sslpassword"] = self.ssl_client_key_password
        options = {
            "application_name": self.application_name,
            **self.connection_parameters,
            "host": self.host,
            "port": str(self.port),
            "dbname": self.database,
            "user": self.username,
            "connect_timeout": str(self.connect_timeout),
            **tls,
        }
        if self.password is not None:
            options["password"] = self.password
        try:
            return make_conninfo("", **options)
        except ProgrammingError as exc:
            raise config_error(
                f"connection_parameters holds something libpq does not accept: {exc}. "
                "Use key=value pairs joined by & (for example application_name=etl&keepalives_idle=30).",
                str(exc),
            ) from exc
