"""Keys and certificates for the dev CA and the TLS lab, made with ``cryptography``.

Every function is pure (a key and a certificate in, a key and a certificate out); the files live in
:mod:`apitest.tls.material`. Keys are ECDSA P-256 (fast to generate, accepted by every gateway) except the
``weak-key`` listener's RSA-1024. Validity windows are explicit so the ``expired`` and ``not-yet-valid``
certificates are made by the same code as the good ones.

References: RFC 5280 (X.509 profile: basicConstraints, keyUsage, extendedKeyUsage, subjectAltName),
RFC 6125 section 6.4 (host names are matched against the SAN; the CN is not consulted).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
CA_DAYS = 3650
LEAF_DAYS = 825  # the longest leaf validity Apple platforms accept
BACKDATE = timedelta(minutes=5)  # tolerate a little clock skew between the fixture and the gateway
LOOPBACK_NAMES = ("127.0.0.1", "::1")
WEAK_RSA_BITS = 1024


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey


def new_key(*, weak: bool = False) -> PrivateKey:
    if weak:
        return rsa.generate_private_key(public_exponent=65537, key_size=WEAK_RSA_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organization: str = "apitest dev CA") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def san_for(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    """DNS names and IP addresses (``127.0.0.1``, ``::1``) as subjectAltName entries, duplicates dropped."""
    entries: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in hosts:
        host = host.strip().strip("[]")
        if not host or host.lower() in seen:
            continue
        seen.add(host.lower())
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def _builder(subject: x509.Name, issuer: x509.Name, key: PrivateKey, start: datetime, end: datetime) -> Any:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(common_name: str, *, parent: Pair | None = None, now: datetime | None = None) -> Pair:
    """A CA certificate: self-signed (a root) or signed by ``parent`` (an intermediate, path length 0)."""
    now = now or datetime.now(UTC)
    key = new_key()
    subject = name(common_name)
    issuer_name = parent.cert.subject if parent else subject
    builder = (
        _builder(subject, issuer_name, key, now - BACKDATE, now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0 if parent else 1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    signer: CertificateIssuerPrivateKeyTypes = parent.key if parent else key
    if parent:
        builder = builder.add_extension(_aki(parent), critical=False)
    return Pair(builder.sign(signer, hashes.SHA256()), key)


def _aki(issuer: Pair) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())


def _leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    issuer: Pair | None,
    common_name: str,
    hosts: Sequence[str],
    *,
    client: bool = False,
    weak: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Pair:
    """A leaf certificate for ``hosts`` signed by ``issuer`` (self-signed when None).

    ``client`` makes a TLS client certificate (extendedKeyUsage clientAuth), else a server one.
    """
    now = datetime.now(UTC)
    start = not_before or now - BACKDATE
    end = not_after or now + timedelta(days=LEAF_DAYS)
    key = new_key(weak=weak)
    subject = name(common_name, "apitest client" if client else "apitest")
    builder = (
        _builder(subject, issuer.cert.subject if issuer else subject, key, start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(san_for(hosts), critical=False)
    if issuer:
        builder = builder.add_extension(_aki(issuer), critical=False)
    signer: CertificateIssuerPrivateKeyTypes = issuer.key if issuer else key
    return Pair(builder.sign(signer, hashes.SHA256()), key)


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_pair(cert_data: bytes, key_data: bytes) -> Pair:
    cert = x509.load_pem_x509_certificate(cert_data)
    key = serialization.load_pem_private_key(key_data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__} (need EC or RSA)")
    return Pair(cert, key)
