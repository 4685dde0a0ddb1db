"""Real nginx and HAProxy on loopback in front of a real apitest, for the wire-exact suite.

Each gateway runs in the foreground (``nginx -g 'daemon off;'``, ``haproxy -db``) from a config written to a
temp dir, listens on 127.0.0.1 ports picked here, and is stopped by its PID. apitest runs in a thread with the
production protocol (uvloop + :class:`apitest.http_guard.GuardedHttpToolsProtocol`), an SQLite audit and the
portal API, so the tests read rows the way a script would: one ``wait_ms`` call per request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from apitest.app import create_app
from apitest.db.engine import upgrade
from apitest.server import uvicorn_config
from tests.support import free_port, make_settings

NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
CLIENT_KEY = "wire-client-key-0123456789"
GATEWAY_KEY = "wire-gateway-key-0123456789"
READER_KEY = "wire-reader-key-0123456789"  # the script's own key for the portal API


@dataclass
class Apitest:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rows(self, request_id: str, min_rows: int = 1, wait_ms: int = 10_000) -> list[dict[str, Any]]:
        """The rows of one request, in one long-poll call (no sleep): what a script does."""
        r = httpx.get(
            f"{self.url}/api/v1/portal/audit/events",
            params={"request_id": request_id, "min_rows": min_rows, "wait_ms": wait_ms},
            headers={"X-API-Key": READER_KEY},
            timeout=wait_ms / 1000 + 5,
        )
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()["events"]
        return events


@contextlib.contextmanager
def run_apitest(tmp: Path) -> Iterator[Apitest]:
    port = free_port()
    db_url = f"sqlite+aiosqlite:///{tmp}/wire.db"
    upgrade(db_url)
    settings = make_settings(
        {
            "server": {"address": f"127.0.0.1:{port}", "base_url": f"http://127.0.0.1:{port}"},
            "database": {"url": db_url},
            "audit": {"enabled": True, "flush_interval_ms": 20},
            "auth": {"allow_anonymous": True},
            "api_keys": {
                "file": [
                    {"name": "client", "key": CLIENT_KEY},
                    {"name": "gateway", "key": GATEWAY_KEY},
                    {"name": "reader", "key": READER_KEY, "scopes": ["read"]},
                ]
            },
            "portal": {"enabled": True, "cookie_secret": "wire-suite-cookie-secret-0123456789"},
        },
        groups=["identity", "data", "echo", "streaming"],
    )
    server = uvicorn.Server(uvicorn_config(settings, create_app(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "apitest did not start"
        time.sleep(0.02)
    try:
        yield Apitest(port)
    finally:
        server.should_exit = True
        thread.join(15)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gateway exited: {process.stdout.read() if process.stdout else b''!r}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"gateway not listening on {port}")


@contextlib.contextmanager
def foreground(argv: list[str], ports: list[int]) -> Iterator[None]:
    """Run one gateway process; stop it by its PID (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for port in ports:
            wait_listening(port, process)
        yield
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stdout:
            process.stdout.close()


def require(binary: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed (apt-get install -y nginx haproxy)")


@dataclass
class NginxPorts:
    plain: int  # location / { proxy_pass http://upstream/; }: nginx's defaults (HTTP/1.0, decoded URI)
    inject: int  # the same, and the gateway sets its own X-API-Key
    wrong: int  # rewrites /api/... to /v1/nope/... (a broken rewrite)
    buffered: int  # proxy_buffering on and gzip on for text/event-stream
    unbuffered: int  # proxy_buffering off, HTTP/1.1 to the upstream


@contextlib.contextmanager
def run_nginx(tmp: Path, upstream: int) -> Iterator[NginxPorts]:
    require(NGINX)
    ports = NginxPorts(*(free_port() for _ in range(5)))
    up = f"http://127.0.0.1:{upstream}"
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
{"user root;" if os.geteuid() == 0 else ""}
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  proxy_max_temp_file_size 0;
  server {{ listen 127.0.0.1:{ports.plain}; location / {{ proxy_pass {up}/; }} }}
  server {{ listen 127.0.0.1:{ports.inject};
           location / {{ proxy_pass {up}/; proxy_set_header X-API-Key {GATEWAY_KEY}; }} }}
  server {{ listen 127.0.0.1:{ports.wrong}; location /api/ {{ proxy_pass {up}/v1/nope/; }} }}
  server {{ listen 127.0.0.1:{ports.buffered};
           location / {{ proxy_pass {up}/; proxy_buffering on;
                        gzip on; gzip_types text/event-stream; gzip_min_length 0; }} }}
  server {{ listen 127.0.0.1:{ports.unbuffered};
           location / {{ proxy_pass {up}/; proxy_buffering off; proxy_http_version 1.1; }} }}
}}
"""
    )
    argv = [NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"]
    with foreground(argv, [ports.plain, ports.inject, ports.wrong, ports.buffered, ports.unbuffered]):
        yield ports


@contextlib.contextmanager
def run_haproxy(tmp: Path, upstream: int) -> Iterator[int]:
    require(HAPROXY)
    port = free_port()
    conf = tmp / "haproxy.cfg"
    conf.write_text(
        f"""
global
  maxconn 64
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend wire
  bind 127.0.0.1:{port}
  default_backend apitest
backend apitest
  server s1 127.0.0.1:{upstream}
"""
    )
    with foreground([HAPROXY, "-db", "-f", str(conf)], [port]):
        yield port
