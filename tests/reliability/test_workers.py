"""``apitest serve`` with two workers: each worker has its own audit writer and every response has its row; a
worker that dies is replaced from the settings the parent validated (not from the file again)."""

from __future__ import annotations

import os
import secrets
import signal
import time

import httpx
import pytest

from bench import configs, loadgen, pg
from bench.procs import ServerProcess
from tests.reliability.conftest import ServerFactory, log_records

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LOAD_SECONDS = 6
CONNECTIONS = 8


def worker_pids(server: ServerProcess, key: str = "", want: int = 2, attempts: int = 200, wait: float = 60) -> set[str]:
    """The pids named by ``Apitest-Worker`` on fresh connections, until ``want`` different ones answered: at least
    ``attempts`` requests, and on for up to ``wait`` seconds while fewer answered (a spawned worker may still be
    importing when the first one serves, on a loaded machine)."""
    seen: set[str] = set()
    headers = {"Connection": "close", **({"X-API-Key": key} if key else {})}
    deadline = time.monotonic() + wait
    sent = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
        while len(seen) < want and (sent < attempts or time.monotonic() < deadline):
            response = client.get("/v1/limited", params={"limit": 10000, "window_s": 60})
            assert response.status_code == 200, response.text
            seen.add(response.headers["Apitest-Worker"])
            sent += 1
            if sent >= attempts and len(seen) < want:
                time.sleep(0.2)
    return seen


def test_two_workers_audit_every_response(apitest_server: ServerFactory, pg_url: str) -> None:
    key = configs.new_key()
    agent = f"reliability-workers-{secrets.token_hex(4)}"
    server = apitest_server("workers", database_url=pg_url, key=key, workers=2)
    assert len(worker_pids(server, key)) == 2
    auth = {"X-API-Key": key}
    payloads = [
        loadgen.build_request("GET", "/v1/whoami", server.port, auth, user_agent=agent),
        loadgen.build_request(
            "POST", "/v1/echo", server.port, {**auth, "Content-Type": "application/json"}, b'{"a":1}', user_agent=agent
        ),
    ]
    result: loadgen.LoadResult = loadgen.run(
        loadgen.closed_loop(server.port, payloads, connections=CONNECTIONS, duration=LOAD_SECONDS)
    )
    assert not result.errors, dict(result.errors)
    assert set(result.statuses) == {200}, dict(result.statuses)
    assert server.stop(timeout=30) == 0

    stopped = [r for r in log_records(server) if r.get("msg") == "audit writer stopped"]
    assert len(stopped) == 2, stopped  # one writer per worker, each drained at shutdown
    assert all(r["dropped_total"] == 0 for r in stopped), stopped
    rows = pg.count_rows(pg_url, "SELECT count(*) FROM audit_events WHERE user_agent = $1", agent)
    assert rows == result.responses
    assert sum(int(r["written_total"]) for r in stopped) >= rows  # plus the probes of worker_pids
    # Every response has its access line too: the lines of a worker's last loop turn are written before the
    # spawned process ends (with os._exit, where atexit handlers do not run).
    lines = [
        r for r in log_records(server) if r.get("msg") == "request" and r.get("path") in ("/v1/whoami", "/v1/echo")
    ]
    assert len(lines) == result.responses


def test_a_dead_worker_is_replaced_from_the_validated_settings(apitest_server: ServerFactory) -> None:
    server = apitest_server("respawn", anonymous=True, workers=2)
    before = worker_pids(server)
    assert len(before) == 2
    # The file no longer validates: a worker that re-read it could not start.
    config = server.log_path.with_suffix(".yaml")
    assert config.exists()
    config.write_text("server: {workers: not-a-number}\n")

    victim = int(sorted(before)[0])
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 90  # a spawned worker imports everything again; slow on a loaded machine
    after: set[str] = set()
    while time.monotonic() < deadline:
        after = worker_pids(server, attempts=40, wait=0)
        if len(after) == 2 and str(victim) not in after:
            break
        time.sleep(0.5)
    assert len(after) == 2 and str(victim) not in after, (before, after)
    assert any(r.get("msg") == "worker exited; restarting" for r in log_records(server))
    assert server.stop(timeout=30) == 0
