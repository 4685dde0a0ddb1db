"""The lab table and its SSL contexts."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from apitest.tls import lab
from apitest.tls.lab import BY_NAME, LISTENERS, server_context, unavailable_reason
from apitest.tls.material import LabDir


def test_names_and_port_keys_are_unique() -> None:
    assert len({listener.name for listener in LISTENERS}) == len(LISTENERS)
    assert len({listener.port_key for listener in LISTENERS}) == len(LISTENERS)


def test_only_valid_and_optional_succeed_for_a_trusting_client() -> None:
    assert [listener.name for listener in LISTENERS if not listener.failing] == ["valid", "mtls-optional"]


def test_tls_versions_unavailable_without_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssl, "HAS_TLSv1", False)
    reason = unavailable_reason(BY_NAME["tls1.0"])
    assert reason.startswith("not served: this Python's OpenSSL") and reason.endswith("was built without TLSv1")
    assert unavailable_reason(BY_NAME["valid"]) == ""


@pytest.mark.parametrize(
    ("name", "mode", "pinned"),
    [
        ("valid", ssl.CERT_NONE, None),
        ("mtls-required", ssl.CERT_REQUIRED, None),
        ("mtls-optional", ssl.CERT_OPTIONAL, None),
    ],
)
def test_server_contexts(tmp_path: Path, name: str, mode: ssl.VerifyMode, pinned: ssl.TLSVersion | None) -> None:
    directory = LabDir(tmp_path)
    files = directory.lab(name)
    context = server_context(BY_NAME[name], files.cert, files.key, directory.ca_files.cert)
    assert context.verify_mode == mode
    if mode != ssl.CERT_NONE:
        assert len(context.get_ca_certs()) == 1  # the dev CA, nothing else


def test_legacy_contexts_pin_the_version(tmp_path: Path) -> None:
    listener = BY_NAME["tls1.1"]
    if unavailable_reason(listener):
        pytest.skip(unavailable_reason(listener))
    directory = LabDir(tmp_path)
    files = directory.lab(listener.name)
    context = server_context(listener, files.cert, files.key, directory.ca_files.cert)
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_1
    assert lab.LEGACY_CIPHERS.endswith("@SECLEVEL=0")
