"""TLS options of the HTTP layer, against the API sandbox served over HTTPS by a private CA (trustme): the CA
given as PEM, verification refused without it (a config error at once, not retried), verification off, and
mutual TLS with a client certificate and key (the key never in the output)."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from source_core.testing import free_port, served
from tests.conftest import FAST_HTTP, Connector, catalog, stream

RECORDS = 250


class TlsSandbox:
    def __init__(self, url: str, ca: trustme.CA, client: trustme.LeafCert | None):
        self.url, self.ca, self.client = url, ca, client

    def config(self, **http: object) -> dict:
        items = stream("items")
        return {"base_url": self.url, "streams": [items], "http": {**FAST_HTTP, **http}}


def start(tmp_path: Path, mutual: bool) -> Iterator[TlsSandbox]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    argv = [sys.executable, "-m", "source_rest_api.sandbox", "--records", str(RECORDS)]
    argv += ["--certfile", str(tmp_path / "server.pem")]
    probe = ssl.create_default_context()
    ca.configure_trust(probe)
    client = None
    if mutual:
        ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
        argv += ["--client-ca", str(tmp_path / "client-ca.pem")]
        client = ca.issue_cert("connector@example.com")
        client.configure_cert(probe)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    with served([*argv, "--port", str(port)], f"{url}/_stats", "the API sandbox over HTTPS", probe_tls=probe):
        yield TlsSandbox(url, ca, client)


@pytest.fixture
def https(tmp_path: Path) -> Iterator[TlsSandbox]:
    yield from start(tmp_path, mutual=False)


@pytest.fixture
def mutual(tmp_path: Path) -> Iterator[TlsSandbox]:
    yield from start(tmp_path, mutual=True)


def test_a_private_ca_given_as_pem_is_trusted(https: TlsSandbox, connector: Connector) -> None:
    config = https.config(ca_certificate=https.ca.cert_pem.bytes().decode())
    run = connector.run("read", config, catalog(*config["streams"]))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("items")) == list(range(1, RECORDS + 1))


def test_an_unknown_ca_is_a_config_error_at_once(https: TlsSandbox, connector: Connector) -> None:
    config = https.config()
    check = connector.run("check", config)
    assert check.connection_status["status"] == "FAILED"
    assert "ca_certificate" in check.connection_status["message"]
    run = connector.run("read", config, catalog(*config["streams"]))
    assert run.exit_code != 0 and not run.records
    (error, *_) = run.errors
    assert error["failure_type"] == "config_error" and "TLS handshake" in error["message"], run.describe()
    assert run.logged("http_figures")["retries"] == 0


def test_verification_can_be_turned_off(https: TlsSandbox, connector: Connector) -> None:
    config = https.config(verify_tls=False)
    run = connector.run("read", config, catalog(*config["streams"]))
    assert run.exit_code == 0, run.describe()
    assert len(run.ids("items")) == RECORDS


def test_mutual_tls_with_a_client_certificate(mutual: TlsSandbox, connector: Connector, tmp_path: Path) -> None:
    assert mutual.client is not None
    ca = mutual.ca.cert_pem.bytes().decode()
    without = connector.run("check", mutual.config(ca_certificate=ca))
    assert without.connection_status["status"] == "FAILED", without.describe()
    assert "client_certificate" in without.connection_status["message"]
    key = mutual.client.private_key_pem.bytes().decode()
    config = mutual.config(
        ca_certificate=ca,
        client_certificate=b"".join(blob.bytes() for blob in mutual.client.cert_chain_pems).decode(),
        client_key=key,
    )
    temp = tmp_path / "temp"  # the connector's temporary folder, where the key is written for the run
    temp.mkdir()
    connector.env = {**os.environ, "TMPDIR": str(temp)}
    body = key.splitlines()[1]  # a line of the key itself
    for done in (connector.run("check", config), connector.discover(config)):
        assert done.exit_code == 0, done.describe()
        assert body not in done.stdout and body not in done.stderr
    run = connector.run("read", config, catalog(*config["streams"]))
    assert run.exit_code == 0, run.describe()
    assert len(run.ids("items")) == RECORDS
    assert body not in run.stdout and body not in run.stderr
    assert list(temp.iterdir()) == []  # no copy of the key is left behind
