from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apitest.webhooks.delivery import Result, Schedule, Sender, outcome_of, parse_retry_after
from apitest.webhooks.records import Claim, Delivery
from apitest.webhooks.signing import verify
from tests.support import free_port
from tests.webhooks.support import receiver

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SECRET = "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="


def claim(url: str, *, round_attempts: int = 0, scheme: str = "standard") -> Claim:
    delivery = Delivery(
        id="d1",
        subscription_id="s1",
        message_id="msg_1",
        event_type="order.created",
        payload=b'{"type":"order.created"}',
        state="delivering",
        round_attempts=round_attempts,
    )
    return Claim(delivery, "token", url, SECRET, scheme)


def sender(**kwargs: object) -> Sender:
    options: dict[str, object] = {
        "allowed_hosts": ["127.0.0.1"],
        "connect_timeout": 2.0,
        "timeout": 5.0,
        "max_response_bytes": 64,
    }
    return Sender(**(options | kwargs))  # type: ignore[arg-type]


def test_schedule_doubles_up_to_the_cap_and_jitter_spreads_it() -> None:
    s = Schedule(max_attempts=6, base=2.0, cap=10.0, jitter=0.25)
    assert s.nominal() == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert s.delay(1, rand=lambda: 0.5) == 2.0
    assert s.delay(2, rand=lambda: 0.0) == 3.0  # 4 * (1 - 0.25)
    assert s.delay(3, rand=lambda: 1.0) == 10.0  # 8 * (1 + 0.25)
    assert s.delay(3, retry_after=4.0) == 4.0
    assert s.delay(1, retry_after=3600.0) == 10.0  # Retry-After is capped by backoff_max


def test_retry_after_seconds_or_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Wed, 02 Dec 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    ("result", "round_attempts", "state", "delay"),
    [
        (Result(status=204), 0, "succeeded", None),
        (Result(status=500, retryable=True), 0, "pending", 5.0),
        (Result(status=500, retryable=True), 1, "pending", 10.0),
        (Result(status=500, retryable=True), 2, "dead", None),  # the third attempt of max_attempts=3
        (Result(status=429, retryable=True, retry_after=1.0), 0, "pending", 1.0),
        (Result(status=400), 0, "dead", None),
        (Result(error="network error", retryable=True), 1, "pending", 10.0),
    ],
)
def test_outcome(result: Result, round_attempts: int, state: str, delay: float | None) -> None:
    schedule = Schedule(max_attempts=3, base=5.0, cap=60.0, jitter=0.0)
    got_state, next_at = outcome_of(result, claim("http://x", round_attempts=round_attempts), schedule, NOW)
    assert got_state == state
    assert next_at == (None if delay is None else NOW + timedelta(seconds=delay))


@pytest.mark.parametrize("scheme", ["standard", "stripe"])
async def test_a_delivery_is_signed_and_carries_no_credential(scheme: str) -> None:
    s = sender()
    try:
        with receiver(204) as (url, script):
            result = await s.send(claim(url, scheme=scheme), NOW)
    finally:
        await s.aclose()
    assert result.ok and result.error is None and result.status == 204
    (got,) = script.received
    assert got.body == b'{"type":"order.created"}'
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("apitest-webhooks/")
    assert got.headers["webhook-id"] == "msg_1"
    verdict, _ = verify(got.headers, got.body, [SECRET], now=int(NOW.timestamp()), tolerance=5)
    assert verdict.ok and verdict.scheme == scheme
    assert not {"authorization", "x-api-key", "cookie", "proxy-authorization"} & set(got.headers)


async def test_a_redirect_is_not_followed() -> None:
    s = sender()
    try:
        with receiver(302) as (url, script):
            result = await s.send(claim(url), NOW)
    finally:
        await s.aclose()
    assert result.status == 302 and not result.retryable
    assert result.error is not None and result.error.startswith("redirect not followed (302 to /elsewhere)")
    assert len(script.received) == 1  # /elsewhere was never asked


async def test_the_response_body_is_capped_and_headers_redacted() -> None:
    big = (200, {"Set-Cookie": "session=abc", "X-Trace": "t1"}, b"x" * 100_000)
    s = sender()
    try:
        with receiver(big) as (url, _):
            result = await s.send(claim(url), NOW)
    finally:
        await s.aclose()
    assert result.body == b"x" * 64 and result.truncated
    assert result.headers is not None
    assert result.headers["Set-Cookie"] == ["[redacted]"] and result.headers["X-Trace"] == ["t1"]


async def test_429_retry_after_is_read() -> None:
    s = sender()
    try:
        with receiver((429, {"Retry-After": "3"}, b"slow down")) as (url, _):
            result = await s.send(claim(url), NOW)
    finally:
        await s.aclose()
    assert result.retryable and result.retry_after == 3.0 and result.body == b"slow down"


async def test_a_network_error_is_retryable() -> None:
    s = sender()
    try:
        result = await s.send(claim(f"http://127.0.0.1:{free_port()}/hook"), NOW)
    finally:
        await s.aclose()
    assert result.status is None and result.retryable
    assert result.error is not None and result.error.startswith("network error: ConnectError")


async def test_a_target_off_the_allow_list_is_refused_before_connecting() -> None:
    s = sender(allowed_hosts=["hooks.example.com"])
    try:
        with receiver(204) as (url, script):
            result = await s.send(claim(url), NOW)
    finally:
        await s.aclose()
    assert not result.retryable and script.received == []
    assert result.error == "target refused: host '127.0.0.1' is not in webhooks.allowed_hosts"
