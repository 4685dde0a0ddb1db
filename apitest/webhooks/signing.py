"""Webhook signatures: the Standard Webhooks scheme and a Stripe-style header, made and verified.

Standard Webhooks: the signed content is ``<webhook-id>.<webhook-timestamp>.<raw body>``; the key is the
base64 part of a ``whsec_`` secret (any other secret is used as its UTF-8 bytes); the header is
``webhook-signature: v1,<base64 HMAC-SHA256>`` (several space-separated signatures may be sent, any one
matching is enough). Stripe-style: ``Stripe-Signature: t=<timestamp>,v1=<hex HMAC-SHA256>`` over
``<t>.<raw body>`` with the whole secret as UTF-8 bytes.

Verification always runs over the raw bytes received, compares in constant time and checks the
timestamp tolerance first.

References:
  - https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
  - https://docs.stripe.com/webhooks#verify-manually
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

SCHEMES = ("standard", "stripe")
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
AGENT_PREFIX = "apitest-webhooks/"  # User-Agent of every delivery: lets apitest recognise its own requests
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
STRIPE_HEADER = "stripe-signature"

Reason = Literal["missing header", "timestamp outside tolerance", "signature mismatch"]


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign_standard(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_stripe(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_headers(scheme: str, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign ``body`` (``webhook-id`` is sent with both schemes, for deduplication)."""
    if scheme == "stripe":
        return {"webhook-id": message_id, "Stripe-Signature": sign_stripe(secret, timestamp, body)}
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(secret, message_id, timestamp, body),
    }


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification: ``reason`` is None when a signature matched."""

    scheme: str  # standard | stripe | none
    reason: Reason | None = None
    detail: str = ""
    timestamp: int | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Signed:
    scheme: str
    timestamp: int | None
    signatures: tuple[str, ...]
    message_id: str = ""


def _parse(headers: Mapping[str, str]) -> Signed | Verdict:
    if "webhook-signature" in headers:
        missing = [h for h in STANDARD_HEADERS if not headers.get(h)]
        if missing:
            return Verdict("standard", "missing header", f"no {', '.join(missing)} header")
        sigs = tuple(part.partition(",")[2] for part in headers["webhook-signature"].split() if part.startswith("v1,"))
        if not sigs:
            return Verdict("standard", "missing header", "webhook-signature has no v1,<signature> element")
        return Signed("standard", _int(headers["webhook-timestamp"]), sigs, headers["webhook-id"])
    if STRIPE_HEADER in headers:
        items = [part.strip().partition("=") for part in headers[STRIPE_HEADER].split(",")]
        stamps = [v for k, _, v in items if k == "t"]
        sigs = tuple(v for k, _, v in items if k == "v1")
        if not stamps or not sigs:
            return Verdict("stripe", "missing header", "Stripe-Signature needs t=<timestamp> and v1=<signature>")
        return Signed("stripe", _int(stamps[0]), sigs)
    return Verdict(
        "none",
        "missing header",
        "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks) or Stripe-Signature",
    )


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def expected(signed: Signed, secret: str, body: bytes) -> str:
    """The signature value (without ``v1,``/``v1=``) this secret gives over ``body``."""
    assert signed.timestamp is not None
    if signed.scheme == "stripe":
        return sign_stripe(secret, signed.timestamp, body).partition("v1=")[2]
    return sign_standard(secret, signed.message_id, signed.timestamp, body)[3:]


def matches(signed: Signed, secrets_: Sequence[str], body: bytes) -> bool:
    found = False
    for secret in secrets_:
        want = expected(signed, secret, body).encode()
        for sig in signed.signatures:
            found |= hmac.compare_digest(want, sig.encode())  # no early exit: constant work per request
    return found


def verify(
    headers: Mapping[str, str], body: bytes, secrets_: Sequence[str], *, now: int, tolerance: int
) -> tuple[Verdict, Signed | None]:
    """Check the timestamp, then the signature over the raw ``body``; headers are lower-cased names."""
    parsed = _parse(headers)
    if isinstance(parsed, Verdict):
        return parsed, None
    if parsed.timestamp is None:
        return Verdict(
            parsed.scheme, "timestamp outside tolerance", "the timestamp is not a Unix time in seconds"
        ), None
    skew = now - parsed.timestamp
    if abs(skew) > tolerance:
        when = "old" if skew > 0 else "in the future"
        detail = f"timestamp {parsed.timestamp} is {abs(skew)} s {when} (tolerance {tolerance} s)"
        return Verdict(parsed.scheme, "timestamp outside tolerance", detail, parsed.timestamp), parsed
    if not matches(parsed, secrets_, body):
        return Verdict(parsed.scheme, "signature mismatch", "", parsed.timestamp), parsed
    return Verdict(parsed.scheme, None, "", parsed.timestamp), parsed
