"""Waiting for rows on GET /api/v1/portal/audit/events: flush, wait_ms and min_rows (a long poll)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apitest.portal.waiting import Wait, parse_wait
from tests.conftest import ClientFactory
from tests.portal.conftest import KEY, portal_overrides

H = {"X-API-Key": KEY}
SLOW_WRITER = {"audit": {"flush_interval_ms": 60_000}}  # rows appear only when something asks for a flush


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, None),
        ({"route_name": "whoami"}, None),
        ({"flush": "1"}, Wait(flush=True)),
        ({"wait_ms": "2500"}, Wait(wait_ms=2500)),
        ({"wait_ms": "0", "min_rows": "4"}, Wait(min_rows=4)),
        ({"wait_ms": "30000", "min_rows": "10000", "flush": "true"}, Wait(30000, 10000, True)),
    ],
)
def test_parse_wait(query: dict[str, str], expected: Wait | None) -> None:
    assert parse_wait(query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"wait_ms": "30001"}, "wait_ms must be an integer in [0, 30000]"),
        ({"wait_ms": "-1"}, "wait_ms must be an integer in [0, 30000]"),
        ({"wait_ms": "1.5"}, "wait_ms must be an integer in [0, 30000]"),
        ({"min_rows": "0"}, "min_rows must be an integer in [1, 10000]"),
        ({"flush": "yes"}, "flush must be 1 or 0"),
    ],
)
def test_parse_wait_refuses(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_wait(query)


@pytest.fixture
async def slow(client_factory: ClientFactory, tmp_path: Any) -> Any:
    return await client_factory(portal_overrides(tmp_path, SLOW_WRITER))


async def test_rows_are_not_there_without_waiting(slow: Any) -> None:
    for _ in range(4):
        assert (await slow.get("/v1/whoami", headers=H)).status_code == 200
    r = await slow.get("/api/v1/portal/audit/events", params={"route_name": "whoami"}, headers=H)
    assert r.json()["events"] == [] and "wait" not in r.json()


async def test_flush_makes_just_finished_requests_queryable(slow: Any) -> None:
    for _ in range(4):
        await slow.get("/v1/whoami", headers=H)
    r = await slow.get("/api/v1/portal/audit/events", params={"route_name": "whoami", "flush": "1"}, headers=H)
    assert len(r.json()["events"]) == 4
    assert r.json()["wait"]["met"] is True


async def test_a_long_poll_returns_when_the_rows_arrive(slow: Any) -> None:
    params = {"route_name": "whoami", "wait_ms": "10000", "min_rows": "3"}
    poll = asyncio.create_task(slow.get("/api/v1/portal/audit/events", params=params, headers=H))
    for _ in range(3):
        await asyncio.sleep(0.05)
        await slow.get("/v1/whoami", headers=H)
    r = await poll
    body = r.json()
    assert r.status_code == 200 and len(body["events"]) == 3
    assert body["wait"]["met"] is True and body["wait"]["min_rows"] == 3


async def test_a_long_poll_gives_up_at_its_deadline_with_what_there_is(slow: Any) -> None:
    await slow.get("/v1/whoami", headers=H)
    params = {"route_name": "whoami", "wait_ms": "150", "min_rows": "5"}
    body = (await slow.get("/api/v1/portal/audit/events", params=params, headers=H)).json()
    assert len(body["events"]) == 1
    assert body["wait"]["met"] is False


async def test_bad_wait_parameters_are_a_400(slow: Any) -> None:
    r = await slow.get("/api/v1/portal/audit/events", params={"wait_ms": "60000"}, headers=H)
    assert (r.status_code, r.json()) == (400, {"error": "wait_ms must be an integer in [0, 30000]"})
