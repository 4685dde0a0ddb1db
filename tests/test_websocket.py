"""The /v1 WebSocket routes exist only for enabled session operations."""

from __future__ import annotations

import pytest
from starlette.routing import WebSocketRoute
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support import make_app
from tests.wire import serve


def websocket_routes(groups: list[str]) -> dict[str, str]:
    app = make_app(groups=groups)
    return {r.name: r.path for r in app.router.routes if isinstance(r, WebSocketRoute)}


def test_routes_follow_the_streaming_group() -> None:
    assert websocket_routes(["streaming"]) == {"ws_echo": "/v1/ws/echo", "ws_stream": "/v1/ws/stream"}
    assert websocket_routes(["lab"]) == {}


def test_a_disabled_group_refuses_the_upgrade() -> None:
    with serve(make_app(groups=["lab"])) as served, pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{served.port}/v1/ws/echo", open_timeout=5)
    assert refused.value.response.status_code == 403


def test_an_anonymous_session_without_audit() -> None:
    with serve(make_app(groups=["streaming"])) as served:
        with connect(f"ws://127.0.0.1:{served.port}/v1/ws/echo", open_timeout=5) as ws:
            ws.send("no audit configured")
            assert ws.recv(timeout=5) == "no audit configured"
