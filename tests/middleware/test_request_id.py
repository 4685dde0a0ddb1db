from __future__ import annotations

import uuid

import httpx
import pytest

from apitest.middleware.request_id import acceptable


@pytest.mark.parametrize(
    ("value", "ok"),
    [("abc", True), ("x" * 128, True), ("x" * 129, False), ("", False), ("a\nb", False), ("é", False), ("a b", True)],
)
def test_acceptable(value: str, ok: bool) -> None:
    assert acceptable(value) is ok


async def test_client_id_is_kept(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"


@pytest.mark.parametrize("bad", ["x" * 200, "bad\tid"])
async def test_bad_client_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    r = await client.get("/nope", headers={"X-Request-Id": bad})
    assert uuid.UUID(r.headers["x-request-id"]).version == 4


async def test_generated_when_absent(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/whoami")
    assert uuid.UUID(r.headers["x-request-id"]).version == 4
