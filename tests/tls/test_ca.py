"""Certificates made by apitest.tls.ca and the files of apitest.tls.material."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from apitest.tls import ca
from apitest.tls.material import WRONG_HOST, LabDir, all_hosts


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


def test_lab_material(tmp_path: Path) -> None:
    lab = LabDir(tmp_path, ["localhost"])
    root = lab.ca()
    now = datetime.now(UTC)

    def chain(name: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(lab.lab(name).cert.read_bytes())

    assert chain("expired")[0].not_valid_after_utc < now
    assert chain("not-yet-valid")[0].not_valid_before_utc > now
    assert sans(chain("wrong-host")[0]) == [WRONG_HOST]
    self_signed = chain("self-signed")
    assert len(self_signed) == 1 and self_signed[0].issuer == self_signed[0].subject
    untrusted = chain("untrusted-root")
    assert len(untrusted) == 2 and untrusted[1].issuer == untrusted[1].subject != root.cert.subject
    incomplete = chain("incomplete-chain")
    assert len(incomplete) == 1  # the intermediate is not sent
    intermediate = x509.load_pem_x509_certificate(lab.files("lab/intermediate").cert.read_bytes())
    incomplete[0].verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root.cert)
    chain("valid")[0].verify_directly_issued_by(root.cert)


def test_keys_are_private_and_kept(tmp_path: Path) -> None:
    lab = LabDir(tmp_path)
    first = lab.ca_pem()
    server = lab.server()
    client = lab.client("gw")
    for key in (lab.ca_files.key, server.key, client.key, lab.bundle("gw")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert LabDir(tmp_path).ca_pem() == first  # a second init keeps the CA a gateway already trusts
    before = server.cert.read_bytes()
    assert lab.server().cert.read_bytes() == before
    assert lab.server(force=True).cert.read_bytes() != before


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 65, "-gw"])
def test_client_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="client name"):
        LabDir(tmp_path).client(name)


def test_load_pair_round_trip() -> None:
    pair = ca.issue(None, "x", ["x"])
    loaded = ca.load_pair(ca.cert_pem(pair.cert), ca.key_pem(pair.key))
    assert loaded.cert == pair.cert
