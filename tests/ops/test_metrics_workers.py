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
        # "Connection: close": a new connection each time, so both workers take some
        client = httpx.Client(base_url=url, headers={"Connection": "close"})
        for _ in range(60):
            assert client.get("/v1/whoami").status_code == 200
        totals = []
        for _ in range(8):
            samples = parse(client.get("/metrics").text)
            totals.append(
                value(
                    samples,
                    "apitest_http_requests_total",
                    route="whoami",
                    method="GET",
                    status="200",
                    auth_type="anonymous",
                )
            )
            assert (
                value(
                    samples,
                    "apitest_build_info",
                    version=_version(),
                    python_version=_pyver(),
                    python_implementation=platform.python_implementation(),
                )
                == 1
            )
        assert totals == [60.0] * 8
        pids = {p.name.split("_")[-1].removesuffix(".db") for p in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2, pids  # two workers, and the stale file of an earlier run was removed
        assert "999999" not in pids
        client.close()
    finally:
        stop(proc)
    assert proc.returncode == 0


def _version() -> str:
    from apitest import __version__

    return __version__


def _pyver() -> str:
    return platform.python_version()
