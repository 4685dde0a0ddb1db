"""The TLS lab listeners and the exact error each makes a client produce: one table for the portal's Discovery
page, docs/tls.md and the tests (tests/tls/test_errors.py connects to each listener on loopback with curl,
``openssl s_client`` and Python's ``ssl`` and checks these strings; tests/gateways checks the nginx and HAProxy
ones). The client side of every string is a client that trusts the dev CA (``--cacert ca.pem``) and asks for
the host name ``localhost``.

Listeners the build cannot serve say why in :attr:`LabListener.unavailable` (see :func:`unavailable_reason`).
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"  # OpenSSL 3 refuses RSA-1024 keys and TLS < 1.2 at Debian's level 2


@dataclass(frozen=True)
class LabListener:
    name: str  # listener name, also the lab/<name>.pem file stem
    port_key: str  # the tls_lab.ports.<key> that turns it on
    summary: str
    curl: str  # what `curl --cacert ca.pem https://localhost:PORT/v1/whoami` prints on stderr
    openssl: str  # the line `openssl s_client -CAfile ca.pem -verify_return_error -verify_hostname localhost` prints
    python: str  # str() of the exception of ssl.create_default_context(cafile=ca.pem) + wrap_socket + one request
    nginx: str = ""  # nginx's error.log line with proxy_ssl_verify on (docs/tls.md snippet)
    haproxy: str = ""  # HAProxy's log with `ssl verify required ca-file`
    mtls: str = ""  # "required" / "optional": asks for a client certificate signed by the dev CA
    legacy: str = ""  # "", "weak-key", "TLSv1", "TLSv1_1": needs @SECLEVEL=0 / a pinned protocol version

    @property
    def failing(self) -> bool:
        return bool(self.curl)


NGINX_VERIFY = "upstream SSL certificate verify error: "
LISTENERS: tuple[LabListener, ...] = (
    LabListener(
        "valid",
        "valid",
        "signed by the dev CA for the configured host names: works when the CA is trusted",
        "",
        "Verify return code: 0 (ok)",
        "",
    ),
    LabListener(
        "self-signed",
        "self_signed",
        "a certificate that signs itself (the usual development shortcut)",
        "SSL certificate problem: self-signed certificate",
        "Verify return code: 18 (self-signed certificate)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
        NGINX_VERIFY + "(18:self-signed certificate)",
    ),
    LabListener(
        "expired",
        "expired",
        "signed by the dev CA, expired 30 days ago",
        "SSL certificate problem: certificate has expired",
        "Verify return code: 10 (certificate has expired)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
        NGINX_VERIFY + "(10:certificate has expired)",
    ),
    LabListener(
        "not-yet-valid",
        "not_yet_valid",
        "signed by the dev CA, valid only from ten years from now",
        "SSL certificate problem: certificate is not yet valid",
        "Verify return code: 9 (certificate is not yet valid)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid",
        NGINX_VERIFY + "(9:certificate is not yet valid)",
    ),
    LabListener(
        "wrong-host",
        "wrong_host",
        "signed by the dev CA for wrong-host.apitest.invalid only",
        "SSL: no alternative certificate subject name matches target host name 'localhost'",
        "Verify return code: 62 (hostname mismatch)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for"
        " 'localhost'.",
        NGINX_VERIFY + "(62:hostname mismatch)",
    ),
    LabListener(
        "untrusted-root",
        "untrusted_root",
        "signed by a second root the gateway does not trust (the whole chain is sent)",
        "SSL certificate problem: self-signed certificate in certificate chain",
        "Verify return code: 19 (self-signed certificate in certificate chain)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain",
        NGINX_VERIFY + "(19:self-signed certificate in certificate chain)",
    ),
    LabListener(
        "incomplete-chain",
        "incomplete_chain",
        "signed by an intermediate of the dev CA that the server does not send",
        "SSL certificate problem: unable to get local issuer certificate",
        "Verify return code: 20 (unable to get local issuer certificate)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
        NGINX_VERIFY + "(20:unable to get local issuer certificate)",
    ),
    LabListener(
        "weak-key",
        "weak_key",
        "signed by the dev CA, RSA-1024 key (served at OpenSSL security level 0)",
        "SSL certificate problem: EE certificate key too weak",
        "Verify return code: 66 (EE certificate key too weak)",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: EE certificate key too weak",
        NGINX_VERIFY + "(66:EE certificate key too weak)",
        legacy="weak-key",
    ),
    LabListener(
        "tls1.0",
        "tls1_0",
        "valid certificate, TLS 1.0 only (security level 0)",
        "error:0A00014D:SSL routines::legacy sigalg disallowed or unsupported",
        "legacy sigalg disallowed or unsupported",
        "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        "(SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) while SSL handshaking"
        " to upstream",
        legacy="TLSv1",
    ),
    LabListener(
        "tls1.1",
        "tls1_1",
        "valid certificate, TLS 1.1 only (security level 0)",
        "error:0A00014D:SSL routines::legacy sigalg disallowed or unsupported",
        "legacy sigalg disallowed or unsupported",
        "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        "(SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) while SSL handshaking"
        " to upstream",
        legacy="TLSv1_1",
    ),
    LabListener(
        "mtls-required",
        "mtls_required",
        "valid certificate; the client must present a certificate signed by the dev CA",
        "tlsv13 alert certificate required",
        "tlsv13 alert certificate required",
        "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
        "(SSL: error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert number 116)",
        mtls="required",
    ),
    LabListener(
        "mtls-optional",
        "mtls_optional",
        "valid certificate; a client certificate signed by the dev CA is recorded when presented",
        "",
        "Verify return code: 0 (ok)",
        "",
        mtls="optional",
    ),
)
BY_NAME = {listener.name: listener for listener in LISTENERS}
SHA1_UNAVAILABLE = (
    "not served: the cryptography library refuses to sign a certificate with SHA-1 "
    '(UnsupportedAlgorithm: Hash algorithm "sha1" not supported for signatures), '
    "and apitest makes its certificates with cryptography only"
)


def sha1_unavailable() -> str:
    """Why there is no ``sha1`` listener: asked of the installed cryptography each time, not assumed."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from apitest.tls.ca import name, new_key

    key, now = new_key(), datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("sha1"))
        .issuer_name(name("sha1"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now)
    )
    try:
        builder.sign(key, hashes.SHA1())  # type: ignore[arg-type]  # probing whether the library still allows it
    except UnsupportedAlgorithm:
        return SHA1_UNAVAILABLE
    return ""


def unavailable_reason(listener: LabListener) -> str:
    """Why this Python/OpenSSL build cannot serve ``listener`` ("" when it can)."""
    if listener.legacy in ("TLSv1", "TLSv1_1"):
        version = getattr(ssl.TLSVersion, listener.legacy)
        if not getattr(ssl, "HAS_" + listener.legacy, False):
            return f"not served: this Python's OpenSSL ({ssl.OPENSSL_VERSION}) was built without {listener.legacy}"
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_ciphers(LEGACY_CIPHERS)
            _pin_version(context, version)
        except (ssl.SSLError, ValueError) as exc:
            return f"not served: {ssl.OPENSSL_VERSION} refuses {listener.legacy}: {exc}"
    return ""


def _pin_version(context: ssl.SSLContext, version: ssl.TLSVersion) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "ssl.TLSVersion.TLSv1 is deprecated": on purpose here
        context.minimum_version = version
        context.maximum_version = version


def server_context(listener: LabListener, cert_file: Path, key_file: Path, ca_file: Path) -> ssl.SSLContext:
    """The server-side SSLContext of one lab listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if listener.legacy:
        context.set_ciphers(LEGACY_CIPHERS)
    if listener.legacy in ("TLSv1", "TLSv1_1"):
        _pin_version(context, getattr(ssl.TLSVersion, listener.legacy))
    context.load_cert_chain(cert_file, key_file)
    if listener.mtls:
        context.verify_mode = ssl.CERT_REQUIRED if listener.mtls == "required" else ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=ca_file)
    return context


def plain_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """The SSLContext of ``server.tls`` (the main listener): the given chain and key, default security."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
