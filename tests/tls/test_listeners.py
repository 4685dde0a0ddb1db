"""The lab listeners in a real ``apitest serve``: mutual TLS into /v1/whoami and the audit row, port mix-ups
detected and logged, every listener served by every worker."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitest.tls.lab import BY_NAME
from apitest.tls.listeners import PLAIN_ON_TLS_BODY, PLAIN_ON_TLS_FIX, TLS_ON_PLAIN_FIX, looks_like_http, looks_like_tls
from tests.tls.support import LabServer, client_context, https_get, lab_server

MTLS = ["valid", "mtls-required", "mtls-optional"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with lab_server(tmp_path_factory.mktemp("tls-listeners"), listeners=MTLS) as running:
        yield running


def gw_cert(server: LabServer) -> tuple[str, str]:
    files = server.lab.files("clients/gw")
    return str(files.cert), str(files.key)


@pytest.mark.parametrize("name", ["mtls-required", "mtls-optional"])
def test_client_certificate_in_whoami_and_audit_row(server: LabServer, name: str) -> None:
    context = client_context(BY_NAME[name], verify=server.ca, cert=gw_cert(server))
    status, body = https_get(server.ports[name], context)
    assert status == 200
    whoami = json.loads(body)
    assert list(whoami)[:2] == ["subject", "auth_type"]  # the usual fields first, in their order
    cert = whoami["client_certificate"]
    assert cert["subject"] == "CN=gw,O=apitest client"
    assert cert["san"] == ["DNS:gw"]
    assert cert["issuer"] == "CN=apitest dev CA,O=apitest dev CA"
    issued = server.lab.files("clients/gw").cert.read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    parsed = x509.load_pem_x509_certificate(issued)
    assert cert["serial"] == format(parsed.serial_number, "x")
    assert cert["sha256"] == parsed.fingerprint(hashes.SHA256()).hex()
    assert cert in server.client_certificates(cert["sha256"])


def test_optional_listener_without_a_certificate(server: LabServer) -> None:
    status, body = https_get(server.ports["mtls-optional"], client_context(BY_NAME["mtls-optional"], verify=server.ca))
    assert status == 200
    assert "client_certificate" not in json.loads(body)


def test_required_listener_refuses_a_certificate_from_another_ca(server: LabServer, tmp_path: Path) -> None:
    from apitest.tls.material import LabDir

    other = LabDir(tmp_path / "other").client("gw")
    context = client_context(BY_NAME["mtls-required"], verify=server.ca, cert=(str(other.cert), str(other.key)))
    with pytest.raises(ssl.SSLError, match="unknown ca"):
        https_get(server.ports["mtls-required"], context)
    failures = server.wait_for_log("TLS handshake failed")
    assert any(f["listener"] == "mtls-required" and "CERTIFICATE_VERIFY_FAILED" in f["error"] for f in failures)


def test_plain_http_on_a_tls_port_is_answered_and_logged(server: LabServer) -> None:
    with socket.create_connection(("127.0.0.1", server.ports["valid"]), timeout=10) as conn:
        conn.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\n" + PLAIN_ON_TLS_BODY)
    lines = server.wait_for_log("plain HTTP request on a TLS port")
    assert len(lines) == 1
    assert lines[0]["level"] == "warn"
    assert lines[0]["listener"] == "valid" and lines[0]["port"] == server.ports["valid"]
    assert lines[0]["fix"] == PLAIN_ON_TLS_FIX


def test_tls_on_a_plain_port_is_logged(server: LabServer) -> None:
    context = client_context(BY_NAME["valid"], verify=server.ca)
    with pytest.raises((ssl.SSLError, OSError)):
        https_get(server.port, context)
    lines = server.wait_for_log("TLS handshake on a plain-HTTP port")
    assert len(lines) == 1
    assert lines[0]["level"] == "warn" and lines[0]["port"] == server.port
    assert lines[0]["fix"] == TLS_ON_PLAIN_FIX
    if shutil.which("curl"):  # the docs/troubleshooting.md recipe
        done = subprocess.run(
            ["curl", "-sS", f"https://localhost:{server.port}/v1/whoami"], capture_output=True, text=True, timeout=20
        )
        assert done.returncode == 35 and "SSL_ERROR_SYSCALL" in done.stderr


@pytest.mark.parametrize(
    ("first", "tls", "http"),
    [
        (b"\x16\x03\x01\x02\x00", True, False),
        (b"GET / HT", False, True),
        (b"PRI * HT", False, True),
        (b"\x00", False, False),
    ],
)
def test_first_bytes(first: bytes, tls: bool, http: bool) -> None:
    assert looks_like_tls(first) is tls
    assert looks_like_http(first) is http


@pytest.mark.slow
def test_every_worker_serves_the_lab(tmp_path: Path) -> None:
    with lab_server(tmp_path, workers=2, listeners=["mtls-required"]) as running:
        context = client_context(BY_NAME["mtls-required"], verify=running.ca, cert=gw_cert(running))
        for _ in range(12):  # the parent bound the port once; whichever worker accepts, it serves the listener
            status, body = https_get(running.ports["mtls-required"], context)
            assert status == 200 and "client_certificate" in json.loads(body)
        assert len(running.wait_for_log("Application startup complete.", timeout=30, count=2)) == 2


def test_dev_ca_turns_https_on_with_one_key(tmp_path: Path) -> None:
    overrides = {"server": {"tls": {"dev_ca": True}}, "endpoints": {"pagination": {"enabled": True}}}
    with lab_server(tmp_path, listeners=["valid"], **overrides) as running:
        context = client_context(BY_NAME["valid"], verify=running.ca)
        status, body = https_get(running.port, context)
        assert status == 200 and json.loads(body)["auth_type"] == "anonymous"
        status, body = https_get(running.port, context, "/v1/pagination/odata?$top=2")
        assert status == 200
        assert json.loads(body)["@odata.nextLink"].startswith("https://localhost/v1/")  # the scope's scheme is https
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as conn:
            conn.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        lines = running.wait_for_log("plain HTTP request on a TLS port")
        assert lines and lines[0]["listener"] == "main"
