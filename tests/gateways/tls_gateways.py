"""Real nginx, HAProxy and Caddy for the TLS gateway tests: each runs in the foreground with its own
configuration in a temporary directory, listens on a free loopback port and is stopped by its PID.

The TLS settings come from docs/tls.md: :func:`snippet` reads a fenced block marked
``<!-- snippet: NAME -->`` and :func:`adapt` points it at the test's lab directory and port, so the
documentation shows exactly what the suite runs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "tls.md"
DOC_DIR = "/etc/apitest/tls/"
DOC_PORTS = ("8443", "8445")  # the ports the snippets use (valid, mtls-required)
NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
CADDY = "/usr/bin/caddy"
START_TIMEOUT = 20.0


def snippet(name: str) -> str:
    """The fenced block right after ``<!-- snippet: NAME -->`` in docs/tls.md."""
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", DOC.read_text(), re.S)
    assert match is not None, f"docs/tls.md has no snippet {name!r}"
    return match.group(1)


def adapt(text: str, lab_dir: Path, port: int) -> str:
    """Point a docs/tls.md snippet at ``lab_dir`` and the upstream ``port``."""
    text = text.replace(DOC_DIR, f"{lab_dir}/")
    for doc_port in DOC_PORTS:
        text = text.replace(f"127.0.0.1:{doc_port}", f"127.0.0.1:{port}")
    return text


def need(binary: str) -> str:
    if not os.access(binary, os.X_OK):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {binary} is not installed (apt-get install nginx haproxy caddy)", pytrace=False)
        pytest.skip(f"{binary} is not installed")
    return binary


@dataclass
class Gateway:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int] = field(default_factory=dict)  # route or site name -> port (Caddy: one per site)
    port: int = 0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start(name: str, argv: list[str], workdir: Path, ports: list[int], env: dict[str, str] | None = None) -> Gateway:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    gateway = Gateway(name, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not all(_accepting(p) for p in ports):
        if proc.poll() is not None or time.monotonic() > deadline:
            gateway.stop()
            raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return gateway


def start_nginx(workdir: Path, locations: list[str]) -> Gateway:
    """nginx (one process, no daemon) with ``locations`` in one loopback server block."""
    binary = need(NGINX)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    temp = " ".join(f"{kind}_temp_path {workdir};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    body = "\n".join(locations)
    (workdir / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/nginx.log info;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  {temp}\n  server {{\n    listen 127.0.0.1:{port};\n"
        f"{body}\n  }}\n}}\n"
    )
    argv = [binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "nginx.log")]
    gateway = _start("nginx", argv, workdir, [port])
    gateway.port = port
    return gateway


def start_haproxy(workdir: Path, defaults: str, backends: dict[str, str]) -> Gateway:
    """HAProxy in the foreground (``-db``) logging to stdout; ``/<name>/...`` goes to backend ``be_<name>``."""
    binary = need(HAPROXY)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = (
        "global\n    log stdout format raw local0 info\n"
        f"{defaults}\n    mode http\n    log global\n    retries 0\n"
        "    timeout connect 5s\n    timeout client 10s\n    timeout server 10s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        "    http-request set-var(txn.lab) path,field(2,/)\n"
        "    http-request set-path %[path,regsub(^/[^/]*,)]\n"
        "    use_backend be_%[var(txn.lab)]\n" + "\n".join(backends.values()) + "\n"
    )
    (workdir / "haproxy.cfg").write_text(config)
    checked = subprocess.run([binary, "-c", "-f", str(workdir / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    gateway = _start("haproxy", [binary, "-db", "-f", str(workdir / "haproxy.cfg")], workdir, [port])
    gateway.port = port
    return gateway


def start_caddy(workdir: Path, sites: dict[str, str]) -> Gateway:
    """Caddy (admin API and automatic HTTPS off, storage in ``workdir``) with one plain-HTTP site per entry."""
    binary = need(CADDY)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in sites}
    blocks = "\n".join(f"http://127.0.0.1:{ports[name]} {{\n{body}\n}}" for name, body in sites.items())
    (workdir / "Caddyfile").write_text(
        f"{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {workdir}/data\n}}\n{blocks}\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    env["XDG_DATA_HOME"] = str(workdir)
    argv = [binary, "run", "--config", str(workdir / "Caddyfile"), "--adapter", "caddyfile"]
    gateway = _start("caddy", argv, workdir, list(ports.values()), env=env)
    gateway.ports = ports
    return gateway
