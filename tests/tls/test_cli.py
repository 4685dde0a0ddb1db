"""``apitest tls init | ca | client``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apitest.cli import main
from apitest.tls.lab import LISTENERS, unavailable_reason


def test_init_ca_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "tls"
    assert main(["tls", "init", "--dir", str(directory), "--host", "api.test"]) == 0
    out = capsys.readouterr().out
    assert f"dev CA      {directory / 'ca.pem'} (created)" in out
    assert "hosts api.test, 127.0.0.1, ::1" in out
    for listener in LISTENERS:
        assert (directory / "lab" / f"{listener.name}.pem").is_file() != bool(unavailable_reason(listener))
    server = x509.load_pem_x509_certificate((directory / "server.pem").read_bytes())
    assert "api.test" in str(server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)

    assert main(["tls", "ca", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out == (directory / "ca.pem").read_text()

    assert main(["tls", "client", "--dir", str(directory), "--name", "gw"]) == 0
    assert f"client certificate {directory / 'clients' / 'gw.pem'}" in capsys.readouterr().out
    assert main(["tls", "init", "--dir", str(directory)]) == 0
    assert "(kept)" in capsys.readouterr().out
    before = (directory / "lab" / "valid.pem").read_bytes()
    assert main(["tls", "init", "--dir", str(directory), "--host", "other.test", "--force"]) == 0
    reissued = x509.load_pem_x509_certificate((directory / "lab" / "valid.pem").read_bytes())
    assert reissued.public_bytes(serialization.Encoding.PEM) != before
    assert "other.test" in str(reissued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def test_client_name_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tls", "client", "--dir", str(tmp_path), "--name", "../gw"]) == 1
    assert "client name '../gw'" in capsys.readouterr().err


def test_dir_and_hosts_from_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "apitest.yaml"
    lab = tmp_path / "lab-ca"
    config.write_text(
        yaml.safe_dump({"auth": {"allow_anonymous": True}, "tls_lab": {"dir": str(lab), "hosts": ["gw.test"]}})
    )
    assert main(["tls", "ca", "--config", str(config)]) == 0
    assert capsys.readouterr().out == (lab / "ca.pem").read_text()
    assert main(["tls", "init", "--config", str(config)]) == 0
    assert "hosts gw.test, 127.0.0.1, ::1" in capsys.readouterr().out
