"""The TLS lab listeners and the exact error each makes a client produce: one table for the portal's Discovery
page, docs/tls.md and the tests (tests/tls/test_errors.py connects to each listener on loopback with curl,
``openssl s_client`` and Python's ``ssl`` and checks these strings; tests/gateways checks the nginx and HAProxy
ones). The client side of every string is a client that trusts the dev CA (``--cacert ca.pem``) and asks for
the host name ``localhost``.

Listeners the build cannot serve say why in :attr:`LabListener.unavailable` (see :func:`unavailable_reason`).
"""

from __future__ import annotations

import functools
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
    nginx: str = ""  # in nginx's error.log with the docs/tls.md snippet (proxy_ssl_verify on); answers 502
    haproxy: str = ""  # HAProxy's "%[bc_err_str] (%[ssl_bc_err_str])" with the docs/tls.md snippet; answers 503
    caddy: str = ""  # Caddy's http.log.error message with the docs/tls.md snippet; answers 502
    mtls: str = ""  # "required" / "optional": asks for a client certificate signed by the dev CA
    legacy: str = ""  # "", "weak-key", "TLSv1", "TLSv1_1": needs @SECLEVEL=0 / a pinned protocol version

    @property
    def failing(self) -> bool:
        """The handshake fails for a client that trusts the dev CA (and presents no client certificate)."""
        return bool(self.curl)


NGINX_VERIFY = "upstream SSL certificate verify error: "
HAPROXY_VERIFY = "SSL handshake failure (error:0A000086:SSL routines::certificate verify failed)"
HAPROXY_SIGALG = "SSL handshake failure (error:0A00014D:SSL routines::legacy sigalg disallowed or unsupported)"
CURL_SIGALG = "error:0A00014D:SSL routines::legacy sigalg disallowed or unsupported"
PY_VERIFY = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
GO_UNKNOWN_CA = "x509: certificate signed by unknown authority"
LISTENERS: tuple[LabListener, ...] = (
    LabListener(
        name="valid",
        port_key="valid",
        summary="signed by the dev CA for the configured host names: works when the CA is trusted",
        curl="",
        openssl="Verify return code: 0 (ok)",
        python="",
    ),
    LabListener(
        name="self-signed",
        port_key="self_signed",
        summary="a certificate that signs itself (the usual development shortcut)",
        curl="SSL certificate problem: self-signed certificate",
        openssl="Verify return code: 18 (self-signed certificate)",
        python=PY_VERIFY + "self-signed certificate",
        nginx=NGINX_VERIFY + "(18:self-signed certificate)",
        haproxy=HAPROXY_VERIFY,
        caddy=GO_UNKNOWN_CA,
    ),
    LabListener(
        name="expired",
        port_key="expired",
        summary="signed by the dev CA, expired 30 days ago",
        curl="SSL certificate problem: certificate has expired",
        openssl="Verify return code: 10 (certificate has expired)",
        python=PY_VERIFY + "certificate has expired",
        nginx=NGINX_VERIFY + "(10:certificate has expired)",
        haproxy=HAPROXY_VERIFY,
        caddy="x509: certificate has expired or is not yet valid: current time",
    ),
    LabListener(
        name="not-yet-valid",
        port_key="not_yet_valid",
        summary="signed by the dev CA, valid only from ten years from now",
        curl="SSL certificate problem: certificate is not yet valid",
        openssl="Verify return code: 9 (certificate is not yet valid)",
        python=PY_VERIFY + "certificate is not yet valid",
        nginx=NGINX_VERIFY + "(9:certificate is not yet valid)",
        haproxy=HAPROXY_VERIFY,
        caddy="x509: certificate has expired or is not yet valid: current time",
    ),
    LabListener(
        name="wrong-host",
        port_key="wrong_host",
        summary="signed by the dev CA for wrong-host.apitest.invalid only",
        curl="SSL: no alternative certificate subject name matches target host name 'localhost'",
        openssl="Verify return code: 62 (hostname mismatch)",
        python=PY_VERIFY + "Hostname mismatch, certificate is not valid for 'localhost'.",
        nginx='upstream SSL certificate does not match "localhost"',
        haproxy="Server presented an SSL certificate different from the expected one"
        " (error:0A000086:SSL routines::certificate verify failed)",
        caddy="x509: certificate is valid for wrong-host.apitest.invalid, not localhost",
    ),
    LabListener(
        name="untrusted-root",
        port_key="untrusted_root",
        summary="signed by a second root the gateway does not trust (the whole chain is sent)",
        curl="SSL certificate problem: self-signed certificate in certificate chain",
        openssl="Verify return code: 19 (self-signed certificate in certificate chain)",
        python=PY_VERIFY + "self-signed certificate in certificate chain",
        nginx=NGINX_VERIFY + "(19:self-signed certificate in certificate chain)",
        haproxy=HAPROXY_VERIFY,
        caddy=GO_UNKNOWN_CA,
    ),
    LabListener(
        name="incomplete-chain",
        port_key="incomplete_chain",
        summary="signed by an intermediate of the dev CA that the server does not send",
        curl="SSL certificate problem: unable to get local issuer certificate",
        openssl="Verify return code: 20 (unable to get local issuer certificate)",
        python=PY_VERIFY + "unable to get local issuer certificate",
        nginx=NGINX_VERIFY + "(21:unable to verify the first certificate)",  # proxy_ssl_verify_depth defaults to 1
        haproxy=HAPROXY_VERIFY,
        caddy=GO_UNKNOWN_CA,
    ),
    LabListener(
        name="weak-key",
        port_key="weak_key",
        summary="signed by the dev CA, RSA-1024 key (served at OpenSSL security level 0)",
        curl="SSL certificate problem: EE certificate key too weak",
        openssl="Verify return code: 66 (EE certificate key too weak)",
        python=PY_VERIFY + "EE certificate key too weak",
        nginx=NGINX_VERIFY + "(66:EE certificate key too weak)",
        haproxy=HAPROXY_VERIFY,
        caddy="",  # Go's crypto/tls accepts an RSA-1024 key: Caddy connects
        legacy="weak-key",
    ),
    LabListener(
        name="tls1.0",
        port_key="tls1_0",
        summary="valid certificate, TLS 1.0 only (security level 0)",
        curl=CURL_SIGALG,
        openssl="legacy sigalg disallowed or unsupported",
        python="[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        nginx="SSL_do_handshake() failed (SSL: " + CURL_SIGALG + ") while SSL handshaking to upstream",
        haproxy=HAPROXY_SIGALG,
        caddy="remote error: tls: protocol version not supported",
        legacy="TLSv1",
    ),
    LabListener(
        name="tls1.1",
        port_key="tls1_1",
        summary="valid certificate, TLS 1.1 only (security level 0)",
        curl=CURL_SIGALG,
        openssl="legacy sigalg disallowed or unsupported",
        python="[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        nginx="SSL_do_handshake() failed (SSL: " + CURL_SIGALG + ") while SSL handshaking to upstream",
        haproxy=HAPROXY_SIGALG,
        caddy="remote error: tls: protocol version not supported",
        legacy="TLSv1_1",
    ),
    LabListener(
        name="mtls-required",
        port_key="mtls_required",
        summary="valid certificate; the client must present a certificate signed by the dev CA",
        curl="error:0A00045C:SSL routines::tlsv13 alert certificate required",
        openssl="tlsv13 alert certificate required",
        python="[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
        # nginx 1.22 speaks TLS 1.2 to upstreams by default (proxy_ssl_protocols), hence the older alert
        nginx="SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:"
        "SSL alert number 40) while SSL handshaking to upstream",
        haproxy="SSL fatal error (error:0A00045C:SSL routines::tlsv13 alert certificate required)",
        caddy="remote error: tls: certificate required",
        mtls="required",
    ),
    LabListener(
        name="mtls-optional",
        port_key="mtls_optional",
        summary="valid certificate; a client certificate signed by the dev CA is recorded when presented",
        curl="",
        openssl="Verify return code: 0 (ok)",
        python="",
        mtls="optional",
    ),
)
BY_NAME = {listener.name: listener for listener in LISTENERS}
SHA1_UNAVAILABLE = (
    "not served: the cryptography library refuses to sign a certificate with SHA-1 "
    '(UnsupportedAlgorithm: Hash algorithm "sha1" not supported for signatures), '
    "and apitest makes its certificates with cryptography only"
)


@functools.cache
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
        builder.sign(key, hashes.SHA1())  # type: ignore[arg-type]  # noqa: S303 - probing: does the library allow it
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
