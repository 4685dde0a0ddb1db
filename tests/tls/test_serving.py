"""Which TLS ports a configuration serves, and their files."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from apitest.config import ConfigError
from apitest.tls import serving
from apitest.tls.lab import BY_NAME
from tests.support import free_port, make_settings


def test_nothing_without_tls(tmp_path: Path) -> None:
    settings = make_settings({"tls_lab": {"dir": str(tmp_path / "tls"), "ports": {"valid": 9443}}})
    assert serving.main_tls_files(settings) is None
    assert serving.planned(settings) == []  # ports are ignored while tls_lab.enabled is false
    assert serving.bind_listeners(settings) == []


def test_binds_the_lab_ports_and_creates_the_files(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        {
            "server": {"address": "127.0.0.1:0"},
            "tls_lab": {"enabled": True, "dir": str(tmp_path / "tls"), "ports": {"expired": port}},
        }
    )
    bound = serving.bind_listeners(settings)
    try:
        assert [(name, sock.getsockname()[1]) for name, sock in bound] == [("expired", port)]
        assert (tmp_path / "tls" / "lab" / "expired.pem").is_file()
        assert (tmp_path / "tls" / "ca.pem").is_file()
    finally:
        for _, sock in bound:
            sock.close()


def test_main_port_with_missing_files_fails_before_binding(tmp_path: Path) -> None:
    settings = make_settings(
        {
            "server": {
                "tls": {"enabled": True, "cert_file": str(tmp_path / "x.pem"), "key_file": str(tmp_path / "x.key")}
            }
        }
    )
    with pytest.raises(ConfigError, match="server.tls: cannot load the certificate or key: .*No such file"):
        serving.bind_listeners(settings)


def test_a_busy_port_names_its_key(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = make_settings(
            {
                "server": {"address": "127.0.0.1:0"},
                "tls_lab": {"enabled": True, "dir": str(tmp_path / "tls"), "ports": {"valid": port}},
            }
        )
        with pytest.raises(ConfigError, match=f"tls_lab.ports.valid: cannot listen on 127.0.0.1:{port}: Address"):
            serving.bind_listeners(settings)


def test_unavailable_listener_is_logged_not_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(serving, "unavailable_reason", lambda listener: "not served: test" if listener.legacy else "")
    settings = make_settings(
        {
            "server": {"address": "127.0.0.1:0"},
            "tls_lab": {"enabled": True, "dir": str(tmp_path / "tls"), "ports": {"tls1_0": free_port()}},
        }
    )
    with caplog.at_level(logging.WARNING, logger="apitest.tls"):
        assert serving.bind_listeners(settings) == []
    assert any(
        r.getMessage() == "TLS lab listener not served" and r.reason == "not served: test" for r in caplog.records
    )


def test_discovery_rows(tmp_path: Path) -> None:
    settings = make_settings(
        {"tls_lab": {"enabled": True, "dir": str(tmp_path / "tls"), "hosts": ["gw.test"], "ports": {"valid": 9443}}}
    )
    data = serving.discovery(settings)
    rows = {row["name"]: row for row in data["listeners"]}
    assert rows["valid"]["url"] == "https://gw.test:9443/v1/"
    assert rows["expired"]["url"] == "" and rows["expired"]["port_key"] == "tls_lab.ports.expired"
    assert rows["mtls-required"]["mtls"] == BY_NAME["mtls-required"].mtls == "required"
