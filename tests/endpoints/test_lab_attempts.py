"""``/v1/attempts/{key}``: fail the first N attempts of a key, then succeed; in memory and in SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from apitest.attempts import AttemptCounters
from tests.support import make_app
from tests.wire import Served, StateRecorder, exchange, recorded_client, request_bytes, serve


@pytest.fixture(params=["memory", "sqlite"])
def overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    return {"database": {"url": request.getfixturevalue("sqlite_url"), "migrate_on_boot": False}}


@pytest.fixture
async def lab(overrides: dict[str, Any]) -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    async with recorded_client(overrides) as pair:
        yield pair


async def test_fails_twice_then_succeeds(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, recorder = lab
    url = f"/v1/attempts/{uuid.uuid4().hex}?fail=2&status=503&then=200"
    answers = [await client.get(url) for _ in range(4)]
    assert [r.status_code for r in answers] == [503, 503, 200, 200]
    assert [r.headers["apitest-attempt"] for r in answers] == ["1", "2", "3", "4"]
    assert [r.json()["outcome"] for r in answers] == ["failed", "failed", "succeeded", "succeeded"]
    states = recorder.states[-4:]
    assert [s["audit_details"]["attempt"] for s in states] == [1, 2, 3, 4]
    assert [s.get("error_category") for s in states] == ["fault_injected", "fault_injected", None, None]
    assert states[0]["error_message"].startswith("attempt 1 of 2 failing attempts of key")


async def test_any_method_counts_and_keys_are_independent(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    a, b = f"/v1/attempts/a-{uuid.uuid4().hex}", f"/v1/attempts/b-{uuid.uuid4().hex}"
    assert (await client.post(a + "?fail=1")).status_code == 503
    assert (await client.put(a + "?fail=1")).status_code == 200
    assert (await client.patch(b + "?fail=1&status=429")).status_code == 429
    assert (await client.get(b + "?fail=1&then=204")).status_code == 204


async def test_delete_resets_the_count(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    url = f"/v1/attempts/{uuid.uuid4().hex}"
    assert (await client.get(url)).headers["apitest-attempt"] == "1"
    assert (await client.get(url)).headers["apitest-attempt"] == "2"
    reset = await client.delete(url)
    assert (reset.status_code, reset.json()) == (200, {"key": url.rsplit("/", 1)[1], "reset": True})
    assert (await client.delete(url)).json()["reset"] is False
    assert (await client.get(url)).headers["apitest-attempt"] == "1"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?fail=-1", "fail must be a non-negative integer"),
        ("?fail=1001", "fail 1001 exceeds max 1000"),
        ("?status=199", "status must be an integer in [200, 599]"),
        ("?then=600", "then 600 exceeds max 599"),
        ("?status=598", "status 598 is not a registered HTTP status"),
        ("?mode=drop", "mode must be one of status, timeout, reset"),
        ("?ttl_s=0", "ttl_s must be a positive integer"),
        ("?delay_ms=60001", "delay_ms 60001 exceeds max 60000"),
    ],
)
async def test_parameter_errors_do_not_count(
    lab: tuple[httpx.AsyncClient, StateRecorder], query: str, message: str
) -> None:
    client, _ = lab
    url = f"/v1/attempts/{uuid.uuid4().hex}"
    r = await client.get(url + query)
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert (await client.get(url)).headers["apitest-attempt"] == "1"


async def test_reset_mode_needs_the_connection(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    url = f"/v1/attempts/{uuid.uuid4().hex}"
    r = await client.get(url + "?mode=reset")
    assert r.status_code == 501
    assert (await client.get(url)).headers["apitest-attempt"] == "1"  # the refused attempt was not counted


async def test_timeout_mode_answers_the_status_after_the_delay(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, _ = lab
    url = f"/v1/attempts/{uuid.uuid4().hex}?mode=timeout&delay_ms=10&status=504"
    assert [(await client.get(url)).status_code for _ in range(2)] == [504, 200]


async def test_a_key_restarts_after_its_ttl() -> None:
    now = [1000.0]
    counters = AttemptCounters(None, clock=lambda: now[0])
    assert [await counters.next("k", 10) for _ in range(2)] == [1, 2]
    now[0] += 10
    assert await counters.next("k", 10) == 1


async def test_sql_counters_are_shared_and_reset(db_url: str) -> None:
    """Two counter objects on one database (two workers) agree; SQLite here, PostgreSQL in make integration."""
    app = make_app({"database": {"url": db_url}}, groups=["lab"])
    async with app.router.lifespan_context(app):
        state = app.state
        one, two = AttemptCounters(state.database), AttemptCounters(state.database)
        assert [await one.next("k", 60), await two.next("k", 60), await one.next("k", 60)] == [1, 2, 3]
        assert await two.reset("k") is True
        assert await one.next("k", 60) == 1


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve(make_app(groups=["lab"]), http="httptools", loop="uvloop") as running:
        yield running


def test_reset_mode_resets_the_connection_then_succeeds(served: Served) -> None:
    target = f"/v1/attempts/{uuid.uuid4().hex}?mode=reset&fail=1"
    first = exchange(served.port, request_bytes("GET", target))
    assert (first.data, first.end) == (b"", "reset")
    second = exchange(served.port, request_bytes("GET", target, {"Connection": "close"}))
    assert second.status == 200
    assert second.header("apitest-attempt") == "2"


def test_details_key_is_the_audit_one() -> None:
    from apitest import failures
    from apitest.audit import capture

    assert failures.AUDIT_DETAILS_KEY == capture.AUDIT_DETAILS_KEY


@pytest.mark.parametrize("code", [204, 304])
async def test_statuses_without_a_body(lab: tuple[httpx.AsyncClient, StateRecorder], code: int) -> None:
    client, _ = lab
    r = await client.get(f"/v1/attempts/{uuid.uuid4().hex}?fail=1&status={code}")
    assert (r.status_code, r.content, r.headers["apitest-attempt"]) == (code, b"", "1")
