"""PostgreSQL unreachable for 10 s under load (through a TCP proxy; the shared server keeps running).

Requests never wait on the audit, so none may fail. Events accepted during the outage stay in the buffer and
are written once the database is back; beyond the buffer's capacity they are dropped and counted, never
silently.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from bench import configs, loadgen, pg
from bench.common import metric, metric_samples, wait_for
from tests.reliability.conftest import BackgroundLoad, ServerFactory, log_records, with_host_port, writer_stopped
from tests.reliability.proxy import TcpProxy

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BEFORE_S = 3.0
OUTAGE_S = 10.0
AFTER_S = 3.0
CONNECTIONS = 8


def mixed_requests(port: int, key: str, agent: str) -> list[bytes]:
    """Mostly short sleeps (bounding the rate, so the event count stays predictable) and an echo with a body."""
    auth = {"X-API-Key": key}
    slow = loadgen.build_request("GET", "/v1/slow?ms=20", port, auth, user_agent=agent)
    body = b'{"during":"outage"}'
    echo = loadgen.build_request(
        "POST", "/v1/echo", port, {**auth, "Content-Type": "application/json"}, body, user_agent=agent
    )
    return [slow, slow, slow, echo]


def audit_rows(url: str, agent: str) -> int:
    return pg.count_rows(url, "SELECT count(*) FROM audit_events WHERE user_agent = $1", agent)


def held_through(url: str, agent: str, outage_end: datetime) -> int:
    """Events of requests made before the database came back that were written after it did."""
    sql = "SELECT count(*) FROM audit_events WHERE user_agent = $1 AND ts < $2 AND recorded_at >= $2"
    return pg.count_rows(url, sql, agent, outage_end)


def run_outage(apitest_server: ServerFactory, pg_url: str, buffer_size: int) -> dict[str, object]:
    """Serve load through a 10 s database outage; returns what the assertions need."""
    target = urlsplit(pg_url)
    key = configs.new_key()
    agent = f"reliability-outage-{secrets.token_hex(4)}"
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        server = apitest_server(
            "outage",
            database_url=with_host_port(pg_url, proxy.port),
            key=key,
            extra={"audit": {"buffer_size": buffer_size, "batch_size": 200, "flush_interval_ms": 100}},
        )
        load = BackgroundLoad(
            server.port,
            mixed_requests(server.port, key, agent),
            connections=CONNECTIONS,
            duration=BEFORE_S + OUTAGE_S + AFTER_S,
        ).start()
        time.sleep(BEFORE_S)
        assert wait_for(lambda: audit_rows(pg_url, agent) > 0, timeout=5), "nothing was audited before the outage"
        outage_start = datetime.now(UTC)
        killed = proxy.outage()
        time.sleep(OUTAGE_S - 2)
        during = metric_samples(server.url)
        time.sleep(2)
        outage_end = datetime.now(UTC)
        proxy.restore()
        result = load.join()
        after_load = metric_samples(server.url)
        dropped = metric(after_load, "apitest_audit_events_dropped_total") or 0
        caught_up = wait_for(lambda: audit_rows(pg_url, agent) + dropped >= result.responses, timeout=40)
        exit_code = server.stop(timeout=30)
    return {
        "server": server,
        "agent": agent,
        "killed": killed,
        "result": result,
        "during": during,
        "dropped": dropped,
        "caught_up": caught_up,
        "exit_code": exit_code,
        "outage": (outage_start, outage_end),
    }


def test_outage_within_the_buffer_loses_no_request_and_no_event(apitest_server: ServerFactory, pg_url: str) -> None:
    run = run_outage(apitest_server, pg_url, buffer_size=50_000)
    result = run["result"]
    assert isinstance(result, loadgen.LoadResult)
    assert not result.errors, f"requests failed during the outage: {dict(result.errors)}"
    assert set(result.statuses) == {200}, dict(result.statuses)
    assert run["killed"], "the proxy had no database connection to kill: the app was not using it"

    during = run["during"]
    assert isinstance(during, dict)
    assert (metric(during, "apitest_audit_write_errors_total") or 0) > 0, "the writer never saw the outage"
    assert (metric(during, "apitest_audit_queued") or 0) > 0, "nothing was held in the buffer during the outage"

    assert run["caught_up"], "the writer did not catch up after the outage"
    assert run["dropped"] == 0
    assert run["exit_code"] == 0
    agent = str(run["agent"])
    assert audit_rows(pg_url, agent) == result.responses
    _, outage_end = run["outage"]  # type: ignore[misc]
    assert held_through(pg_url, agent, outage_end) > 0, "no event held through the outage was written after it"
    final = writer_stopped(run["server"])  # type: ignore[arg-type]
    assert final["dropped_total"] == 0
    assert final["written_total"] == final["accepted_total"] == result.responses


def test_outage_beyond_the_buffer_counts_every_drop(apitest_server: ServerFactory, pg_url: str) -> None:
    capacity = 100
    run = run_outage(apitest_server, pg_url, buffer_size=capacity)
    result = run["result"]
    assert isinstance(result, loadgen.LoadResult)
    assert not result.errors, f"requests failed during the outage: {dict(result.errors)}"
    assert set(result.statuses) == {200}, dict(result.statuses)

    agent = str(run["agent"])
    rows = audit_rows(pg_url, agent)
    dropped = int(run["dropped"])  # type: ignore[call-overload]
    assert dropped > 0, "a 10 s outage under load should overflow a 100-event buffer"
    assert rows + dropped == result.responses, "every event is either written or counted as dropped"
    # What the buffer held through the outage was written after it: the full queue, plus the batch the writer
    # was retrying (at most batch_size).
    _, outage_end = run["outage"]  # type: ignore[misc]
    assert capacity <= held_through(pg_url, agent, outage_end) <= capacity + 200

    warnings = [r for r in log_records(run["server"]) if r.get("msg") == "audit buffer full; dropping events"]  # type: ignore[arg-type]
    assert warnings and warnings[0]["dropped_total"] == 1
    final = writer_stopped(run["server"])  # type: ignore[arg-type]
    assert final["dropped_total"] == dropped
    assert final["written_total"] == rows
