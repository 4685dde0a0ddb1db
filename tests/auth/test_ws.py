"""WebSocket upgrades through the /v1 auth chain: the denial response when the server can send one, else 1008."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from apitest.auth.chain import build_chain
from apitest.auth.ws import WebSocketAuth
from apitest.identity import Identity
from apitest.outcome import outcome_of
from tests.support import make_settings

SETTINGS = make_settings(
    {"auth": {"allow_anonymous": False}, "api_keys": {"file": [{"name": "k", "key": "right-key-0123456789"}]}}
)


def upgrade(key: str | None, extensions: dict[str, Any] | None) -> dict[str, Any]:
    headers = [(b"host", b"testserver")] + ([(b"x-api-key", key.encode())] if key else [])
    scope: dict[str, Any] = {"type": "websocket", "path": "/v1/ws/echo", "headers": headers, "query_string": b""}
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


async def run(scope: Scope) -> tuple[list[Message], list[Scope]]:
    sent: list[Message] = []
    reached: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await WebSocketAuth(inner, settings=SETTINGS, chain=build_chain(SETTINGS))(scope, receive, send)
    return sent, reached


async def test_a_good_key_reaches_the_session_with_its_identity() -> None:
    sent, reached = await run(upgrade("right-key-0123456789", {"websocket.http.response": {}}))
    assert sent == []
    [scope] = reached
    identity = outcome_of(scope).identity
    assert isinstance(identity, Identity) and identity.key_name == "k"


@pytest.mark.parametrize(("key", "category"), [(None, "missing_credential"), ("wrong", "invalid_credential")])
async def test_a_refusal_is_the_http_answer_with_the_extension(key: str | None, category: str) -> None:
    scope = upgrade(key, {"websocket.http.response": {}})
    sent, reached = await run(scope)
    assert reached == []
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 401
    assert any(name == b"www-authenticate" for name, _ in sent[0]["headers"])
    assert sent[-1]["type"] == "websocket.http.response.body"
    assert outcome_of(scope).error_category == category


async def test_without_the_extension_the_handshake_is_closed_with_1008() -> None:
    sent, reached = await run(upgrade("wrong", None))
    assert reached == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid_credential"}]


async def test_http_scopes_pass_straight_through() -> None:
    sent, reached = await run({"type": "http", "path": "/v1/x", "headers": [], "query_string": b""})
    assert (sent, len(reached)) == ([], 1)
