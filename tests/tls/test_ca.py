"""Certificates made by apitest.tls.ca."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from apitest.tls import ca
from apitest.tls.material import all_hosts


def sans(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v.value) for v in ext]


def test_ca_is_a_ca() -> None:
    root = ca.make_ca("root")
    basic = root.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 1
    assert root.cert.issuer == root.cert.subject
    usage = root.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_intermediate_is_signed_by_its_parent() -> None:
    root = ca.make_ca("root")
    mid = ca.make_ca("mid", parent=root)
    mid.cert.verify_directly_issued_by(root.cert)
    assert mid.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


def test_server_leaf_names_hosts_and_loopback() -> None:
    root = ca.make_ca("root")
    leaf = ca.issue(root, "localhost", all_hosts(["localhost", "api.test"]))
    leaf.cert.verify_directly_issued_by(root.cert)
    assert sans(leaf.cert) == ["localhost", "api.test", str(ipaddress.ip_address("127.0.0.1")), "::1"]
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert isinstance(leaf.key, ec.EllipticCurvePrivateKey)
    assert leaf.cert.not_valid_before_utc < datetime.now(UTC) < leaf.cert.not_valid_after_utc


def test_client_leaf_is_for_client_auth() -> None:
    leaf = ca.issue(ca.make_ca("root"), "gw", ["gw"], client=True)
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_weak_key_is_rsa_1024() -> None:
    leaf = ca.issue(ca.make_ca("root"), "localhost", ["localhost"], weak=True)
    assert isinstance(leaf.key, rsa.RSAPrivateKey) and leaf.key.key_size == 1024


def test_san_dedupes_and_strips_brackets() -> None:
    assert [str(v.value) for v in ca.san_for(["localhost", "LOCALHOST", "[::1]", " "])] == ["localhost", "::1"]


def test_load_pair_round_trip() -> None:
    pair = ca.issue(None, "x", ["x"])
    loaded = ca.load_pair(ca.cert_pem(pair.cert), ca.key_pem(pair.key))
    assert loaded.cert == pair.cert
