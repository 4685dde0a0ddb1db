"""The per-request shortcuts taken after profiling (docs/performance.md) keep the behaviour they replace."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from apitest.middleware.connection import Transport, is_transport
from apitest.middleware.edge import Edge
from tests.support import make_app


class FullTransport:
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class NoAbort:
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


async def test_the_cached_transport_check_agrees_with_isinstance() -> None:
    loop = asyncio.get_running_loop()
    reader_transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, _socketpair_end())
    try:
        for value in (None, object(), "x", FullTransport(), NoAbort(), reader_transport, FullTransport()):
            assert is_transport(value) is isinstance(value, Transport)
    finally:
        reader_transport.close()


def _socketpair_end() -> Any:
    import socket

    a, b = socket.socketpair()
    b.close()
    return a


def raw_app(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def responses_of(app: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/x", headers={"Origin": "https://a.example"})


async def test_cors_headers_replace_any_the_handler_set_in_the_usual_order() -> None:
    app = Edge(
        raw_app([(b"Access-Control-Allow-Origin", b"https://evil.example"), (b"x-a", b"1")]), allowed_origins=["*"]
    )
    resp = await responses_of(app)
    names = [k.decode().lower() for k, _ in resp.headers.raw]
    assert resp.headers.get_list("access-control-allow-origin") == ["*"]
    assert names[-5:] == [
        "access-control-allow-origin",
        "access-control-expose-headers",
        "content-security-policy",
        "x-content-type-options",
        "x-request-id",
    ]
    assert resp.headers["x-a"] == "1"


async def test_a_listed_origin_still_gets_vary_and_its_own_name() -> None:
    app = Edge(raw_app([]), allowed_origins=["https://a.example"])
    resp = await responses_of(app)
    assert resp.headers["access-control-allow-origin"] == "https://a.example"
    assert resp.headers["vary"] == "Origin"


async def test_the_request_id_header_is_set_once_and_last() -> None:
    app = Edge(raw_app([(b"X-Request-Id", b"from-handler"), (b"x-b", b"2")]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/x", headers={"X-Request-Id": "client-id-1"})
    assert resp.headers.get_list("x-request-id") == ["client-id-1"]
    assert [k.decode().lower() for k, _ in resp.headers.raw][-1] == "x-request-id"


async def test_v1_routes_come_first_and_routing_answers_are_unchanged() -> None:
    app = make_app()
    paths = [getattr(r, "path", "") for r in app.router.routes]
    first_other = next(i for i, p in enumerate(paths) if not p.startswith("/v1/"))
    # then the other routes, and last the catch-all that audits any other /v1 path as a 404
    assert paths[-2:] == ["/v1", "/v1/{rest:path}"]
    assert all(not p.startswith("/v1") for p in paths[first_other:-2])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v1/whoami")).status_code == 200
            assert (await client.get("/healthz")).text == "ok"
            assert (await client.get("/")).status_code == 200
            missing = await client.get("/v1/nope")
            assert (missing.status_code, missing.json()) == (404, {"error": "no such endpoint"})
            wrong = await client.delete("/v1/whoami")
            assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
