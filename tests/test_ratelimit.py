"""Rate limiting: the counters (memory and database), the headers, and the pipeline stage, driven to
exhaustion and past the reset with a fake clock, then once more with the real clock on a real server."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from apitest.counters import CounterStore, MemoryCounters, SQLCounters
from apitest.db.engine import Database
from apitest.endpoints.lab_limits import Decision
from apitest.identity import ANONYMOUS, Identity
from apitest.outcome import OUTCOME_KEY, RequestOutcome, outcome_of
from apitest.ratelimit import RateLimitMiddleware
from apitest.registry import ROUTE_KEY, RouteSpec
from tests.support import live_server, make_app, make_settings
from tests.wire import captured_logs

T0 = 1_800_000_000.25  # a quarter second into a wall-clock second: windows are not aligned to it


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def never(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not reached")


def route(name: str, group: str) -> RouteSpec:
    return RouteSpec(name, "GET", f"/v1/{name}", group, "", never)  # type: ignore[arg-type]


LAB = route("resource", "lab")
DATA = route("fixed", "data")
LIMITED = route("limited", "lab")


class Harness:
    """The stage over a handler answering 200 with a preset header, called with a chosen route and caller."""

    def __init__(self, settings: Any, clock: Clock, database: Database | None = None) -> None:
        self.calls = 0
        counters: CounterStore = SQLCounters(database) if database is not None else MemoryCounters()
        self.stage = RateLimitMiddleware(self.handler, settings=settings.rate_limit, counters=counters, clock=clock)

    async def handler(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        headers = [(b"content-type", b"text/plain"), (b"ratelimit-limit", b"forged")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(
        self, spec: RouteSpec = LAB, identity: Identity = ANONYMOUS, client: str = "10.0.0.1", query: bytes = b""
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": spec.path,
            "headers": [],
            "query_string": query,
            "client": (client, 5000),
            "state": {},
            OUTCOME_KEY: RequestOutcome(identity=identity),
            ROUTE_KEY: spec,
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        await self.stage(scope, receive, send)
        names = [n.decode() for n, _ in sent[0]["headers"]]
        assert len(names) == len(set(names)), f"duplicate headers: {names}"
        headers = {n.decode(): v.decode() for n, v in sent[0]["headers"]}
        return sent[0]["status"], headers, sent[1]["body"], {**scope.get("state", {}), **outcome_of(scope).as_state()}


def settings(**rate_limit: Any) -> Any:
    return make_settings({"rate_limit": {"groups": {"lab": 3}, "window_seconds": 60} | rate_limit})


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_group_limit_to_exhaustion_and_past_the_reset(clock: Clock) -> None:
    h = Harness(settings(), clock)
    for remaining, reset in ((2, "60"), (1, "50"), (0, "40")):
        status, headers, _, _ = await h.call()
        assert status == 200
        assert headers["ratelimit-remaining"] == headers["x-ratelimit-remaining"] == str(remaining)
        assert headers["ratelimit-limit"] == headers["x-ratelimit-limit"] == "3"
        assert headers["ratelimit-reset"] == reset
        assert headers["ratelimit-policy"] == "3;w=60"
        assert headers["x-ratelimit-reset"] == str(math.ceil(T0 + 60))
        assert "retry-after" not in headers
        clock.now += 10
    status, headers, body, state = await h.call()  # t0 + 30 s
    assert status == 429
    assert body == b'{"error":"rate_limited","retry_after":30}\n'
    assert headers["retry-after"] == headers["ratelimit-reset"] == "30"
    assert headers["ratelimit-remaining"] == "0"
    assert headers["content-type"] == "application/json"
    assert state["error_category"] == "rate_limited"
    assert state["error_message"] == ("request 4 in a 60s window exceeds the limit of 3 (group:lab); retry after 30s")
    assert h.calls == 3
    clock.now = T0 + 59.999
    status, headers, _, _ = await h.call()
    assert (status, headers["retry-after"]) == (429, "1")
    clock.now = T0 + 60  # the window is over: a new one starts with this request
    status, headers, _, _ = await h.call()
    assert status == 200
    assert headers["ratelimit-remaining"] == "2"
    assert headers["x-ratelimit-reset"] == str(math.ceil(T0 + 120))
    assert h.calls == 4


@pytest.mark.parametrize(
    ("elapsed", "reset"), [(0, 60), (0.001, 60), (0.999, 60), (1, 59), (58.5, 2), (59, 1), (59.999, 1)]
)
async def test_reset_counts_whole_seconds_up(clock: Clock, elapsed: float, reset: int) -> None:
    h = Harness(settings(groups={"lab": 100}), clock)
    await h.call()
    clock.now += elapsed
    _, headers, _, _ = await h.call()
    assert headers["ratelimit-reset"] == str(reset)


async def test_callers_are_counted_apart(clock: Clock) -> None:
    h = Harness(settings(groups={"lab": 1}), clock)
    alice = Identity(subject="alice", auth_type="apikey", key_name="alice-key")
    bob = Identity(subject="bob", auth_type="bearer", key_name="bob-token")
    oidc_alice = Identity(subject="alice", auth_type="oidc")
    for caller in ({"identity": alice}, {"identity": bob}, {"identity": oidc_alice}, {"client": "10.0.0.2"}, {}):
        assert (await h.call(**caller))[0] == 200
    for caller in ({"identity": alice}, {"identity": bob}, {"identity": oidc_alice}, {"client": "10.0.0.2"}, {}):
        assert (await h.call(**caller))[0] == 429


async def test_groups_are_counted_apart_and_unlisted_groups_are_free(clock: Clock) -> None:
    h = Harness(settings(groups={"lab": 1, "data": 2}), clock)
    assert (await h.call(LAB))[0] == 200
    assert (await h.call(LAB))[0] == 429
    assert [(await h.call(DATA))[0] for _ in range(3)] == [200, 200, 429]
    h = Harness(settings(groups={"data": 2}), clock)
    statuses = [await h.call(LAB) for _ in range(5)]
    assert {s for s, _, _, _ in statuses} == {200}
    assert all(
        "ratelimit-limit" not in headers or headers["ratelimit-limit"] == "forged" for _, headers, _, _ in statuses
    )


async def test_disabled_rate_limit_keeps_the_explicit_limit(clock: Clock) -> None:
    h = Harness(settings(enabled=False), clock)
    assert [(await h.call(LAB))[0] for _ in range(5)] == [200] * 5
    assert [(await h.call(LIMITED, query=b"limit=2"))[0] for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("query", "limit", "policy"),
    [
        (b"", "10", "10;w=60"),
        (b"limit=2&window_s=5", "2", "2;w=5"),
        (b"limit=10000&window_s=3600", "10000", "10000;w=3600"),
    ],
)
async def test_explicit_limit_replaces_the_group_limit(clock: Clock, query: bytes, limit: str, policy: str) -> None:
    h = Harness(settings(groups={"lab": 1}), clock)
    _, headers, _, _ = await h.call(LIMITED, query=query)
    assert (headers["ratelimit-limit"], headers["ratelimit-policy"]) == (limit, policy)


async def test_explicit_limits_are_separate_counters(clock: Clock) -> None:
    h = Harness(settings(), clock)
    assert [(await h.call(LIMITED, query=b"limit=1"))[0] for _ in range(2)] == [200, 429]
    assert (await h.call(LIMITED, query=b"limit=1&window_s=30"))[0] == 200
    assert (await h.call(LIMITED, query=b"limit=2"))[0] == 200


@pytest.mark.parametrize("query", [b"limit=0", b"limit=x", b"window_s=3601", b"limit=10001"])
async def test_invalid_explicit_limit_is_left_to_the_handler(clock: Clock, query: bytes) -> None:
    h = Harness(settings(), clock)
    status, headers, _, state = await h.call(LIMITED, query=query)
    assert status == 200 and h.calls == 1  # the handler answers 400 in the real route
    assert headers["ratelimit-limit"] == "forged"
    assert "rate_limit" not in state


async def test_handler_headers_of_the_same_name_are_replaced(clock: Clock) -> None:
    h = Harness(settings(), clock)
    _, headers, _, _ = await h.call()
    assert headers["ratelimit-limit"] == "3"


@pytest.mark.parametrize(
    ("limit", "count", "reset_at_ms", "now_ms", "expected"),
    [
        (5, 1, 60_000, 0, {"RateLimit-Remaining": "4", "RateLimit-Reset": "60", "X-RateLimit-Reset": "60"}),
        (5, 5, 60_000, 0, {"RateLimit-Remaining": "0"}),
        (5, 9, 61_500, 1_000, {"RateLimit-Remaining": "0", "Retry-After": "61", "X-RateLimit-Reset": "62"}),
        (1, 2, 1_000, 999, {"RateLimit-Reset": "1", "Retry-After": "1"}),
    ],
)
def test_decision_headers(limit: int, count: int, reset_at_ms: int, now_ms: int, expected: dict[str, str]) -> None:
    headers = Decision(limit, 60, count, reset_at_ms, now_ms).headers()
    assert expected.items() <= headers.items()
    assert ("Retry-After" in headers) == (count > limit)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str | None:
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


async def test_counter_windows(backend: str | None) -> None:
    database = Database(backend) if backend else None
    try:
        store = SQLCounters(database) if database else MemoryCounters()
        key = f"test|{time.monotonic_ns()}"
        assert await store.hit(key, 1000, 5000) == (1, 6000)
        assert await store.hit(key, 1000, 5999) == (2, 6000)
        assert await store.hit(key, 1000, 6000) == (1, 7000)
        assert await store.hit(key, 5000, 6001) == (2, 7000)  # a running window keeps its end
        assert await store.hit("other|" + key, 1000, 6001) == (1, 7001)
    finally:
        if database:
            await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


async def test_database_counters_are_atomic_across_engines(database_url: str) -> None:
    """Forty hits at once through two engines (two workers): every count from 1 to 40 exactly once, and
    one window end for all of them."""
    first, second = Database(database_url), Database(database_url)
    try:
        stores = [SQLCounters(first), SQLCounters(second)]
        hits = [stores[i % 2].hit("shared|x", 60_000, 1_000 + i) for i in range(40)]
        results = await asyncio.wait_for(asyncio.gather(*hits), 30)
        assert sorted(count for count, _ in results) == list(range(1, 41))
        assert len({reset for _, reset in results}) == 1
    finally:
        await first.dispose()
        await second.dispose()


async def test_two_stages_on_one_database_share_the_limit(clock: Clock, database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        workers = [Harness(settings(), clock, first), Harness(settings(), clock, second)]
        statuses = [(await workers[i % 2].call())[0] for i in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
    finally:
        await first.dispose()
        await second.dispose()


async def test_database_failure_falls_back_to_memory_and_warns_once(clock: Clock) -> None:
    broken = Database("postgresql+asyncpg://nobody:pw@127.0.0.1:1/none")
    try:
        h = Harness(settings(), clock, broken)
        with captured_logs("apitest.ratelimit", level=logging.WARNING) as records:
            statuses = [(await h.call())[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert [r.getMessage() for r in records] == ["rate limit counters unavailable; counting in memory"]
    finally:
        await broken.dispose()


async def test_auth_rejections_are_not_counted() -> None:
    """The stage sits inside auth: a 401 never reaches it, so it carries no rate-limit headers."""
    overrides = {
        "auth": {"allow_anonymous": False},
        "api_keys": {"file": [{"name": "k", "key": "a-long-enough-test-key"}]},
        "rate_limit": {"groups": {"lab": 1}},
    }
    app = make_app(overrides, groups=["lab"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(3):
                r = await client.get("/v1/resources/1")
                assert r.status_code == 401
                assert "ratelimit-limit" not in r.headers


@pytest.fixture(scope="module")
def live() -> Iterator[Any]:
    with live_server(make_app({"rate_limit": {"groups": {"lab": 1000}}}, groups=["lab"])) as server:
        yield server


def test_real_server_limit_to_exhaustion_and_past_its_reset(live: Any) -> None:
    """limit=3 per 2 s on a real server with the real clock: 3 pass, the 4th and 5th are refused with the
    right Retry-After, and after the reset a new window starts."""
    with httpx.Client(base_url=live.url, timeout=5) as client:
        url = f"/v1/limited?limit=3&window_s=2&run={time.monotonic_ns()}"
        started = time.time()
        answers = [client.get(url) for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0", "0"]
        assert answers[0].json() == {"limit": 3, "window_s": 2, "remaining": 2, "reset": 2}
        refused = answers[3]
        assert refused.json() == {"error": "rate_limited", "retry_after": int(refused.headers["retry-after"])}
        assert refused.headers["retry-after"] in ("1", "2")
        assert int(refused.headers["x-ratelimit-reset"]) in range(int(started) + 1, int(started) + 4)
        assert refused.headers["x-ratelimit-reset"] == answers[0].headers["x-ratelimit-reset"]
        time.sleep(int(refused.headers["retry-after"]) + 0.05)
        again = client.get(url)
        assert again.status_code == 200
        assert again.headers["ratelimit-remaining"] == "2"
        assert int(again.headers["x-ratelimit-reset"]) > int(refused.headers["x-ratelimit-reset"]) - 1


def test_group_limit_headers_on_every_lab_response(live: Any) -> None:
    with httpx.Client(base_url=live.url, timeout=5) as client:
        for path in (
            "/v1/resources/1",
            "/v1/resources/10000",
            "/v1/resources/x",
            "/v1/crash",
            "/v1/respond?status=503",
        ):
            r = client.get(path)
            assert r.headers["ratelimit-limit"] == "1000", path
            assert r.headers["ratelimit-policy"] == "1000;w=60", path
        assert "ratelimit-limit" not in client.get("/version").headers
