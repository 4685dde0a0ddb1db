from __future__ import annotations

import hashlib
import hmac

import pytest

from apitest.webhooks.signing import new_secret, sign_standard, sign_stripe, signature_headers, verify

# The example of the Standard Webhooks reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_standard_signature_matches_the_reference_vector() -> None:
    assert sign_standard(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_stripe_signature_is_hex_hmac_over_timestamp_and_body() -> None:
    want = hmac.new(b"whsec_abc", b"100.{}", hashlib.sha256).hexdigest()
    assert sign_stripe("whsec_abc", 100, b"{}") == f"t=100,v1={want}"


def test_new_secrets_are_random_whsec() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b and len(a) == 6 + 44


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("scheme", ["standard", "stripe"])
def test_round_trip(scheme: str) -> None:
    headers = lower(signature_headers(scheme, SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY))
    verdict, _ = verify(headers, SPEC_BODY, ["other-secret-xxxxxxxx", SPEC_SECRET], now=SPEC_TS + 5, tolerance=300)
    assert verdict.ok and verdict.scheme == scheme


def test_several_signatures_any_may_match() -> None:
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": f"v1,bogus {SPEC_SIG}"}
    assert verify(headers, SPEC_BODY, [SPEC_SECRET], now=SPEC_TS, tolerance=300)[0].ok


@pytest.mark.parametrize(
    ("headers", "reason", "detail"),
    [
        ({}, "missing header", "Standard Webhooks"),
        ({"webhook-signature": SPEC_SIG}, "missing header", "no webhook-id, webhook-timestamp header"),
        ({"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": "v2,x"}, "missing header", ""),
        ({"stripe-signature": "v1=abc"}, "missing header", "t=<timestamp>"),
        (
            {"webhook-id": SPEC_ID, "webhook-timestamp": "yesterday", "webhook-signature": SPEC_SIG},
            "timestamp outside tolerance",
            "not a Unix time",
        ),
        (
            {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS - 301), "webhook-signature": SPEC_SIG},
            "timestamp outside tolerance",
            "301 s old",
        ),
        (
            {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS + 400), "webhook-signature": SPEC_SIG},
            "timestamp outside tolerance",
            "in the future",
        ),
        (
            {"webhook-id": "msg_other", "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIG},
            "signature mismatch",
            "",
        ),
    ],
)
def test_refusals_name_the_reason(headers: dict[str, str], reason: str, detail: str) -> None:
    verdict, _ = verify(headers, SPEC_BODY, [SPEC_SECRET], now=SPEC_TS, tolerance=300)
    assert verdict.reason == reason
    assert detail in verdict.detail


def test_a_changed_body_does_not_verify() -> None:
    headers = lower(signature_headers("standard", SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY))
    verdict, _ = verify(headers, SPEC_BODY + b"\n", [SPEC_SECRET], now=SPEC_TS, tolerance=300)
    assert verdict.reason == "signature mismatch"


def test_a_plain_secret_is_used_as_utf8_bytes() -> None:
    want = hmac.new(b"plain-secret", b"m.1.x", hashlib.sha256).digest()
    import base64

    assert sign_standard("plain-secret", "m", 1, b"x") == "v1," + base64.b64encode(want).decode()
