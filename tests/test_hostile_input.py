"""Regressions from the bad-input sweep (tests/reliability/test_bad_input.py), in process and fast."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from apitest.outcome import outcome_of
from tests.conftest import ClientFactory
from tests.support import make_app


@pytest.mark.parametrize("depth", [900, 990, 1000, 5000, 100_000])
async def test_echo_answers_deeply_nested_json_as_text_not_500(client: httpx.AsyncClient, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        resp = await client.post("/v1/echo", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 200
        data = resp.json()
        assert data["body_size"] == len(body)
        assert "body" in data or data["body_raw_text"] == body.decode()


async def test_a_client_leaving_mid_body_is_not_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "http.request", "body": b'{"a": ', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/echo",
        "raw_path": b"/v1/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), (b"content-length", b"1000"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    errors = logging.getLogger("apitest.errors")
    errors.addHandler(caplog.handler)
    try:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
    finally:
        errors.removeHandler(caplog.handler)
    assert not [m for m in sent if m["type"] == "http.response.start"], "nobody is left to answer"
    assert not [r for r in caplog.records if r.name == "apitest.errors"]
    assert outcome_of(scope).error_category == "client_disconnected"


async def test_echo_still_reads_a_whole_body(client_factory: ClientFactory) -> None:
    client = await client_factory()
    resp = await client.post("/v1/echo", content=b'{"b":1,"a":[1,2]}', headers={"Content-Type": "application/json"})
    assert resp.json()["body"] == {"a": [1, 2], "b": 1}
