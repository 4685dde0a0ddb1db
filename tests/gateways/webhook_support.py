"""A minimal nginx for the webhook gateway tests: foreground, own config in a temporary directory, loopback
port, stopped by its PID.

Two locations proxy to one upstream: ``/pass/`` forwards the request as it came, ``/rewrite/`` forwards a
body nginx changed in transit (``proxy_set_body "$request_body\\n"``: one added newline, as a gateway that
re-serializes or normalizes JSON bodies would change them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

CONFIG = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
{user}
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_body_buffer_size 1m;
    client_max_body_size 1m;
    server {{
        listen 127.0.0.1:{port};
        location /pass/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
        }}
        location /rewrite/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_set_body "$request_body\\n";
        }}
    }}
}}
"""


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@contextlib.contextmanager
def nginx(upstream_port: int, directory: Path) -> Iterator[str]:
    """Run nginx in front of ``127.0.0.1:<upstream_port>``; yields its base URL."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temporary directory
    conf = directory / "nginx.conf"
    conf.write_text(CONFIG.format(dir=directory, port=port, upstream=upstream_port, user=user))
    process = subprocess.Popen(  # noqa: S603
        [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode() if process.stderr else ""
                log = (directory / "error.log").read_text() if (directory / "error.log").exists() else ""
                raise RuntimeError(f"nginx did not start: {err}\n{log}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
