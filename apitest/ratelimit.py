"""Per-caller rate limits: a ``/v1`` pipeline stage inside inbound auth (it needs the identity).

Which requests are limited:

- every route of a group listed in ``rate_limit.groups`` (``{lab: 120}``: 120 requests per
  ``rate_limit.window_seconds``), when ``rate_limit.enabled``;
- ``/v1/limited?limit=&window_s=`` always, by its own explicit limit (which replaces its group's limit).

Counting is a fixed window per (bucket, caller) that starts with the caller's first request in it, so a
test that sends ``limit + 1`` requests always sees exactly one 429, whatever the wall clock says. The
caller is ``<auth_type>:<key name or subject>``, or ``anonymous@<remote address>`` for anonymous requests.

Every response of a limited route carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
(seconds until the window ends), ``RateLimit-Policy`` (``<limit>;w=<window>``), ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix time in seconds when the window ends, as GitHub
and most APIs spell it). A request over the limit gets 429 ``{"error":"rate_limited","retry_after":N}``
with ``Retry-After: N`` (N = ``RateLimit-Reset``) and never reaches the handler.

Counters live in the database when one is configured (table ``rate_limit_counters``, one atomic upsert
per request, so every worker of ``apitest serve --workers N`` shares them), otherwise in this process's
memory. If the database fails, the request is counted in memory and a warning is logged.

References: draft-ietf-httpapi-ratelimit-headers (RateLimit-* fields); RFC 6585 §4 (429); RFC 9110
§10.2.3 (Retry-After).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs
from apitest.config.model import RateLimitSettings
from apitest.counters import Clock, CounterStore, MemoryCounters
from apitest.endpoints.lab_limits import EXPLICIT_ROUTE, STATE_KEY, Decision, Limit, explicit_limit
from apitest.failures import note_failure
from apitest.http import ParamError, json_response
from apitest.identity import ANONYMOUS, Identity
from apitest.outcome import outcome_of
from apitest.registry import route_of

log = logs.get("ratelimit")


def caller_of(scope: Scope) -> str:
    identity = outcome_of(scope).identity
    if not isinstance(identity, Identity) or identity.auth_type == ANONYMOUS.auth_type:
        client = scope.get("client")
        return f"anonymous@{client[0] if client else 'unknown'}"
    return f"{identity.auth_type}:{identity.key_name or identity.subject}"


class RateLimitMiddleware:
    """``counters`` are the shared counters (:class:`SQLCounters` over the app's database, or
    :class:`MemoryCounters`); when shared ones fail, requests are counted in this process's memory."""

    def __init__(
        self, app: ASGIApp, *, settings: RateLimitSettings, counters: CounterStore, clock: Clock = time.time
    ) -> None:
        self.app = app
        self.clock = clock
        self.groups: Mapping[str, int] = settings.groups if settings.enabled else {}
        self.window_s = settings.window_seconds
        self.counters = counters
        self.memory = counters if isinstance(counters, MemoryCounters) else MemoryCounters()
        self.failing = False

    def limit_for(self, scope: Scope) -> Limit | None:
        route = route_of(scope)
        if route.name == EXPLICIT_ROUTE:
            try:
                return explicit_limit(QueryParams(scope.get("query_string", b"")))
            except ParamError:
                return None  # the handler answers 400; a refused request is not counted
        limit = self.groups.get(route.group, 0)
        return Limit(f"group:{route.group}", limit, self.window_s) if limit > 0 else None

    async def decide(self, limit: Limit, caller: str) -> Decision:
        now_ms = int(self.clock() * 1000)
        key = f"{limit.bucket}|{caller}"
        store = self.counters
        try:
            count, reset_at = await store.hit(key, limit.window_s * 1000, now_ms)
            self.failing = False
        except Exception as exc:
            if store is self.memory:
                raise
            if not self.failing:
                log.warning("rate limit counters unavailable; counting in memory", extra={"error": str(exc)})
            self.failing = True
            count, reset_at = await self.memory.hit(key, limit.window_s * 1000, now_ms)
        return Decision(limit.limit, limit.window_s, count, reset_at, now_ms)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        decision = await self.decide(limit, caller_of(scope))
        scope.setdefault("state", {})[STATE_KEY] = decision
        headers = decision.headers()
        if not decision.allowed:
            note_failure(
                scope,
                "rate_limited",
                f"request {decision.count} in a {limit.window_s}s window exceeds the limit of {limit.limit} "
                f"({limit.bucket}); retry after {decision.reset_seconds}s",
            )
            body = {"error": "rate_limited", "retry_after": decision.reset_seconds}
            await json_response(body, 429, headers)(scope, receive, send)
            return
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        names = {name for name, _ in raw}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message["headers"] = kept + raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
