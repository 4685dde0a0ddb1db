"""The files of a lab directory (apitest.tls.material)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from apitest.tls.material import WRONG_HOST, LabDir, write_private, write_public
from tests.tls.test_ca import sans


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


def test_an_out_of_date_lab_certificate_is_renewed(tmp_path: Path) -> None:
    from datetime import timedelta

    from apitest.tls import ca

    lab = LabDir(tmp_path)
    now = datetime.now(UTC)
    old = ca.issue(
        lab.ca(), "localhost", ["localhost"], not_before=now - timedelta(days=900), not_after=now - timedelta(days=1)
    )
    for name in ("valid", "expired"):
        write_private(lab.files(f"lab/{name}").key, ca.key_pem(old.key))
        write_public(lab.files(f"lab/{name}").cert, ca.cert_pem(old.cert))
    renewed = x509.load_pem_x509_certificate(lab.lab("valid").cert.read_bytes())
    assert renewed.not_valid_after_utc > now
    kept = x509.load_pem_x509_certificate(lab.lab("expired").cert.read_bytes())
    assert kept == old.cert  # expired on purpose: kept
