from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory


async def test_root_banner(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "api-test"
    assert body["endpoint_groups"][0] == "identity"
    assert body["endpoints"] == len(client.app.state.services.routes)  # type: ignore[attr-defined]
    assert list(body["links"]) == sorted(body["links"])
    assert r.headers["content-type"] == "application/json"
    assert r.content.endswith(b"\n")


async def test_disabled_group_is_absent(client_factory: ClientFactory) -> None:
    client = await client_factory(groups=["data"])
    assert (await client.get("/v1/whoami")).status_code == 404
    assert (await client.get("/")).json()["endpoint_groups"] == ["data"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
async def test_unknown_path_is_json_404_for_every_method(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "no such endpoint"}
    assert r.headers["content-type"] == "application/json"


async def test_no_trailing_slash_redirect(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/whoami/")
    assert r.status_code == 404


async def test_wrong_method_is_405_with_sorted_allow(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/whoami")
    assert r.status_code == 405
    assert r.json() == {"error": "method not allowed"}
    assert r.headers["allow"] == "GET, HEAD"


async def test_head_on_get_route(client: httpx.AsyncClient) -> None:
    r = await client.head("/v1/whoami")
    assert r.status_code == 200


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).text == "ok"
    r = await client.get("/readyz")
    assert (r.status_code, r.text) == (200, "ready")
    client.app.state.services.lifecycle.draining = True  # type: ignore[attr-defined]
    r = await client.get("/readyz")
    assert (r.status_code, r.text) == (503, "draining")
