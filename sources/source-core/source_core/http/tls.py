"""TLS for an API connector: the CA that signs the server's certificate (a private CA or a proxy's), an optional
client certificate and key (mutual TLS), or verification off (never the default).

Certificates come in the config as PEM text, as Airbyte's connectors take them (a container has no files of the
user's); for `requests` they are written to a private temporary folder for the length of the run.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error
from source_core.http.settings import HttpSettings

PEM_MARK = "-----BEGIN "


class TlsFiles:
    """The settings' PEM texts as files; `verify` and `cert` as `requests` takes them. `remove()` at the end; a
    run that ends without it still removes the folder when the process ends (TemporaryDirectory's own clean-up)."""

    def __init__(self, settings: HttpSettings):
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.verify: bool | str = settings.verify_tls
        self.cert: tuple[str, str] | None = None
        if bool(settings.client_certificate) != bool(settings.client_key):
            raise config_error("http.client_certificate and http.client_key go together: give both or neither.")
        if settings.ca_certificate and settings.verify_tls:
            self.verify = self._write("ca.pem", settings.ca_certificate, "ca_certificate")
        if settings.client_certificate and settings.client_key:
            certificate = self._write("client.pem", settings.client_certificate, "client_certificate")
            key = self._write("client.key", settings.client_key, "client_key")
            self.cert = (certificate, key)

    def _write(self, name: str, text: str, field: str) -> str:
        if PEM_MARK not in text:
            raise config_error(f"http.{field} must be PEM text (it starts with '{PEM_MARK}...').")
        if self.folder is None:
            self.folder = tempfile.TemporaryDirectory(prefix="tls-")  # mode 0700: only this user reads the key
        path = Path(self.folder.name) / name
        path.write_text(text if text.endswith("\n") else text + "\n")
        os.chmod(path, 0o600)
        return str(path)

    def remove(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None


def tls_failure(host: str, error: BaseException) -> AirbyteTracedException:
    """A failed handshake is the config's to fix (or the server's), never worth a retry."""
    reason = next((e for e in _chain(error) if isinstance(e, ssl.SSLError)), error)
    return config_error(
        f"The TLS handshake with {host} failed ({getattr(reason, 'reason', None) or type(reason).__name__}): if the "
        "server's certificate is signed by a private CA or a proxy, give that CA as http.ca_certificate (PEM); if it "
        "asks for a client certificate, give http.client_certificate and http.client_key.",
        f"{type(error).__name__}: {reason}",
    )


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """The error, what caused it, and the errors it wraps (urllib3 keeps the ssl error as `reason`)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        wrapped = getattr(error, "reason", None) or (error.args[0] if error.args else None)
        error = wrapped if isinstance(wrapped, BaseException) else error.__cause__ or error.__context__
