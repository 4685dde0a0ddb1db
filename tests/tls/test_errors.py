"""The lab table's curl, OpenSSL and Python strings, checked against the real clients on loopback.

One ``apitest serve`` runs every lab listener; each test connects as a client that trusts the dev CA and asks
for ``localhost``, exactly as docs/tls.md and the Discovery page describe.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitest.tls.lab import LISTENERS, SHA1_UNAVAILABLE, LabListener, sha1_unavailable, unavailable_reason
from tests.tls.support import LabServer, client_context, https_get, lab_server

IDS = [listener.name for listener in LISTENERS]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with lab_server(tmp_path_factory.mktemp("tls-errors")) as running:
        yield running


def served(listener: LabListener) -> None:
    reason = unavailable_reason(listener)
    if reason:
        pytest.skip(reason)


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed")
    return found


@pytest.mark.parametrize("listener", LISTENERS, ids=IDS)
def test_curl(server: LabServer, listener: LabListener) -> None:
    served(listener)
    done = subprocess.run(
        [need("curl"), "-sS", "--max-time", "10", "--cacert", server.ca, server.url(listener.name)],
        capture_output=True,
        text=True,
    )
    if listener.failing:
        assert done.returncode != 0
        assert listener.curl in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["auth_type"] == "anonymous"


@pytest.mark.parametrize("listener", LISTENERS, ids=IDS)
def test_openssl(server: LabServer, listener: LabListener) -> None:
    served(listener)
    port = server.ports[listener.name]
    done = subprocess.run(
        [need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"]
        + ["-verify_hostname", "localhost", "-CAfile", server.ca, "-verify_return_error", "-ign_eof"],
        input="GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert listener.openssl in done.stdout + done.stderr
    assert (done.returncode == 0) == (
        listener.openssl == "Verify return code: 0 (ok)" and not listener.mtls == "required"
    )


@pytest.mark.parametrize("listener", LISTENERS, ids=IDS)
def test_python(server: LabServer, listener: LabListener) -> None:
    served(listener)
    context = client_context(listener, verify=server.ca)
    if listener.failing:
        with pytest.raises(ssl.SSLError) as caught:
            https_get(server.ports[listener.name], context)
        assert listener.python in str(caught.value)
    else:
        status, body = https_get(server.ports[listener.name], context)
        assert status == 200
        assert "client_certificate" not in json.loads(body)


@pytest.mark.parametrize("listener", LISTENERS, ids=IDS)
def test_answers_normally_past_the_handshake(server: LabServer, listener: LabListener) -> None:
    """The failure is only in the handshake: a client that does not verify gets the ordinary /v1 answer."""
    served(listener)
    gw = server.lab.files("clients/gw")
    cert = (str(gw.cert), str(gw.key)) if listener.mtls == "required" else None
    status, body = https_get(server.ports[listener.name], client_context(listener, verify=None, cert=cert))
    assert status == 200
    assert json.loads(body)["auth_type"] == "anonymous"


def test_sha1_is_refused_by_the_library() -> None:
    """No sha1 listener: the installed cryptography refuses to sign with SHA-1 (re-checked, not assumed)."""
    assert sha1_unavailable() == SHA1_UNAVAILABLE


def test_docs_show_the_table() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "tls.md").read_text()
    for listener in LISTENERS:
        for value in (
            listener.curl,
            listener.openssl,
            listener.python,
            listener.nginx,
            listener.haproxy,
            listener.caddy,
        ):
            assert value.replace("|", "\\|") in text, (listener.name, value)
