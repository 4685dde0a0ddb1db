"""Fixtures of the reliability suite: real ``apitest serve`` processes on loopback, and their logs.

Each test is bounded: servers start within 60 s, loads run for fixed seconds, waits have deadlines.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import configs
from bench.procs import ServerProcess, free_port

# `python -m` from the checkout (cwd), so the server runs this tree whatever the venv's editable install points at.
APITEST = [sys.executable, "-m", "apitest.cli"]
ROOT = Path(__file__).resolve().parents[2]

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def apitest_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start ``apitest serve`` with a bench-style profile; every server is stopped (by pid) at teardown."""
    started: list[ServerProcess] = []

    def factory(name: str = "apitest", **options: Any) -> ServerProcess:
        port = free_port()
        config = configs.apitest_config(tmp_path / f"{name}.yaml", port=port, **options)
        server = ServerProcess(
            name, [*APITEST, "serve", "--config", str(config)], port, log_path=tmp_path / f"{name}.log", cwd=str(ROOT)
        )
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        with contextlib.suppress(Exception):
            server.stop(timeout=20)


def log_records(server: ServerProcess) -> list[dict[str, Any]]:
    """The server's JSON log lines (other lines skipped)."""
    records = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                records.append(value)
    return records


def writer_stopped(server: ServerProcess) -> dict[str, Any]:
    """The audit writer's final counters, logged after it drained at shutdown."""
    found = [r for r in log_records(server) if r.get("msg") == "audit writer stopped"]
    assert found, f"no 'audit writer stopped' line in {server.log_path}"
    return found[-1]


def with_host_port(url: str, port: int) -> str:
    """``url`` pointing at 127.0.0.1:``port`` (same user and database)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class BackgroundLoad:
    """The bench's closed-loop generator in a thread: ``connections`` clients cycling through ``payloads`` for at
    most ``duration`` s or until :meth:`finish`; requests in flight then are completed, not cut off."""

    def __init__(self, port: int, payloads: list[bytes], *, connections: int, duration: float) -> None:
        import threading

        self.port = port
        self.payloads = payloads
        self.connections = connections
        self.duration = duration
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self.result: Any = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        from bench import loadgen

        try:
            self.result = loadgen.run(
                loadgen.closed_loop(
                    self.port,
                    self.payloads,
                    connections=self.connections,
                    duration=self.duration,
                    request_timeout=30,
                    drain=30,
                    stop=self._stop.is_set,
                )
            )
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def start(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def finish(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> Any:
        self._thread.join(self.duration + 70 if timeout is None else timeout)
        assert not self._thread.is_alive(), "the load did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result
