"""The client certificate as the app sees it: publish_client_certificate, /v1/whoami's object, the audit details."""

from __future__ import annotations

import ssl
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from apitest.audit.capture import AUDIT_DETAILS_KEY, details_from
from apitest.tls import CLIENT_CERT_KEY, ca
from apitest.tls.peer import client_certificate, describe, publish_client_certificate


def pem_of(cert: x509.Certificate) -> str:
    return ca.cert_pem(cert).decode()


def tls_scope(chain: list[str]) -> dict[str, Any]:
    return {"type": "http", "extensions": {"tls": {"client_cert_chain": chain}}, "state": {}}


def test_describe() -> None:
    leaf = ca.issue(ca.make_ca("root"), "gw", ["gw", "10.0.0.1"], client=True)
    facts = describe(pem_of(leaf.cert))
    assert facts["subject"] == "CN=gw,O=apitest client"
    assert facts["san"] == ["DNS:gw", "IP:10.0.0.1"]
    assert facts["issuer"] == "CN=root,O=apitest dev CA"
    assert facts["serial"] == format(leaf.cert.serial_number, "x")
    assert facts["sha256"] == leaf.cert.fingerprint(hashes.SHA256()).hex()
    assert facts["not_after"].endswith("Z")


def test_hostile_subject_is_storable_and_bounded() -> None:
    """A NUL (not storable in PostgreSQL text) and an over-long CN, as a peer could put in its certificate."""
    key = ca.new_key()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Attribute's length must be >= 1 and <= 64": on purpose
        hostile = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a\x00b" + "x" * 5000, _validate=False)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(hostile)
        .issuer_name(hostile)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    facts = describe(pem_of(cert))
    assert "\x00" not in facts["subject"] and facts["subject"].startswith("CN=a")
    assert len(facts["subject"]) <= 1000
    assert facts["san"] == []


def test_no_certificate_no_facts() -> None:
    assert client_certificate({"type": "http"}) is None
    assert client_certificate(tls_scope([])) is None
    assert client_certificate(tls_scope(["not a certificate"])) is None


async def test_the_certificate_is_published_for_whoami_and_audit() -> None:
    leaf = ca.issue(ca.make_ca("root"), "gw", ["gw"], client=True)
    scope = tls_scope([ssl.DER_cert_to_PEM_cert(leaf.cert.public_bytes(ca.serialization.Encoding.DER))])
    scope["state"][AUDIT_DETAILS_KEY] = {"other": "kept"}
    publish_client_certificate(scope)
    seen = scope["state"]
    assert seen[CLIENT_CERT_KEY]["subject"] == "CN=gw,O=apitest client"
    stored = details_from(seen)
    assert stored is not None
    assert stored["other"] == "kept"
    assert stored["client_certificate"] == seen[CLIENT_CERT_KEY]


async def test_plain_requests_are_left_untouched() -> None:
    scope: dict[str, Any] = {"type": "http", "state": {}}
    publish_client_certificate(scope)
    assert scope["state"] == {}
