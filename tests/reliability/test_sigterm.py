"""SIGTERM under load: ``/readyz`` turns 503 at once, the server keeps serving through the pre-shutdown delay,
requests in flight when it stops accepting complete, and every request it served has its audit row after the
process exits (the writer drains before the database closes)."""

from __future__ import annotations

import secrets
import signal
import threading
import time

import httpx
import pytest

from bench import configs, loadgen, pg
from tests.reliability.conftest import BackgroundLoad, ServerFactory, writer_stopped

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PRE_SHUTDOWN_S = 2.0
LONG_MS = 4000  # in flight from before SIGTERM until well after the listener closed
LONG_REQUESTS = 20


def test_sigterm_drains_requests_and_audit(apitest_server: ServerFactory, pg_url: str) -> None:
    key = configs.new_key()
    agent = f"reliability-sigterm-{secrets.token_hex(4)}"
    server = apitest_server(
        "sigterm",
        database_url=pg_url,
        key=key,
        extra={"server": {"shutdown": {"pre_shutdown_delay": f"{PRE_SHUTDOWN_S}s", "grace_period": "15s"}}},
    )
    auth = {"X-API-Key": key}
    short = [
        loadgen.build_request("GET", "/v1/whoami", server.port, auth, user_agent=agent),
        loadgen.build_request("GET", "/v1/slow?ms=50", server.port, auth, user_agent=agent),
        loadgen.build_request(
            "POST", "/v1/echo", server.port, {**auth, "Content-Type": "application/json"}, b'{"a":1}', user_agent=agent
        ),
    ]
    load = BackgroundLoad(server.port, short, connections=8, duration=30).start()

    long_result: list[loadgen.LoadResult] = []
    long_payload = loadgen.build_request("GET", f"/v1/slow?ms={LONG_MS}", server.port, auth, user_agent=agent)
    long_thread = threading.Thread(
        target=lambda: long_result.append(
            loadgen.run(loadgen.burst(server.port, long_payload, clients=LONG_REQUESTS, request_timeout=30))
        )
    )
    time.sleep(1.5)
    long_thread.start()
    time.sleep(0.5)  # the long requests are now in flight
    assert httpx.get(server.url + "/readyz", timeout=2).status_code == 200

    sigterm_at = time.perf_counter()
    server.signal(signal.SIGTERM)
    readyz: list[tuple[float, int]] = []
    with httpx.Client(timeout=1) as probe:
        while time.perf_counter() - sigterm_at < PRE_SHUTDOWN_S * 0.75:
            try:
                readyz.append((time.perf_counter() - sigterm_at, probe.get(server.url + "/readyz").status_code))
            except httpx.HTTPError:
                readyz.append((time.perf_counter() - sigterm_at, 0))
            time.sleep(0.05)
    load.finish()  # a load balancer would have stopped routing by now
    result = load.join()
    long_thread.join(30)
    exit_code = server.wait(30)

    # /readyz: 503 from the first probe after the signal, never ready again.
    assert readyz and readyz[0][0] < 0.5
    assert [status for _, status in readyz] == [503] * len(readyz), readyz

    # The short load was served through the pre-shutdown delay, without a failure.
    assert not result.errors, dict(result.errors)
    assert set(result.statuses) == {200}, dict(result.statuses)
    served_after_signal = sum(1 for t in result.finished_at if t > sigterm_at)
    assert served_after_signal > 0, "nothing was served during the pre-shutdown delay"

    # The long requests outlived the listener and still completed.
    assert long_result, "the long requests did not finish"
    longs = long_result[0]
    assert longs.statuses.get(200) == LONG_REQUESTS and not longs.errors, (dict(longs.statuses), dict(longs.errors))
    assert max(longs.finished_at) - sigterm_at > PRE_SHUTDOWN_S, "the long requests ended before the listener closed"

    # A clean exit, and every served request audited.
    assert exit_code == 0
    final = writer_stopped(server)
    assert final["dropped_total"] == 0
    served = result.responses + longs.responses
    rows = pg.count_rows(pg_url, "SELECT count(*) FROM audit_events WHERE user_agent = $1", agent)
    assert rows == served
    long_sql = "SELECT count(*) FROM audit_events WHERE user_agent = $1 AND status = 200 AND duration_ms >= $2"
    # duration_ms is truncated and the event loop may wake a hair early: allow 10 ms.
    assert pg.count_rows(pg_url, long_sql, agent, LONG_MS - 10) == LONG_REQUESTS
