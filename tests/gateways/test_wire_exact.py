"""Done-when of the wire-exact audit (docs/audit.md, "Reading a row: what the gateway sent"), through real
nginx and HAProxy on loopback: what each gateway sent is what each row shows.

Timing margins are generous on purpose: this is the gateway suite on a shared host, not a unit test.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateways.wire_gateways import (
    CLIENT_KEY,
    Apitest,
    NginxPorts,
    run_apitest,
    run_haproxy,
    run_nginx,
)

pytestmark = pytest.mark.gateways


@pytest.fixture(scope="module")
def wire_apitest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apitest]:
    with run_apitest(tmp_path_factory.mktemp("wire-apitest")) as running:
        yield running


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, wire_apitest: Apitest) -> Iterator[NginxPorts]:
    with run_nginx(tmp_path_factory.mktemp("wire-nginx"), wire_apitest.port) as ports:
        yield ports


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory: pytest.TempPathFactory, wire_apitest: Apitest) -> Iterator[int]:
    with run_haproxy(tmp_path_factory.mktemp("wire-haproxy"), wire_apitest.port) as port:
        yield port


def send(port: int, target: str, **headers: str) -> tuple[httpx.Response, str]:
    """One request through a gateway with a fresh X-Request-Id (nginx and HAProxy pass it on)."""
    request_id = f"wire-{uuid.uuid4()}"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        r = client.get(target, headers={"X-Request-Id": request_id, **headers})
    return r, request_id


def one_row(apitest: Apitest, request_id: str) -> dict[str, Any]:
    rows = apitest.rows(request_id)  # one wait_ms call, never a sleep
    assert len(rows) == 1, rows
    return rows[0]


def test_a_script_counts_its_rows_with_one_wait_ms_call(wire_apitest: Apitest, haproxy: int) -> None:
    r, request_id = send(haproxy, "/v1/whoami")
    assert r.status_code == 200
    started = time.monotonic()
    rows = wire_apitest.rows(request_id, min_rows=1, wait_ms=10_000)
    assert len(rows) == 1 and time.monotonic() - started < 10  # returned when the row existed
    assert rows[0]["id"] == r.headers["apitest-event-id"]  # the response names its row, through the gateway


def test_percent_2f_reaches_apitest_decoded_by_nginx_and_untouched_by_haproxy(
    wire_apitest: Apitest, nginx: NginxPorts, haproxy: int
) -> None:
    via_nginx, nginx_id = send(nginx.plain, "/v1/fixed/a%2Fb", Host="client.example")
    via_haproxy, haproxy_id = send(haproxy, "/v1/fixed/a%2Fb", Host="client.example")
    from_nginx, from_haproxy = one_row(wire_apitest, nginx_id), one_row(wire_apitest, haproxy_id)
    # Starlette decodes %2F before routing either way, so both are no-route 404s with the same decoded path ...
    assert via_nginx.status_code == via_haproxy.status_code == 404
    assert from_nginx["path"] == from_haproxy["path"] == "/v1/fixed/a/b"
    # ... and only raw_target shows what each gateway sent.
    assert from_nginx["raw_target"] == "/v1/fixed/a/b"
    assert from_haproxy["raw_target"] == "/v1/fixed/a%2Fb"
    # nginx talks HTTP/1.0 upstream and sends its proxy_host; HAProxy keeps HTTP/1.1 and the client's Host.
    assert (from_nginx["http_version"], from_nginx["host"]) == ("1.0", f"127.0.0.1:{wire_apitest.port}")
    assert (from_haproxy["http_version"], from_haproxy["host"]) == ("1.1", "client.example")
    names = [name for name, _ in from_nginx["header_list"]]
    assert names[:2] == ["Host", "Connection"]  # nginx's own headers first, as it spells them


def test_a_wrongly_rewritten_path_leaves_a_404_row(wire_apitest: Apitest, nginx: NginxPorts) -> None:
    r, request_id = send(nginx.wrong, "/api/whoami")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint"}
    row = one_row(wire_apitest, request_id)
    assert (row["status"], row["error_category"], row["route_name"]) == (404, "no_route", None)
    assert row["raw_target"] == "/v1/nope/whoami"


def test_the_client_s_key_and_the_gateway_s_key_have_different_fingerprints(
    wire_apitest: Apitest, nginx: NginxPorts, haproxy: int
) -> None:
    client, client_id = send(haproxy, "/v1/whoami", **{"X-API-Key": CLIENT_KEY})
    injected, injected_id = send(nginx.inject, "/v1/whoami", **{"X-API-Key": CLIENT_KEY})
    assert client.json()["key_name"] == "client" and injected.json()["key_name"] == "gateway"
    (by_client,) = one_row(wire_apitest, client_id)["credentials"]
    by_gateway = one_row(wire_apitest, injected_id)["credentials"]
    assert by_client["used"] and by_client["valid"]
    used = [c for c in by_gateway if c["used"]]
    assert len(used) == 1 and used[0]["fingerprint"] != by_client["fingerprint"]
    assert client.json()["credentials"][0]["fingerprint"] == by_client["fingerprint"]  # whoami says the same
    assert CLIENT_KEY not in json.dumps(by_gateway)


async def _arrivals(port: int, target: str, request_id: str) -> tuple[float, list[float], bytes]:
    """Seconds from the request to each network read of the body, and the decoded body."""
    arrivals: list[float] = []
    raw = b""
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.monotonic()
        async with client.stream("GET", f"http://127.0.0.1:{port}{target}", headers={"X-Request-Id": request_id}) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_raw():
                if chunk:
                    arrivals.append(time.monotonic() - started)
                    raw += chunk
    gzipped = r.headers.get("content-encoding") == "gzip"
    return started, arrivals, zlib.decompress(raw, 16 + zlib.MAX_WBITS) if gzipped else raw


async def test_a_buffered_stream_and_an_unbuffered_one(wire_apitest: Apitest, nginx: NginxPorts) -> None:
    """nginx with gzip on and proxy_buffering on delivers the SSE items together at the end; with buffering off
    they arrive spaced. The rows keep the server's send offsets (and every item its sent_at), so a row read
    next to the client's arrival times tells the two apart."""
    count, delay_ms = 4, 600
    target = f"/v1/streaming/sse?count={count}&delay_ms={delay_ms}&seed=fixed"
    ids = {"buffered": f"wire-{uuid.uuid4()}", "unbuffered": f"wire-{uuid.uuid4()}"}
    runs = dict(
        zip(
            ids,
            await asyncio.gather(
                _arrivals(nginx.buffered, target, ids["buffered"]),
                _arrivals(nginx.unbuffered, target, ids["unbuffered"]),
            ),
            strict=True,
        )
    )
    span = (count - 1) * delay_ms / 1000
    rows = {kind: one_row(wire_apitest, request_id) for kind, request_id in ids.items()}
    for kind, row in rows.items():
        offsets = row["chunk_offsets"]
        assert offsets is not None and len(offsets) == count, (kind, row)
        # apitest sent each item as it was produced, whatever the gateway did with it
        assert offsets[-1] - offsets[0] >= span * 1000 * 0.8, (kind, offsets)
        assert row["ttfb_ms"] <= offsets[0] and row["client_complete"] is True
        body = runs[kind][2].decode()
        assert body.count("sent_at") == count
    # The client's side: bunched at the end through the buffering gateway, spaced through the other.
    _, buffered, _ = runs["buffered"]
    _, unbuffered, _ = runs["unbuffered"]
    assert buffered[0] >= span * 0.8, buffered  # nothing arrived before the stream was (nearly) over
    assert unbuffered[0] < span * 0.5 and unbuffered[-1] - unbuffered[0] >= span * 0.7, unbuffered
