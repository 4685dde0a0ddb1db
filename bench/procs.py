"""Server processes for the bench: start on 127.0.0.1, wait until ready, read peak memory, stop by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_count() -> int:
    """The cores this process may run on (the runner narrows its own set once it has pinned the servers)."""
    return len(os.sched_getaffinity(0))


def machine_cpus() -> int:
    """The cores of the machine, whatever this process's own affinity."""
    return os.cpu_count() or 1


def pinned(argv: Sequence[str], cpus: str | None) -> list[str]:
    """Prefix ``taskset -c cpus`` when the machine has a core to spare, so server and load generator
    do not steal each other's time slices; a no-op on one core."""
    if cpus is None or machine_cpus() < 2 or not Path("/usr/bin/taskset").exists():
        return list(argv)
    return ["/usr/bin/taskset", "-c", cpus, *argv]


def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (workers of a pre-fork server), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ServerProcess:
    """One server (and its workers) started as a subprocess; output goes to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        ready_path: str = "/healthz",
        cpus: str | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.argv = pinned(argv, cpus)
        self.port = port
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._workers: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)  # noqa: S603
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200:
                    self._workers = children_of(self.pid)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}")

    def peak_rss_mib(self) -> float:
        """Peak resident memory (VmHWM) of the server and its workers, summed."""
        pids = [self.pid, *children_of(self.pid)]
        return sum(_status_kib(pid, "VmHWM") for pid in pids) / 1024

    def rss_mib(self) -> float:
        pids = [self.pid, *children_of(self.pid)]
        return sum(_status_kib(pid, "VmRSS") for pid in pids) / 1024

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait; SIGKILL this server and the workers it had, by pid, if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        workers = children_of(self.pid) or self._workers
        self.proc.send_signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            for pid in [self.pid, *workers]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            code = self.wait(5)
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
