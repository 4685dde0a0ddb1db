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

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from sqlalchemy import Table, case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs
from apitest.auth.identity import ANONYMOUS, Identity
from apitest.db.models import RateLimitCounter
from apitest.endpoints.lab_limits import EXPLICIT_ROUTE, STATE_KEY, Decision, Limit, explicit_limit
from apitest.failures import note_failure
from apitest.http import ParamError, json_response
from apitest.pipeline import route_of
from apitest.services import Services

log = logs.get("ratelimit")

PURGE_EVERY_MS = 60_000
Clock = Callable[[], float]


def caller_of(scope: Scope) -> str:
    identity = scope.get("state", {}).get("identity")
    if not isinstance(identity, Identity) or identity.auth_type == ANONYMOUS.auth_type:
        client = scope.get("client")
        return f"anonymous@{client[0] if client else 'unknown'}"
    return f"{identity.auth_type}:{identity.key_name or identity.subject}"


class CounterStore(Protocol):
    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Count one request on ``key``; return (count in the window, window end in epoch ms)."""


class MemoryCounters:
    """Counters of one process (no database configured, or the database failed)."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[int, int]] = {}
        self.purged_ms = 0

    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        if now_ms - self.purged_ms >= PURGE_EVERY_MS:
            self.windows = {k: w for k, w in self.windows.items() if w[1] > now_ms}
            self.purged_ms = now_ms
        count, reset_at = self.windows.get(key, (0, 0))
        if reset_at <= now_ms:
            count, reset_at = 0, now_ms + window_ms
        self.windows[key] = (count + 1, reset_at)
        return count + 1, reset_at


SQLITE_LOCK_RETRIES = 8


class SQLCounters:
    """Counters in ``rate_limit_counters``: one atomic upsert per request, shared by every worker."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.table = cast(Table, RateLimitCounter.__table__)
        self.purged_ms = 0

    def upsert(self, key: str, window_ms: int, now_ms: int) -> Any:
        t = self.table
        insert = postgresql.insert if self.database.dialect == "postgresql" else sqlite.insert
        expired = t.c.reset_at_ms <= now_ms
        stmt = insert(t).values(key=key, count=1, reset_at_ms=now_ms + window_ms)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "count": case((expired, 1), else_=t.c.count + 1),
                "reset_at_ms": case((expired, now_ms + window_ms), else_=t.c.reset_at_ms),
            },
        )
        return stmt.returning(t.c.count, t.c.reset_at_ms)

    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Count one request. SQLite answers "database is locked" to a writer that loses a race between
        workers even within its busy timeout; the transaction was rolled back, so it is retried."""
        delay = 0.005
        for attempt in range(SQLITE_LOCK_RETRIES + 1):
            try:
                return await self._hit(key, window_ms, now_ms)
            except OperationalError as exc:
                if self.database.dialect != "sqlite" or "locked" not in str(exc) or attempt == SQLITE_LOCK_RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        async with self.database.engine.begin() as conn:
            count, reset_at = (await conn.execute(self.upsert(key, window_ms, now_ms))).one()
            if now_ms - self.purged_ms >= PURGE_EVERY_MS:
                self.purged_ms = now_ms
                await conn.execute(delete(self.table).where(self.table.c.reset_at_ms <= now_ms))
        return int(count), int(reset_at)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, services: Services, clock: Clock = time.time) -> None:
        self.app = app
        self.services = services
        self.clock = clock
        settings = services.settings.rate_limit
        self.groups: Mapping[str, int] = settings.groups if settings.enabled else {}
        self.window_s = settings.window_seconds
        self.memory = MemoryCounters()
        self.sql: SQLCounters | None = None
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

    def store(self) -> CounterStore:
        database = self.services.database
        if database is None:
            return self.memory
        if self.sql is None or self.sql.database is not database:
            self.sql = SQLCounters(database)
        return self.sql

    async def decide(self, limit: Limit, caller: str) -> Decision:
        now_ms = int(self.clock() * 1000)
        key = f"{limit.bucket}|{caller}"
        store = self.store()
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
