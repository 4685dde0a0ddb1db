"""One delivery attempt over HTTP (httpx), and the retry schedule.

An attempt POSTs the stored payload with ``Content-Type: application/json``, ``User-Agent:
apitest-webhooks/<version>`` and the signature headers, nothing else: no credential of apitest, no
proxy or ``.netrc`` from the environment (``trust_env=False``), no cookies kept between attempts.
Redirects are not followed (a 3xx is a failure that is not retried). At most
``webhooks.max_response_bytes`` of the response body are read; the rest is never read.

Outcome of an attempt:

- 2xx: ``succeeded``;
- 408, 429, 5xx, a timeout or a network error: ``retry`` while attempts remain in this round, else ``dead``;
- any other status (3xx, 4xx) or a target refused by the allow-list: ``dead`` at once (retrying cannot help).

The delay before attempt ``n + 1`` is ``min(backoff_base * 2^(n-1), backoff_max)``, spread by ``jitter``
(a factor drawn uniformly from ``[1 - jitter, 1 + jitter]``). A 429 or 503 with ``Retry-After`` (seconds
or an HTTP date) waits that long instead, capped by ``backoff_max``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from apitest import __version__
from apitest.audit.redaction import Redactor
from apitest.sensitive import Sensitive
from apitest.webhooks.records import Attempt, Claim
from apitest.webhooks.signing import AGENT_PREFIX, signature_headers
from apitest.webhooks.store import new_id
from apitest.webhooks.targets import TargetRefused, check_resolved

RETRY_STATUSES = frozenset({408, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})
USER_AGENT = f"{AGENT_PREFIX}{__version__}"
MAX_HEADER_VALUE = 2048
MAX_HEADERS = 100


@dataclass(frozen=True)
class Schedule:
    """The retry policy (``webhooks.max_attempts``, ``backoff_base``, ``backoff_max``, ``jitter``)."""

    max_attempts: int = 5
    base: float = 5.0
    cap: float = 300.0
    jitter: float = 0.2

    def delay(self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) of a round."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.cap)
        nominal = min(self.base * 2.0 ** (attempt - 1), self.cap)
        return nominal * (1 + self.jitter * (2 * rand() - 1))

    def nominal(self) -> list[float]:
        """The delays between the attempts of one round without jitter (for the docs and the portal)."""
        return [min(self.base * 2.0 ** (n - 1), self.cap) for n in range(1, self.max_attempts)]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class Result:
    """What one attempt produced, before the schedule decides what comes next."""

    status: int | None = None
    headers: dict[str, list[str]] | None = None
    body: bytes | None = None
    truncated: bool = False
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    latency_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _headers(response: httpx.Response, redactor: Redactor) -> dict[str, list[str]] | None:
    """Response headers as the audit keeps them (credentials redacted by name), bounded."""
    raw = [(name, value[:MAX_HEADER_VALUE]) for name, value in response.headers.raw[:MAX_HEADERS]]
    return redactor.headers(raw)


def _storable(text: str) -> str:
    """No NUL or lone surrogate reaches the database."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")[:1000]


class Sender:
    """Sends one attempt with a shared httpx client."""

    def __init__(
        self,
        *,
        allowed_hosts: list[str],
        connect_timeout: float,
        timeout: float,
        max_response_bytes: int,
        redactor: Redactor | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed_hosts = allowed_hosts
        self.max_response_bytes = max_response_bytes
        self.redactor = redactor or Redactor(Sensitive(["authorization", "cookie", "token", "secret"]))
        self.deadline = connect_timeout + 2 * timeout  # the whole attempt, however slowly bytes trickle in
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, claim: Claim, now: datetime) -> Result:
        delivery = claim.delivery
        headers = {
            "Content-Type": "application/json",
            **signature_headers(
                claim.scheme, claim.secret, delivery.message_id, int(now.timestamp()), delivery.payload
            ),
        }
        started = time.perf_counter()
        result = Result()
        try:
            await check_resolved(claim.url, self.allowed_hosts)
            async with asyncio.timeout(self.deadline):
                await self._post(claim.url, headers, delivery.payload, result, now)
        except TargetRefused as exc:
            result.error = f"target refused: {exc}"
        except TimeoutError:
            result.error = f"timeout: no complete answer within {self.deadline:g} s"
            result.retryable = True
        except httpx.TimeoutException as exc:
            result.error = f"timeout: {type(exc).__name__}"
            result.retryable = True
        except httpx.HTTPError as exc:
            result.error = _storable(f"network error: {type(exc).__name__}: {exc}")
            result.retryable = True
        except OSError as exc:
            result.error = _storable(f"network error: {exc}")
            result.retryable = True
        result.latency_ms = int((time.perf_counter() - started) * 1000)
        return result

    async def _post(self, url: str, headers: Mapping[str, str], body: bytes, result: Result, now: datetime) -> None:
        request = self.client.build_request("POST", url, headers=headers, content=body)
        response = await self.client.send(request, stream=True)
        try:
            result.status = response.status_code
            result.headers = _headers(response, self.redactor)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                room = self.max_response_bytes - size
                chunks.append(chunk[:room])
                size += min(len(chunk), room)
                if len(chunk) > room or size >= self.max_response_bytes:
                    result.truncated = len(chunk) > room or bool(await _more(response))
                    break
            result.body = b"".join(chunks)
        finally:
            await response.aclose()
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            result.error = _storable(f"redirect not followed ({status} to {location or 'no Location'})")
        elif status in RETRY_STATUSES or status >= 500:
            result.retryable = True
            result.error = f"status {status}"
            if status in RETRY_AFTER_STATUSES:
                result.retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        elif not 200 <= status < 300:
            result.error = f"status {status} (not retried: only 408, 429, 5xx and network errors are)"


async def _more(response: httpx.Response) -> bytes:
    """Whether anything follows the cap (one more chunk at most is pulled, never the whole body)."""
    async for chunk in response.aiter_raw():
        if chunk:
            return chunk
    return b""


def outcome_of(
    result: Result, claim: Claim, schedule: Schedule, now: datetime, rand: Callable[[], float] = random.random
) -> tuple[str, datetime | None]:
    """The delivery's next state and, for a retry, when."""
    if result.ok:
        return "succeeded", None
    attempt = claim.delivery.round_attempts + 1
    if not result.retryable or attempt >= schedule.max_attempts:
        return "dead", None
    return "pending", now + timedelta(seconds=schedule.delay(attempt, result.retry_after, rand))


def attempt_record(claim: Claim, result: Result, started: datetime, state: str, next_at: datetime | None) -> Attempt:
    outcome = {"succeeded": "succeeded", "dead": "dead"}.get(state, "retry")
    return Attempt(
        id=new_id(),
        delivery_id=claim.delivery.id,
        number=claim.delivery.attempts + 1,
        started_at=started,
        url=claim.url,
        outcome=outcome,
        status=result.status,
        latency_ms=result.latency_ms,
        response_headers=result.headers,
        response_body=result.body,
        response_truncated=result.truncated,
        error=result.error,
        next_attempt_at=next_at,
    )
