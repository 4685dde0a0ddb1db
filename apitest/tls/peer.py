"""The client certificate of a mutual-TLS request, as ``/v1/whoami`` and the audit row show it.

:func:`publish_client_certificate` reads the ASGI ``tls`` extension (added by
:class:`apitest.tls.listeners.TLSAwareProtocol`) and publishes the certificate's facts twice in the request
state: under :data:`CLIENT_CERT_KEY` (read by ``/v1/whoami``) and under ``client_certificate`` in the audit
details (``scope["state"][AUDIT_DETAILS_KEY]``, stored in the audit row's ``details`` column). Requests
without a client certificate pass through untouched.

The certificate was verified against the dev CA during the handshake, but its text fields are still the
peer's: every value is made storable (no NUL, no lone surrogates) and bounded here.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.types import Scope

from apitest.audit.capture import AUDIT_DETAILS_KEY
from apitest.audit.redaction import storable
from apitest.tls import CLIENT_CERT_KEY

MAX_TEXT = 1000
MAX_SAN = 32


def _text(value: str) -> str:
    return storable(value)[:MAX_TEXT]


def _san(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = []
    for entry in list(ext)[:MAX_SAN]:
        if isinstance(entry, x509.DNSName):
            out.append("DNS:" + _text(entry.value))
        elif isinstance(entry, x509.IPAddress):
            out.append(f"IP:{entry.value}")
        elif isinstance(entry, x509.UniformResourceIdentifier):
            out.append("URI:" + _text(entry.value))
        elif isinstance(entry, x509.RFC822Name):
            out.append("email:" + _text(entry.value))
    return out


@functools.lru_cache(maxsize=256)
def describe(pem: str) -> dict[str, Any]:
    """Subject, SAN, issuer, serial (hex), SHA-256 fingerprint (hex) and validity of one PEM certificate."""
    with warnings.catch_warnings():
        # cryptography warns about over-long name attributes when reading them; a peer's are recorded as they are
        warnings.simplefilter("ignore", UserWarning)
        return _facts(x509.load_pem_x509_certificate(pem.encode("ascii")))


def _facts(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": _text(cert.subject.rfc4514_string()),
        "san": _san(cert),
        "issuer": _text(cert.issuer.rfc4514_string()),
        "serial": format(cert.serial_number, "x"),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "not_before": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
    }


def client_certificate(scope: Scope) -> dict[str, Any] | None:
    """The facts of the request's client certificate, or None when it has none."""
    tls = scope.get("extensions", {}).get("tls")
    if not isinstance(tls, dict):
        return None
    chain = tls.get("client_cert_chain") or []
    if not chain or not isinstance(chain[0], str):
        return None
    try:
        return dict(describe(chain[0]))
    except ValueError:
        return None


def publish_client_certificate(scope: Scope) -> None:
    """Put the client certificate of a mutual-TLS request in the request state (whoami, audit details); the
    edge (:class:`apitest.middleware.edge.Edge`) calls this for every request with the ``tls`` extension."""
    facts = client_certificate(scope)
    if facts is not None:
        state = scope.setdefault("state", {})
        state[CLIENT_CERT_KEY] = facts
        details = state.setdefault(AUDIT_DETAILS_KEY, {})
        if isinstance(details, dict):
            details["client_certificate"] = facts
