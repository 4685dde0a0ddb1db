"""Run the app under uvicorn with the shutdown sequence operators expect.

On SIGTERM or SIGINT: ``/readyz`` turns 503 at once, the server keeps serving for
``server.shutdown.pre_shutdown_delay`` (so load balancers stop routing to it), then stops accepting and
gives in-flight requests ``server.shutdown.grace_period`` to finish; the lifespan then drains the audit
buffer and closes the database. A second signal exits immediately.

With ``server.workers > 1`` the parent binds the socket and supervises worker processes (uvicorn's
own small supervisor); each worker loads the same configuration file and runs this sequence.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.process
import os
import shutil
import signal
import socket
import threading
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from apitest import logs
from apitest.app import create_app
from apitest.config import Settings, load_settings
from apitest.http_guard import GuardedHttpToolsProtocol, configure_body_guard
from apitest.lifecycle import Lifecycle
from apitest.metrics import mark_worker_dead, prepare_multiprocess_dir

log = logs.get("server")
CONFIG_ENV = "APITEST_CONFIG_PATH"

_worker_lifecycle: Lifecycle | None = None


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a readiness flip and a real pre-shutdown delay before it stops accepting."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, pre_shutdown_delay: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.pre_shutdown_delay = pre_shutdown_delay
        self._shutdown_timer: asyncio.TimerHandle | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.lifecycle.draining:
            log.warning("second signal: exiting now", extra={"signal": sig})
            self.force_exit = True
            self.should_exit = True
            return
        self.lifecycle.draining = True
        log.info("shutdown requested, draining", extra={"signal": sig, "pre_shutdown_delay_s": self.pre_shutdown_delay})
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.should_exit = True
            return
        self._shutdown_timer = loop.call_later(self.pre_shutdown_delay, self._stop_accepting)

    def _stop_accepting(self) -> None:
        log.info("pre-shutdown delay over; closing the listener and finishing in-flight requests")
        self.should_exit = True


def body_guard(settings: Settings) -> None:
    server = settings.server
    configure_body_guard(server.read_body_timeout, server.min_body_rate, server.min_body_rate_grace)


def uvicorn_config(settings: Settings, app: Starlette | str, *, factory: bool = False) -> uvicorn.Config:
    tls = settings.server.tls
    body_guard(settings)
    return uvicorn.Config(
        app,
        factory=factory,
        host=settings.listen_host(),
        port=settings.listen_port(),
        loop="uvloop",
        # httptools plus a request-head deadline and size cap (slow-loris) and request-body deadlines (slow bodies)
        http=GuardedHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=max(1, int(settings.server.read_header_timeout)),
        timeout_graceful_shutdown=max(1, int(round(settings.server.shutdown.grace_period))),
        ssl_certfile=tls.cert_file if tls.enabled else None,
        ssl_keyfile=tls.key_file if tls.enabled else None,
        workers=settings.server.workers,
    )


def worker_app() -> Starlette:
    """App factory for worker processes: reload the same configuration the parent validated."""
    global _worker_lifecycle
    logs.configure()
    settings = load_settings(os.environ[CONFIG_ENV])
    body_guard(settings)
    _worker_lifecycle = Lifecycle()
    return create_app(settings, lifecycle=_worker_lifecycle)


def _worker_main(config: uvicorn.Config, pre_shutdown_delay: float, sockets: list[socket.socket]) -> None:
    """Entry point of a spawned worker process."""
    config.load()  # builds the app through worker_app(), which sets _worker_lifecycle
    assert _worker_lifecycle is not None
    GracefulServer(config, _worker_lifecycle, pre_shutdown_delay).run(sockets=sockets)


def _supervise(config: uvicorn.Config, workers: int, pre_shutdown_delay: float) -> None:
    """Bind once, spawn ``workers`` processes sharing the socket, forward SIGTERM/SIGINT, restart crashes."""
    sock = config.bind_socket()
    metrics_dir, own_metrics_dir = prepare_multiprocess_dir()  # before any worker imports prometheus-client
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def spawn() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker_main, args=(config, pre_shutdown_delay, [sock]), daemon=False)
        proc.start()
        return proc

    procs = [spawn() for _ in range(workers)]

    def forward(sig: int, frame: FrameType | None) -> None:
        stopping.set()
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping.is_set():
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping.is_set():
                log.warning("worker exited; restarting", extra={"pid": proc.pid, "exitcode": proc.exitcode})
                mark_worker_dead(proc.pid)
                procs[i] = spawn()
        stopping.wait(0.5)
    for proc in procs:
        proc.join()
    sock.close()
    if own_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve(settings: Settings, config_path: str) -> None:
    """Run until a signal; returns after the shutdown sequence completes."""
    delay = settings.server.shutdown.pre_shutdown_delay
    log.info(
        "listening",
        extra={
            "address": settings.server.address,
            "base_url": settings.server.base_url,
            "workers": settings.server.workers,
        },
    )
    if settings.server.workers <= 1:
        lifecycle = Lifecycle()
        app = create_app(settings, lifecycle=lifecycle)
        GracefulServer(uvicorn_config(settings, app), lifecycle, delay).run()
        log.info("shutdown complete")
        return
    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    _supervise(uvicorn_config(settings, "apitest.server:worker_app", factory=True), settings.server.workers, delay)
    log.info("shutdown complete")
