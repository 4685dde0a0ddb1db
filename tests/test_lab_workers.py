"""``apitest serve --workers 2`` on one database: both workers answer, and they agree on idempotency keys and
rate-limit counts. Each answer of ``/v1/orders`` and ``/v1/limited`` names its worker (``Apitest-Worker``);
every request uses a fresh connection, so the kernel spreads them over both workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from apitest.db.engine import upgrade
from tests.support import free_port

ORDER: dict[str, Any] = {
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "sku": "ABC-1234",
    "quantity": 2,
    "unit_price": 19.99,
    "currency": "EUR",
}
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
START_TIMEOUT_S = 90  # spawned workers import everything again; slow on a loaded machine


class Workers:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.proc = proc

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on its own connection."""
        with httpx.Client(base_url=self.url, timeout=10, headers={"Connection": "close"}) as client:
            return client.request(method, path, **kwargs)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """One two-worker server per backend for the module (starting workers takes seconds)."""
    tmp = tmp_path_factory.mktemp("workers")
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp}/apitest.db"
        upgrade(database_url)
    else:
        database_url = str(request.getfixturevalue("pg_server_url"))
    port = free_port()
    shutdown = {"grace_period": "2s", "pre_shutdown_delay": "0s"}
    config = {
        "server": {"address": f"127.0.0.1:{port}", "workers": 2, "shutdown": shutdown},
        "auth": {"allow_anonymous": True},
        "database": {"url": database_url},
        "endpoints": {"lab": {"enabled": True}},
    }
    path = tmp / "apitest.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = tmp / "server.log"
    # `apitest serve` of this checkout (not whatever the environment's console script points at).
    command = [sys.executable, "-m", "apitest.cli", "serve", "--config", str(path), "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("APITEST")} | {"PYTHONPATH": str(REPO)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            wait_for_both_workers(f"http://127.0.0.1:{port}", proc, log_path)
            yield Workers(f"http://127.0.0.1:{port}", proc)
        finally:
            stop(proc)


def wait_for_both_workers(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``/version`` (fresh connections) has shown two worker pids, bounded by START_TIMEOUT_S."""
    pids: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"apitest serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            pids.add(httpx.get(url + "/version", timeout=1, headers={"Connection": "close"}).json()["pid"])
        except httpx.HTTPError:
            pass
        if len(pids) == 2:
            return
        time.sleep(0.05)
    pytest.fail(f"workers {sorted(pids)} answered in {START_TIMEOUT_S}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the supervisor (it forwards to its workers); kill our own process group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def until_both_workers(send: Any, accept: Any, attempts: int = 80) -> dict[str, httpx.Response]:
    """Send until two different workers gave an accepted answer; the answers by worker pid."""
    seen: dict[str, httpx.Response] = {}
    for _ in range(attempts):
        r = send()
        assert accept(r), (r.status_code, r.headers, r.text)
        seen.setdefault(r.headers["apitest-worker"], r)
        if len(seen) == 2:
            return seen
    pytest.fail(f"only workers {sorted(seen)} answered in {attempts} attempts")


def test_workers_agree_on_idempotency_keys(workers: Workers) -> None:
    key = f"two-workers-{time.monotonic_ns()}"

    def post(body: dict[str, Any] = ORDER, delay_ms: int = 0) -> httpx.Response:
        return workers.request("POST", f"/v1/orders?delay_ms={delay_ms}", json=body, headers={"Idempotency-Key": key})

    # The same key eight times at once: one creates the order (holding it 800 ms), the others see it in flight.
    with ThreadPoolExecutor(8) as pool:
        burst = list(pool.map(lambda _: post(delay_ms=800), range(8)))
    created = [r for r in burst if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(created) == 1
    others = [r for r in burst if r is not created[0]]
    assert all(r.status_code == 409 or r.headers.get("idempotent-replayed") == "true" for r in others)
    assert any(r.status_code == 409 for r in others)
    # Afterwards every worker replays the same response, and every worker refuses another body.
    replays = until_both_workers(post, lambda r: r.status_code == 201 and r.headers["idempotent-replayed"] == "true")
    assert {r.content for r in replays.values()} == {created[0].content}
    refusals = until_both_workers(lambda: post({**ORDER, "quantity": 3}), lambda r: r.status_code == 422)
    assert set(replays) == set(refusals)
    assert str(workers.proc.pid) not in replays  # answered by the workers, not the supervisor
    burst_workers = {r.headers["apitest-worker"] for r in burst}
    assert burst_workers <= set(replays)


def test_workers_share_rate_limit_counters(workers: Workers) -> None:
    path = f"/v1/limited?limit=20&window_s=60&run={time.monotonic_ns()}"
    answers = [workers.request("GET", path) for _ in range(30)]
    assert [r.status_code for r in answers] == [200] * 20 + [429] * 10
    assert [int(r.headers["ratelimit-remaining"]) for r in answers[:20]] == list(range(19, -1, -1))
    assert len({r.headers["apitest-worker"] for r in answers[:20]}) == 2
    assert len({r.headers["x-ratelimit-reset"] for r in answers}) == 1
