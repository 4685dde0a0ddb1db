"""Real gateways in front of a real apitest, on loopback, for the gateway suite (``make gateways``).

- :class:`Fixture` runs ``apitest serve`` (uvicorn, the production stack) on an ephemeral port with an
  SQLite audit log and the portal's JSON API, and :class:`Audit` reads its rows.
- :func:`start_gateway` runs nginx, HAProxy or Caddy in the foreground with a configuration written to a
  temporary directory: the snippet (as ``docs/testing-a-gateway.md`` shows it, with the doc's addresses
  ``127.0.0.1:8080`` for the fixture and ``127.0.0.1:9000`` for the gateway) wrapped in the few global
  lines a foreground, unprivileged, self-contained process needs. Every process is stopped by its PID.

Other suites reuse it: ``gateway(kind, snippet, upstream=...)`` (the fixture in ``conftest.py``) gives a
running gateway of that kind with that snippet in front of any upstream address.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

KINDS = ("nginx", "haproxy", "caddy")
BINARIES = {"nginx": "/usr/sbin/nginx", "haproxy": "/usr/sbin/haproxy", "caddy": "/usr/bin/caddy"}
DOC_UPSTREAM = "127.0.0.1:8080"  # the fixture's address in the doc's snippets
DOC_LISTEN = "127.0.0.1:9000"  # the gateway's address in the doc's snippets
DOC_ANY_HOST = "http://:9000"  # a Caddy site for any Host (with `bind 127.0.0.1`)
DOC_CACHE_DIR = "/var/cache/apitest-gateway"  # nginx's proxy_cache_path in the doc
CLIENT_KEY = "client-key-change-me"  # the doc's $APITEST_DEV_KEY stand-in: key "devkey"
GATEWAY_KEY = "gateway-key-change-me"  # the key the credential-injection snippets add: key "gatewaykey"
START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(kind: str) -> str | None:
    path = BINARIES[kind]
    if os.access(path, os.X_OK):
        return path
    return shutil.which(kind)


def require(kind: str) -> str:
    """The gateway's binary; skipped with the reason outside CI, a failure in CI (``CI=true``)."""
    path = binary(kind)
    if path is None:
        message = f"{kind} is not installed ({BINARIES[kind]}); .ci/run installs it with apt-get"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def version(kind: str) -> str:
    path = binary(kind)
    if path is None:
        return "not installed"
    argv = {"nginx": [path, "-v"], "haproxy": [path, "-v"], "caddy": [path, "version"]}[kind]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return (done.stdout + done.stderr).strip().splitlines()[0]


class Process:
    """A child process in the foreground, its output in ``log``; stopped by PID."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.log = log
        self.stream = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self.stream, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        self.stream.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def wait_port(self, port: int, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.popen.args[0]} exited with {self.popen.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.popen.args[0]} did not listen on {port}:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self.stream.close()


# --- the fixture --------------------------------------------------------------------------------------


MAX_BODY_BYTES = 32 * 1024  # the fixture's server.max_body_bytes: far below nginx's client_max_body_size (1m)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def fixture_config(workdir: Path, port: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The suite's fixture configuration; ``extra`` (e.g. ``{"oidc": {...}}``) is merged over it."""
    groups = ["identity", "data", "failure", "echo", "streaming", "pagination", "methods", "security", "export", "lab"]
    base = {
        "server": {
            "address": f"127.0.0.1:{port}",
            "max_body_bytes": MAX_BODY_BYTES,
            "shutdown": {"grace_period": "2s", "pre_shutdown_delay": "0s"},
        },
        "auth": {"allow_anonymous": True},
        "api_keys": {
            "file": [
                {"name": "devkey", "key": CLIENT_KEY, "scopes": ["read", "write", "admin"]},
                {"name": "gatewaykey", "key": GATEWAY_KEY, "scopes": ["read"]},
            ]
        },
        "database": {"url": f"sqlite+aiosqlite:///{workdir}/apitest.db"},
        "audit": {"enabled": True, "flush_interval_ms": 50},
        "portal": {"enabled": True, "allow_anonymous": True, "cookie_secret": secrets.token_urlsafe(32)},
        "endpoints": {g: {"enabled": True} for g in groups},
    }
    return merged(base, extra or {})


@dataclass
class Fixture:
    process: Process
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@contextlib.contextmanager
def run_fixture(workdir: Path, extra: dict[str, Any] | None = None) -> Iterator[Fixture]:
    """``apitest serve`` with an SQLite audit and the portal API, on an ephemeral loopback port (``extra``
    configuration merged over the suite's, see :func:`fixture_config`)."""
    port = free_port()
    config = workdir / "apitest.yaml"
    config.write_text(yaml.safe_dump(fixture_config(workdir, port, extra)))
    apitest = Path(sys.executable).with_name("apitest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APITEST_")}
    process = Process([str(apitest), "serve", "--config", str(config)], workdir / "apitest.log", env=env)
    try:
        process.wait_port(port, timeout=60)
        yield Fixture(process, port)
    finally:
        process.stop()


class Audit:
    """The fixture's audit rows through the portal JSON API (what the doc's ``count``/``rows`` read)."""

    def __init__(self, fixture: Fixture) -> None:
        self.client = httpx.Client(base_url=fixture.url, headers={"X-API-Key": CLIENT_KEY}, timeout=10)

    def events(self, **filters: str | int) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/portal/audit/events", params={"limit": 200, **filters})
        r.raise_for_status()
        return list(reversed(r.json()["events"]))  # oldest first

    def event(self, event_id: str) -> dict[str, Any]:
        r = self.client.get(f"/api/v1/portal/audit/events/{event_id}")
        r.raise_for_status()
        return dict(r.json())

    def wait(self, min_rows: int = 1, wait_ms: int = 8000, **filters: str | int) -> list[dict[str, Any]]:
        """The rows matching ``filters`` as soon as ``min_rows`` exist, or what there is after ``wait_ms``:
        one long-poll call of the events API (``wait_ms``/``min_rows``), no sleeping."""
        timeout = wait_ms / 1000 + 10
        params = {"limit": 200, "wait_ms": wait_ms, "min_rows": min_rows, **filters}
        r = self.client.get("/api/v1/portal/audit/events", params=params, timeout=timeout)
        r.raise_for_status()
        return list(reversed(r.json()["events"]))  # oldest first

    def settled(self, at_least: int = 1, quiet: float = 0.6, timeout: float = 15.0, **filters: str | int) -> list[dict]:
        """The rows matching ``filters`` once at least ``at_least`` exist and none was added for ``quiet``
        seconds (a gateway's retries land one by one); there is no long-poll API yet, so this polls."""
        deadline = time.monotonic() + timeout
        rows = self.events(**filters)
        stable_since = time.monotonic()
        while True:
            time.sleep(0.1)
            latest = self.events(**filters)
            if len(latest) != len(rows):
                rows, stable_since = latest, time.monotonic()
            elif len(rows) >= at_least and time.monotonic() - stable_since >= quiet:
                return rows
            if time.monotonic() > deadline:
                return rows

    def close(self) -> None:
        self.client.close()


# --- gateways -----------------------------------------------------------------------------------------


@dataclass
class Gateway:
    kind: str
    port: int
    process: Process
    config: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def localize(snippet: str, upstream: str, port: int, workdir: Path) -> str:
    """The doc's snippet with this run's addresses and directories."""
    return (
        snippet.replace(DOC_UPSTREAM, upstream)
        .replace(DOC_LISTEN, f"127.0.0.1:{port}")
        .replace(DOC_ANY_HOST, f"http://:{port}")
        .replace(DOC_CACHE_DIR, str(workdir / "cache"))
    )


def nginx_config(snippet: str, workdir: Path) -> str:
    temp = "\n".join(
        f"    {name}_temp_path {workdir}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log notice;\n"
        f"events {{ worker_connections 512; }}\nhttp {{\n    access_log off;\n{temp}\n{snippet}\n}}\n"
    )


def haproxy_config(snippet: str, workdir: Path) -> str:
    return (
        "global\n    log stderr format raw local0 warning\n\n"
        "defaults\n    mode http\n    log global\n    timeout connect 2s\n    timeout client 30s\n"
        f"    timeout server 30s\n\n{snippet}\n"
    )


def caddy_config(snippet: str, workdir: Path) -> str:
    return f"{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {workdir}/data\n}}\n\n{snippet}\n"


CONFIGS = {"nginx": nginx_config, "haproxy": haproxy_config, "caddy": caddy_config}


@contextlib.contextmanager
def start_gateway(kind: str, snippet: str, upstream: str, workdir: Path) -> Iterator[Gateway]:
    """Run gateway ``kind`` configured with ``snippet`` in front of ``upstream`` (``host:port``)."""
    path = require(kind)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / {"nginx": "nginx.conf", "haproxy": "haproxy.cfg", "caddy": "Caddyfile"}[kind]
    config.write_text(CONFIGS[kind](localize(snippet, upstream, port, workdir), workdir))
    env = os.environ | {"HOME": str(workdir), "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    argv = {
        "nginx": [path, "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")],
        "haproxy": [path, "-db", "-f", str(config)],
        "caddy": [path, "run", "--config", str(config), "--adapter", "caddyfile"],
    }[kind]
    process = Process(argv, workdir / f"{kind}.log", env=env, cwd=workdir)
    try:
        process.wait_port(port)
        yield Gateway(kind, port, process, config)
    finally:
        process.stop()
