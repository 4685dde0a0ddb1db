"""Doctor checks of the configured TLS files (``server.tls``, or the dev CA's with ``server.tls.dev_ca``):
readable, not expired, the key belongs to the certificate, the base URL's host is among its names."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apitest.config import Settings
from apitest.doctor.core import Context, Result, fail, ok, warn

EXPIRY_WARNING = timedelta(days=30)
REISSUE_DEV = "apitest tls init --force (reissues the dev CA's server certificate)"


@dataclass(frozen=True)
class TLSFiles:
    cert: str
    key: str
    dev_ca: bool


def configured_files(s: Settings) -> TLSFiles | None:
    if s.server.tls.dev_ca:
        directory = s.tls_lab.dir
        return TLSFiles(os.path.join(directory, "server.pem"), os.path.join(directory, "server.key"), True)
    if s.server.tls.enabled:
        return TLSFiles(s.server.tls.cert_file, s.server.tls.key_file, False)
    return None


def _readable(path: str) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def _reissue(files: TLSFiles) -> str:
    return REISSUE_DEV if files.dev_ca else f"reissue {files.cert} and deploy it with its key"


async def check_tls(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return []
    files = configured_files(s)
    if files is None:
        return []
    return await asyncio.to_thread(inspect, files, s.server.base_url, datetime.fromtimestamp(ctx.clock(), UTC))


def inspect(files: TLSFiles, base_url: str, now: datetime) -> list[Result]:
    """Read the files (blocking: run in a thread) and check them."""
    if files.dev_ca and not (os.path.exists(files.cert) or os.path.exists(files.key)):
        return [ok("server.tls", f"server.tls.dev_ca: {files.cert} is created (with the CA) at start")]
    fix = "run apitest tls init" if files.dev_ca else "point it at the PEM file"
    missing = [
        fail("server.tls", f"server.tls.{name} {path!r} is not a readable file", fix)
        for name, path in (("cert_file", files.cert), ("key_file", files.key))
        if not _readable(path)
    ]
    if missing:
        return missing
    try:
        with open(files.cert, "rb") as f:
            chain = x509.load_pem_x509_certificates(f.read())
    except ValueError as exc:
        return [fail("server.tls", f"{files.cert} is not a PEM certificate: {exc}", "use the PEM (base64) form")]
    try:
        with open(files.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (ValueError, TypeError) as exc:
        return [fail("server.tls", f"{files.key} is not an unencrypted PEM private key: {exc}", "decrypt it")]
    leaf = chain[0]
    return [
        ok("server.tls", f"{files.cert} and {files.key} are readable"),
        _expiry(files, leaf, now),
        _key_match(files, leaf, key),
        _hosts(files, leaf, base_url),
    ]


def _expiry(files: TLSFiles, leaf: x509.Certificate, now: datetime) -> Result:
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now > end:
        return fail("server.tls.expiry", f"{files.cert} expired on {end:%Y-%m-%d %H:%M} UTC", _reissue(files))
    if now < start:
        return fail(
            "server.tls.expiry",
            f"{files.cert} is not valid before {start:%Y-%m-%d %H:%M} UTC (or this host's clock is behind)",
            _reissue(files) + "; check the clock",
        )
    if end - now < EXPIRY_WARNING:
        days = (end - now).days
        return warn("server.tls.expiry", f"{files.cert} expires in {days} day(s), on {end:%Y-%m-%d}", _reissue(files))
    return ok("server.tls.expiry", f"{files.cert} is valid until {end:%Y-%m-%d}")


def _key_match(files: TLSFiles, leaf: x509.Certificate, key: object) -> Result:
    public = getattr(key, "public_key", None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if public is None or public().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return fail(
            "server.tls.key_match",
            f"{files.key} does not belong to the certificate in {files.cert}: every handshake would fail",
            "use the key the certificate was issued for (or reissue the certificate for this key)",
        )
    return ok("server.tls.key_match", f"{files.key} belongs to the certificate")


def names_of(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]


def matches(host: str, name: str) -> bool:
    """RFC 6125 matching: exact (case-insensitive), or one ``*.`` label covering exactly one label."""
    host, name = host.lower().rstrip("."), name.lower().rstrip(".")
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(name)
    except ValueError:
        pass
    if name.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return host == name


def _hosts(files: TLSFiles, leaf: x509.Certificate, base_url: str) -> Result:
    host = urlsplit(base_url).hostname or ""
    names = names_of(leaf)
    if not names:
        return fail(
            "server.tls.hosts",
            f"{files.cert} has no subjectAltName: clients ignore the CN and refuse it for every host name",
            _reissue(files) + " with the host names in the subjectAltName",
        )
    if host and not any(matches(host, name) for name in names):
        fix = "add it to tls_lab.hosts, then " + REISSUE_DEV if files.dev_ca else "reissue it for that host"
        return fail(
            "server.tls.hosts",
            f"server.base_url's host {host!r} is not among the certificate's names ({', '.join(names)}): "
            "clients that verify get a host name mismatch",
            fix,
        )
    return ok("server.tls.hosts", f"the certificate names {', '.join(names)}")
