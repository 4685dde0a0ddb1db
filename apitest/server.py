"""Run the app under uvicorn with the shutdown sequence operators expect.

On SIGTERM or SIGINT: ``/readyz`` turns 503 at once, the server keeps serving for
``server.shutdown.pre_shutdown_delay`` (so load balancers stop routing to it), then stops accepting and
gives in-flight requests ``server.shutdown.grace_period`` to finish; the lifespan then drains the audit
buffer and closes the database. A second signal exits immediately.

With ``server.workers > 1`` the parent binds the sockets once and supervises worker processes; each worker
receives the parent's validated :class:`Settings` (pickled into the spawned process, never re-read from the
file or the environment), builds its own app (so its own audit writer and database pool) and runs the
sequence above. A worker that dies is replaced; SIGTERM/SIGINT are forwarded to every worker.

Why a supervisor of our own (about 40 lines) instead of a library's, checked against uvicorn 0.55 and
gunicorn 23:

- ``uvicorn.supervisors.Multiprocess`` restarts dead workers, but each worker runs the server built by
  ``uvicorn.supervisors.multiprocess.Process.server``, hard-wired to ``uvicorn.Server(config=...)``; there is
  no hook for a ``Server`` subclass, and ``Multiprocess`` constructs ``Process`` by name in four methods
  (``init_processes``, ``keep_subprocess_alive``, ``restart_all``, ``handle_ttin``). A plain ``uvicorn.Server``
  stops accepting on the first SIGTERM (``handle_exit`` sets ``should_exit``), so the readiness flip and the
  pre-shutdown delay of :class:`GracefulServer` and its TLS accept loops would be lost in every worker unless
  we copied those four methods. It has no hook when a worker dies either, where prometheus-client's
  multiprocess mode needs ``mark_process_dead`` (:func:`apitest.metrics.mark_worker_dead`). It also kills a
  worker that does not answer its health ping within ``timeout_worker_healthcheck`` (5 s), which on a loaded
  machine includes a spawned worker still importing the app.
- gunicorn's ``UvicornWorker`` (``uvicorn.workers``, deprecated in favour of the ``uvicorn-worker`` package)
  also runs a plain ``uvicorn.Server`` (its ``_serve``), binds only gunicorn's own listeners (not the TLS lab
  ports), and gunicorn is not a dependency of apitest.

TLS (``server.tls`` and the ``tls_lab`` listeners) is served by :mod:`apitest.tls.listeners`' accept loops
on the same event loop and app, not by uvicorn's ``ssl_*`` options: they detect plain HTTP on a TLS port and
hand the client certificate to the app. The parent binds those ports too, and every worker serves all of them.
"""

from __future__ import annotations

import asyncio
import gc
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
from apitest.config import Settings
from apitest.http_guard import configure_body_guard
from apitest.lifecycle import Lifecycle
from apitest.metrics import mark_worker_dead, prepare_multiprocess_dir
from apitest.tls.listeners import ListenerSpec, TLSAwareProtocol, TLSListener
from apitest.tls.serving import MAIN, bind_listeners, specs_for

log = logs.get("server")


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a readiness flip and a real pre-shutdown delay before it stops accepting."""

    def __init__(
        self,
        config: uvicorn.Config,
        lifecycle: Lifecycle,
        pre_shutdown_delay: float,
        tls: list[ListenerSpec] | None = None,
    ) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.pre_shutdown_delay = pre_shutdown_delay
        self.tls = tls or []
        self._shutdown_timer: asyncio.TimerHandle | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup (lifespan, plain listeners), then one TLS accept loop per TLS port."""
        await super().startup(sockets=sockets)
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        for spec in self.tls:
            listener = TLSListener(
                spec.name, spec.sock, spec.context(), create_protocol, handshake_timeout=config.timeout_keep_alive
            )
            listener.start()
            self.servers.append(listener)  # type: ignore[arg-type]  # close()/wait_closed() like asyncio.Server

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


# CPython's defaults are (700, 10, 10): a young collection every 700 net allocations, the middle generation every
# 10 young collections, a full one every 10 middle ones.
GC_THRESHOLDS = (20_000, 1000, 1000)


def settle_heap() -> None:
    """Keep the garbage collector off the request path's back, once the app is built.

    Everything allocated so far (modules, settings, routes, the app) lives as long as the process:
    :func:`gc.freeze` moves it out of the collector's sight. At saturation the audit buffer holds thousands of
    captured events (tens of containers each) for about a second, long enough to be promoted out of the young
    generation; with CPython's defaults the collections of the older generations walked them, and the whole
    heap, every few hundred requests (profiled in docs/performance.md, "The edge, the heap and the line").
    With these thresholds a young collection runs every 20,000 net allocations and the older generations
    about a thousand times less often: the request path makes no reference cycles of its own, and the
    events are freed by reference counting once written, so the older generations hold little garbage."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def uvicorn_config(settings: Settings, app: Starlette | str) -> uvicorn.Config:
    body_guard(settings)
    return uvicorn.Config(
        app,
        host=settings.listen_host(),
        port=settings.listen_port(),
        loop="uvloop",
        # httptools, request-head and request-body deadlines (slow-loris, slow bodies), the ASGI tls extension
        http=TLSAwareProtocol,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=max(1, int(settings.server.read_header_timeout)),
        timeout_graceful_shutdown=max(1, int(round(settings.server.shutdown.grace_period))),
        workers=settings.server.workers,
    )


def _worker_main(
    settings: Settings,
    sockets: list[socket.socket],
    tls_sockets: list[tuple[str, socket.socket]],
) -> None:
    """Entry point of a spawned worker process: ``settings`` is the parent's validated copy (pickled)."""
    logs.configure()
    lifecycle = Lifecycle()
    app = create_app(settings, lifecycle=lifecycle)
    settle_heap()
    config = uvicorn_config(settings, app)
    delay = settings.server.shutdown.pre_shutdown_delay
    try:
        GracefulServer(config, lifecycle, delay, specs_for(settings, tls_sockets)).run(sockets=sockets)
    finally:
        logs.flush_access_lines()  # a spawned worker ends with os._exit: atexit handlers do not run there


def _supervise(settings: Settings, tls_sockets: list[tuple[str, socket.socket]]) -> None:
    """Bind once, spawn ``server.workers`` processes sharing the sockets, forward SIGTERM/SIGINT, restart
    crashes."""
    workers = settings.server.workers
    main_is_tls = any(name == MAIN for name, _ in tls_sockets)
    # The parent only binds (the app string is never imported here); the workers build their own apps.
    plain = [] if main_is_tls else [uvicorn_config(settings, "apitest.app:create_app").bind_socket()]
    metrics_dir, own_metrics_dir = prepare_multiprocess_dir()  # before any worker imports prometheus-client
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def spawn() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker_main, args=(settings, plain, tls_sockets), daemon=False)
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
    for sock in [*plain, *(s for _, s in tls_sockets)]:
        sock.close()
    if own_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve(settings: Settings) -> None:
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
    tls_sockets = bind_listeners(settings)
    main_is_tls = any(name == MAIN for name, _ in tls_sockets)
    if settings.server.workers <= 1:
        lifecycle = Lifecycle()
        app = create_app(settings, lifecycle=lifecycle)
        settle_heap()
        server = GracefulServer(uvicorn_config(settings, app), lifecycle, delay, specs_for(settings, tls_sockets))
        try:
            server.run(sockets=[] if main_is_tls else None)  # []: the main port is one of the TLS listeners
        finally:
            logs.flush_access_lines()  # the access lines of the last turn of the loop
            for _, sock in tls_sockets:
                sock.close()
        log.info("shutdown complete")
        return
    _supervise(settings, tls_sockets)
    log.info("shutdown complete")
