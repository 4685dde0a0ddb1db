"""A real ``apitest serve`` process with every TLS lab listener on loopback, for the TLS and gateway tests."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apitest.tls.lab import LEGACY_CIPHERS, LISTENERS, LabListener, unavailable_reason
from apitest.tls.material import LabDir
from tests.support import free_port

APITEST = str(Path(sys.executable).with_name("apitest"))
START_TIMEOUT = 30.0


@dataclass
class LabServer:
    proc: subprocess.Popen[bytes]
    dir: Path
    port: int  # the main (plain) port
    ports: dict[str, int]  # lab listener name -> port
    log: Path
    db: Path
    lab: LabDir = field(init=False)

    def __post_init__(self) -> None:
        self.lab = LabDir(self.dir)

    @property
    def ca(self) -> str:
        return str(self.lab.ca_files.cert)

    def url(self, listener: str, path: str = "/v1/whoami") -> str:
        return f"https://localhost:{self.ports[listener]}{path}"

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def wait_for_log(self, msg: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        """The log lines with this message, once there are ``count`` of them (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.log_lines() if line.get("msg") == msg]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def client_certificates(self, sha256: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The ``client_certificate`` details of the audit rows for this certificate (waits for the writer)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.closing(sqlite3.connect(self.db)) as conn:
                try:
                    rows = conn.execute("select details from audit_events where details is not null").fetchall()
                except sqlite3.OperationalError:
                    rows = []
            details = [json.loads(r[0]) for r in rows]
            found = [d["client_certificate"] for d in details if isinstance(d, dict) and "client_certificate" in d]
            found = [c for c in found if c.get("sha256") == sha256]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def config_for(tmp: Path, ports: dict[str, int], main_port: int, **overrides: Any) -> dict[str, Any]:
    by_key = {listener.port_key: ports[listener.name] for listener in LISTENERS if listener.name in ports}
    config: dict[str, Any] = {
        "server": {"address": f"127.0.0.1:{main_port}", "shutdown": {"pre_shutdown_delay": "0s", "grace_period": "2s"}},
        "auth": {"allow_anonymous": True},
        "endpoints": {"identity": {"enabled": True}},
        "database": {"url": f"sqlite+aiosqlite:///{tmp / 'audit.db'}"},
        "audit": {"enabled": True, "flush_interval_ms": 20},
        "tls_lab": {"enabled": True, "dir": str(tmp / "tls"), "hosts": ["localhost"], "ports": by_key},
    }
    for key, value in overrides.items():
        config.setdefault(key, {}).update(value)
    return config


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def lab_server(
    tmp: Path, *, workers: int = 1, listeners: list[str] | None = None, **overrides: Any
) -> Iterator[LabServer]:
    """Start ``apitest serve`` with the lab listeners (default: all the build can serve); SIGTERM it after."""
    names = listeners or [listener.name for listener in LISTENERS if not unavailable_reason(listener)]
    LabDir(tmp / "tls").client("gw")  # the CA and a client certificate before the server starts
    ports = {name: free_port() for name in names}
    main_port = free_port()
    config_path = tmp / "apitest.yaml"
    config_path.write_text(yaml.safe_dump(config_for(tmp, ports, main_port, **overrides)))
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [APITEST, "serve", "--config", str(config_path), "--workers", str(workers)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LabServer(proc, tmp / "tls", main_port, ports, log, tmp / "audit.db")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(_accepting(p) for p in [main_port, *ports.values()]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"apitest serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client_context(listener: LabListener, *, verify: str | None, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    """Python's default client context trusting ``verify`` (a CA file), or an unverifying one that still speaks
    the listener's legacy protocol (for "the failure is only in the handshake")."""
    if verify is not None:
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if listener.legacy:
            context.set_ciphers(LEGACY_CIPHERS)
        if listener.legacy in ("TLSv1", "TLSv1_1"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = getattr(ssl.TLSVersion, listener.legacy)
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def https_get(port: int, context: ssl.SSLContext, path: str = "/v1/whoami") -> tuple[int, bytes]:
    """One HTTP/1.1 GET over TLS to localhost:port; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
