"""apitest doctor, TLS files: each misconfiguration is made with real certificates and must be caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apitest.doctor.tls import matches
from apitest.tls import ca
from apitest.tls.material import LabDir, write_private, write_public
from tests.doctor.support import diagnose_config, find


def tls_config(cert: Path, key: Path, base_url: str = "https://localhost:8443") -> dict[str, Any]:
    return {
        "server": {
            "address": "127.0.0.1:8443",
            "base_url": base_url,
            "tls": {"enabled": True, "cert_file": str(cert), "key_file": str(key)},
        }
    }


def write_pair(tmp_path: Path, pair: ca.Pair, key: ca.PrivateKey | None = None) -> tuple[Path, Path]:
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "cert.key"
    write_public(cert_file, ca.cert_pem(pair.cert))
    write_private(key_file, ca.key_pem(key or pair.key))
    return cert_file, key_file


def leaf(**kwargs: Any) -> ca.Pair:
    return ca.issue(
        ca.make_ca("doctor test CA"), "localhost", kwargs.pop("hosts", ["localhost", "127.0.0.1"]), **kwargs
    )


async def results_for(tmp_path: Path, overrides: dict[str, Any], check: str) -> list[Any]:
    _, results, _ = await diagnose_config(tmp_path, overrides)
    return find(results, check)


async def test_good_files_pass(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path, leaf())
    config = tls_config(cert, key)
    for check in ("server.tls", "server.tls.expiry", "server.tls.key_match", "server.tls.hosts"):
        found = await results_for(tmp_path, config, check)
        assert [r.status for r in found] == ["pass"], found


async def test_expired(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cert, key = write_pair(tmp_path, leaf(not_before=now - timedelta(days=9), not_after=now - timedelta(days=2)))
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls.expiry")
    assert result.status == "fail" and "expired on" in result.message
    assert "reissue" in result.fix


async def test_not_yet_valid(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cert, key = write_pair(tmp_path, leaf(not_before=now + timedelta(days=2), not_after=now + timedelta(days=90)))
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls.expiry")
    assert result.status == "fail" and "is not valid before" in result.message


async def test_expires_soon(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cert, key = write_pair(tmp_path, leaf(not_after=now + timedelta(days=10, hours=1)))
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls.expiry")
    assert result.status == "warn" and "expires in 10 day(s)" in result.message


async def test_key_does_not_match(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path, leaf(), key=ca.new_key())
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls.key_match")
    assert result.status == "fail" and "does not belong to the certificate" in result.message


async def test_base_url_host_not_in_certificate(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path, leaf())
    (result,) = await results_for(tmp_path, tls_config(cert, key, "https://api.example.test:8443"), "server.tls.hosts")
    assert result.status == "fail"
    assert "'api.example.test' is not among the certificate's names (localhost, 127.0.0.1)" in result.message


async def test_certificate_without_san(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path, leaf(hosts=[]))
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls.hosts")
    assert result.status == "fail" and "no subjectAltName" in result.message


async def test_not_pem(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    cert.write_text("not a certificate")
    key.write_text("x")
    (result,) = await results_for(tmp_path, tls_config(cert, key), "server.tls")
    assert result.status == "fail" and "is not a PEM certificate" in result.message


async def test_dev_ca_files(tmp_path: Path) -> None:
    lab = tmp_path / "tls"
    config = {"server": {"address": "127.0.0.1:8443", "tls": {"dev_ca": True}}, "tls_lab": {"dir": str(lab)}}
    (before,) = await results_for(tmp_path, config, "server.tls")
    assert before.status == "pass" and "created (with the CA) at start" in before.message
    LabDir(lab, ["localhost"]).server()
    for check in ("server.tls.expiry", "server.tls.key_match", "server.tls.hosts"):
        assert [r.status for r in await results_for(tmp_path, config, check)] == ["pass"]
    config["server"]["base_url"] = "https://gw.internal:8443"
    (result,) = await results_for(tmp_path, config, "server.tls.hosts")
    assert result.status == "fail" and "tls_lab.hosts" in result.fix


@pytest.mark.parametrize(
    ("host", "name", "expected"),
    [
        ("localhost", "LOCALHOST", True),
        ("a.example.test", "*.example.test", True),
        ("a.b.example.test", "*.example.test", False),
        ("example.test", "*.example.test", False),
        ("::1", "0:0:0:0:0:0:0:1", True),
        ("127.0.0.1", "localhost", False),
    ],
)
def test_matches(host: str, name: str, expected: bool) -> None:
    assert matches(host, name) is expected
