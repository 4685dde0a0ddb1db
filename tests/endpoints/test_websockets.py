"""``/v1/ws/echo`` and ``/v1/ws/stream`` through a real uvicorn (the production httptools + uvloop stack
and uvicorn's default WebSocket implementation), with the auth chain and a SQLite audit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from apitest.audit.records import AuditFilters, EventRecord
from apitest.db.engine import upgrade
from apitest.endpoints.seeded import stream_word
from tests.audit.test_live import rows_eventually
from tests.support import make_app
from tests.wire import Served, serve

KEY = "ws-test-key-0123456789"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ws')}/apitest.db"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def served(db: str) -> Iterator[Served]:
    app = make_app(
        {
            "auth": {"allow_anonymous": False},
            "api_keys": {"file": [{"name": "wskey", "key": KEY, "scopes": ["read"]}]},
            "database": {"url": db},
            "audit": {"enabled": True, "flush_interval_ms": 20},
        },
        groups=["streaming"],
    )
    with serve(app, http="httptools", loop="uvloop") as running:
        yield running


def ws_url(served: Served, path: str) -> str:
    return f"ws://127.0.0.1:{served.port}{path}"


def open_ws(served: Served, path: str, rid: str, **headers: str) -> Any:
    return connect(ws_url(served, path), additional_headers={"X-API-Key": KEY, "X-Request-Id": rid} | headers)


async def session_row(db: str, rid: str) -> EventRecord:
    [row] = await rows_eventually(db, AuditFilters(request_id=rid))
    return row


async def test_echo_text_and_binary_then_close_after(served: Served, db: str) -> None:
    rid = uuid.uuid4().hex
    with open_ws(served, "/v1/ws/echo?close_after=2&close_code=4001", rid) as ws:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\x01\x02")
        assert ws.recv() == b"\x00\x01\x02"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    row = await session_row(db, rid)
    assert (row.status, row.route_name, row.endpoint_group, row.api_key_name) == (101, "ws_echo", "streaming", "wskey")
    assert (row.success, row.error_category) == (False, "fault_injected")
    facts = row.details["websocket"]  # type: ignore[index]
    assert facts | {"duration_ms": 0} == {
        "accepted": True,
        "messages_in": 2,
        "messages_out": 2,
        "bytes_in": 9,
        "bytes_out": 9,
        "close_code": 4001,
        "closed_by": "server",
        "duration_ms": 0,
    }
    assert (row.bytes_in, row.bytes_out) == (9, 9)


async def test_a_client_close_is_a_successful_session(served: Served, db: str) -> None:
    rid = uuid.uuid4().hex
    with open_ws(served, "/v1/ws/echo", rid) as ws:
        ws.send("one")
        assert ws.recv() == "one"
    row = await session_row(db, rid)
    assert (row.status, row.success, row.error_category) == (101, True, None)
    assert row.details["websocket"]["closed_by"] == "client"  # type: ignore[index]
    assert row.details["websocket"]["close_code"] == 1000  # type: ignore[index]


def test_idle_pings_are_text_messages(served: Served) -> None:
    with open_ws(served, "/v1/ws/echo?idle_ms=50", uuid.uuid4().hex) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"type": "ping", "seq": 1}
        assert json.loads(ws.recv(timeout=5)) == {"type": "ping", "seq": 2}


async def test_stream_pushes_seeded_messages_then_closes(served: Served, db: str) -> None:
    rid = uuid.uuid4().hex
    with open_ws(served, "/v1/ws/stream?count=3&interval_ms=20&seed=s1", rid) as ws:
        messages = [json.loads(m) for m in ws]
    assert [(m["seq"], m["word"]) for m in messages] == [(i, stream_word("s1", i)) for i in range(3)]
    assert messages[0]["sent_at"] <= messages[1]["sent_at"] <= messages[2]["sent_at"]
    row = await session_row(db, rid)
    assert row.details["websocket"]["messages_out"] == 3  # type: ignore[index]
    assert (row.status, row.success, row.route_name) == (101, True, "ws_stream")


@pytest.mark.parametrize(
    ("headers", "status", "category"),
    [({"X-API-Key": ""}, 401, "missing_credential"), ({"X-API-Key": "wrong"}, 401, "invalid_credential")],
)
async def test_a_bad_credential_refuses_the_handshake_with_the_http_answer(
    served: Served, db: str, headers: dict[str, str], status: int, category: str
) -> None:
    rid = uuid.uuid4().hex
    extra = {"X-Request-Id": rid} | {k: v for k, v in headers.items() if v}
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(served, "/v1/ws/echo"), additional_headers=extra)
    response = refused.value.response
    assert response.status_code == status
    assert "www-authenticate" in {k.lower() for k in response.headers}
    assert "error" in json.loads(response.body or b"{}")
    row = await session_row(db, rid)
    assert (row.status, row.success, row.error_category) == (status, False, category)


def test_the_key_may_come_in_the_query(served: Served) -> None:
    with connect(ws_url(served, f"/v1/ws/echo?api_key={KEY}")) as ws:
        ws.send("q")
        assert ws.recv() == "q"


async def test_a_bad_parameter_closes_the_handshake_with_1008(served: Served, db: str) -> None:
    rid = uuid.uuid4().hex
    with pytest.raises(InvalidStatus) as refused:
        open_ws(served, "/v1/ws/echo?close_code=1005", rid)
    assert refused.value.response.status_code == 403
    row = await session_row(db, rid)
    assert (row.status, row.success, row.error_category) == (403, False, "bad_request")
    assert row.error_message == "close_code must be 1000-1003, 1007-1014 or 3000-4999"
    assert row.details["websocket"]["close_code"] == 1008  # type: ignore[index]


def test_plain_http_gets_426(served: Served) -> None:
    r = httpx.get(f"{served.url}/v1/ws/echo", headers={"X-API-Key": KEY})
    assert (r.status_code, r.headers["upgrade"]) == (426, "websocket")


def test_client_messages_do_not_stop_a_stream(served: Served) -> None:
    with open_ws(served, "/v1/ws/stream?count=3&interval_ms=50", uuid.uuid4().hex) as ws:
        ws.send("ignored")
        assert [json.loads(m)["seq"] for m in ws] == [0, 1, 2]
