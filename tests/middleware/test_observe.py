"""The one response observer: the access line it writes is the line the JSON formatter writes, and the
request metrics count what the response was."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from apitest import logs
from apitest.identity import Identity
from tests.support import make_app


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The ``apitest`` loggers as :func:`apitest.logs.configure` sets them up, writing into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter())
    logger = logging.getLogger("apitest")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def only_ours() -> None:
    """pytest attaches its capture handlers to the ``apitest`` logger during a test; the fast path then
    (rightly) steps aside, so these tests take them off again."""
    logger = logging.getLogger("apitest")
    logger.handlers[:] = [h for h in logger.handlers if type(h) is logging.StreamHandler]


def test_the_fast_line_is_the_formatter_line(captured: io.StringIO) -> None:
    only_ours()
    log = logs.get("access")
    who = Identity(subject="sübject\u2028", auth_type="apikey")
    extra: dict[str, object] = {"method": "GET", "path": "/v1/x\u2028y", "status": 200, "bytes": 3}
    extra |= {"duration_ms": 1.5, "request_id": "r", "auth_type": who.auth_type, "subject": who.subject}
    assert logs.fast_write(log, "request", extra)
    log.info("request", extra=extra)
    fast, slow = captured.getvalue().splitlines()
    first, second = json.loads(fast), json.loads(slow)
    first.pop("time"), second.pop("time")
    assert list(first) == list(second) and first == second
    assert fast.split('"logger"')[1] == slow.split('"logger"')[1]  # byte for byte after the timestamp


def test_a_logger_set_up_otherwise_takes_the_normal_path(captured: io.StringIO) -> None:
    logging.getLogger("apitest").addHandler(logging.NullHandler())
    assert not logs.fast_write(logs.get("access"), "request", {"status": 200})
    assert captured.getvalue() == ""


async def test_one_line_and_one_count_per_request(captured: io.StringIO) -> None:
    only_ours()
    app = make_app({"metrics": {"enabled": True}})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            r = await client.get("/v1/whoami", headers={"X-Request-Id": "obs-1"})
            metrics = (await client.get("/metrics")).text
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    [line] = [x for x in lines if x.get("request_id") == "obs-1"]
    assert list(line)[:10] == [
        "time",
        "level",
        "logger",
        "msg",
        "method",
        "path",
        "status",
        "bytes",
        "duration_ms",
        "request_id",
    ]
    assert (line["msg"], line["status"], line["bytes"], line["auth_type"]) == (
        "request",
        200,
        len(r.content),
        "anonymous",
    )
    wanted = 'apitest_http_requests_total{auth_type="anonymous",method="GET",route="whoami",status="200"} 1.0'
    assert wanted in metrics


@pytest.mark.parametrize("identity", [None, Identity(subject='sübject\u2028"q"', auth_type="apikey")])
def test_the_access_line_is_the_formatter_line(captured: io.StringIO, identity: Identity | None) -> None:
    only_ours()
    log = logs.get("access")
    auth_type = identity.auth_type if identity else None
    subject = identity.subject if identity else None
    assert logs.write_access(log, "GET", '/v1/x\u2028y"', 200, 3, 1.5, "r\\id", auth_type, subject)
    extra: dict[str, object] = {"method": "GET", "path": '/v1/x\u2028y"', "status": 200, "bytes": 3}
    extra |= {"duration_ms": 1.5, "request_id": "r\\id"}
    if identity is not None:
        extra |= {"auth_type": auth_type, "subject": subject}
    log.info("request", extra=extra)
    fast, slow = captured.getvalue().splitlines()
    assert fast.split('"level"')[1] == slow.split('"level"')[1]  # byte for byte after the timestamp
    assert len(json.loads(fast)["time"]) == len(json.loads(slow)["time"]) == len("2026-01-01T00:00:00.000Z")
