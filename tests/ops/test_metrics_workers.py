"""Several workers: any worker answering /metrics reports the sum over all of them."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import ALL_GROUPS, free_port
from tests.test_metrics import parse, value

pytestmark = pytest.mark.slow


def start_server(tmp_path: Path, workers: int, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp_path / "apitest.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"address": f"127.0.0.1:{port}", "shutdown": {"pre_shutdown_delay": "0s"}},
                "auth": {"allow_anonymous": True},
                "endpoints": {g: {"enabled": True} for g in ALL_GROUPS},
            }
        )
    )
    env = {**os.environ, "LOG_LEVEL": "warn", **env_extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "apitest.cli", "serve", "--config", str(config), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_two_workers_report_one_total(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    proc, url = start_server(tmp_path, 2, {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    try:
        deadline = time.monotonic() + 60  # each worker creates its counter file when its app is built
        while len(worker_files(metrics_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(worker_files(metrics_dir)) == 2, worker_files(metrics_dir)
        assert "999999" not in worker_files(metrics_dir)  # the stale file of an earlier run was removed

        # "Connection: close": a new connection each time, so both workers take some. /v1/limited names the
        # worker that answered (Apitest-Worker), so the test knows the requests really were spread.
        client = httpx.Client(base_url=url, headers={"Connection": "close"})
        served: list[str] = []
        while len(served) < 40 or (len(set(served)) < 2 and len(served) < 400):
            response = client.get("/v1/limited", params={"limit": 10000, "window_s": 60})
            assert response.status_code == 200, response.text
            served.append(response.headers["Apitest-Worker"])
        assert len(set(served)) == 2, "one worker took every request"
        totals = []
        for _ in range(8):
            samples = parse(client.get("/metrics").text)
            totals.append(
                value(
                    samples,
                    "apitest_http_requests_total",
                    route="limited",
                    method="GET",
                    status="200",
                    auth_type="anonymous",
                )
            )
            build = {"version": _version(), "python_version": _pyver(), "python_implementation": _impl()}
            assert value(samples, "apitest_build_info", **build) == 1
        assert totals == [float(len(served))] * 8
        client.close()
    finally:
        stop(proc)
    assert proc.returncode == 0


def worker_files(metrics_dir: Path) -> set[str]:
    return {p.name.split("_")[-1].removesuffix(".db") for p in metrics_dir.glob("counter_*.db")}


def _impl() -> str:
    return platform.python_implementation()


def _version() -> str:
    from apitest import __version__

    return __version__


def _pyver() -> str:
    return platform.python_version()
