"""Prometheus metrics: request counts and latency, the audit pipeline, the database pool, build info.

Request metrics are recorded by :class:`~apitest.middleware.observe.Observer`. Everything
else lives in other components (the audit writer's :class:`~apitest.audit.buffer.AuditStats`, the
SQLAlchemy pool) and is copied into the metric objects by :meth:`Metrics.sync`: at every scrape, and,
with several workers, once a second in every worker.

Several workers: ``apitest serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
it spawns them (:func:`prepare_multiprocess_dir`), so prometheus-client keeps each worker's values in
files there and any worker answering ``/metrics`` adds them all up. Counters sum over every worker
that ever ran; gauges over the live ones (``livesum``) or the newest value (``livemostrecent``).

References:
  - https://prometheus.github.io/client_python/multiprocess/
  - https://prometheus.io/docs/practices/naming/
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import shutil
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest import __version__, logs
from apitest.config import Settings
from apitest.db.engine import Database
from apitest.http import error_response
from apitest.http_guard import GUARD_STATS, SLOW_BODY_REASONS
from apitest.outcome import outcome_of


class Sources(Protocol):
    """What ``/metrics`` reads at scrape time (:class:`Scraped` is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def database(self) -> Any: ...  # apitest.db.engine.Database | None: pool state

    @property
    def audit(self) -> Any: ...  # apitest.audit.buffer.AuditWriter | None: its stats

    @property
    def webhooks(self) -> Any: ...  # apitest.webhooks.service.WebhookService | None: its stats


@dataclass(frozen=True)
class Scraped:
    """The :class:`Sources` :func:`apitest.app.create_app` hands :class:`MetricsSite`: the settings and,
    as explicit arguments, the collaborators whose state ``/metrics`` copies (each ``None`` when its
    feature is off). The audit writer and the webhook service live on floors above this module, so
    they are typed by what is read of them (``stats``), not by class."""

    settings: Settings
    database: Database | None  # pool state
    audit: Any  # apitest.audit.buffer.AuditWriter | None
    webhooks: Any  # apitest.webhooks.service.WebhookService | None


log = logs.get("metrics")
# The *_created series would double the output, and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SYNC_INTERVAL = 1.0  # seconds between background syncs when several workers share the metrics
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def multiprocess_dir() -> str | None:
    """The shared metrics directory when prometheus-client runs in multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir() -> tuple[str, bool]:
    """Before spawning workers: use ``$PROMETHEUS_MULTIPROC_DIR`` (emptied) or a new temporary directory.

    Left-over files from an earlier run would be added to this run's counters, so the directory is
    always emptied first. Returns the path and whether it was created here (then the caller removes it).
    """
    path = multiprocess_dir()
    if path is None:
        path = tempfile.mkdtemp(prefix="apitest-metrics-")
        os.environ[MULTIPROC_ENV] = path
        return path, True
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            shutil.rmtree(full)
        else:
            os.remove(full)
    return path, False


def mark_worker_dead(pid: int | None) -> None:
    """Forget a dead worker's live gauges (its counters keep counting in the totals)."""
    if pid is not None and multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class StatsLike(Protocol):
    """What the metrics read from :class:`~apitest.audit.buffer.AuditStats`."""

    buffer_size: int
    buffer_bytes: int
    queued: int
    queued_bytes: int
    accepted_total: int
    written_total: int
    dropped_total: int
    rejected_total: int
    scrubbed_total: int
    write_errors_total: int
    batches_total: int
    batch_seconds_total: float
    last_batch_size: int
    last_batch_ms: float


# AuditStats counter -> metric name (without the _total suffix prometheus-client adds)
AUDIT_COUNTERS: dict[str, tuple[str, str]] = {
    "accepted_total": ("apitest_audit_events_accepted", "Audit events taken into the buffer."),
    "written_total": ("apitest_audit_events_written", "Audit events stored in the database."),
    "dropped_total": ("apitest_audit_events_dropped", "Audit events lost (buffer full, refused, or not drained)."),
    "rejected_total": ("apitest_audit_events_rejected", "Of the dropped events: rows the database refused."),
    "scrubbed_total": (
        "apitest_audit_events_scrubbed",
        "Events the database refused, stored with their offending fields replaced and marked.",
    ),
    "write_errors_total": ("apitest_audit_write_errors", "Failed audit write attempts (each retry counts)."),
    "batches_total": ("apitest_audit_batches", "Successful audit batch writes."),
    "batch_seconds_total": ("apitest_audit_batch_duration_seconds", "Time spent in successful audit batch writes."),
    "backpressure_waits_total": (
        "apitest_audit_backpressure_waits",
        "Requests that waited for room in a full audit buffer before being answered (audit.backpressure_wait_ms).",
    ),
    "backpressure_seconds_total": (
        "apitest_audit_backpressure_seconds",
        "Time requests waited for room in a full audit buffer before being answered.",
    ),
}

# WebhookStats counter -> metric name (without the _total suffix)
WEBHOOK_COUNTERS: dict[str, tuple[str, str]] = {
    "enqueued_total": (
        "apitest_webhook_deliveries_enqueued",
        "Webhook deliveries created (sends and matched audit events).",
    ),
    "attempts_total": ("apitest_webhook_attempts", "Webhook delivery attempts made."),
    "succeeded_total": ("apitest_webhook_attempts_succeeded", "Webhook attempts answered 2xx."),
    "failed_total": (
        "apitest_webhook_attempts_failed",
        "Webhook attempts that failed (status, timeout, network, refused).",
    ),
    "dead_total": ("apitest_webhook_dead_letters", "Webhook deliveries dead-lettered after their last attempt."),
    "redelivered_total": ("apitest_webhook_redeliveries", "Manual webhook redeliveries."),
}


class RequestTally:
    """The request metrics of this process as plain numbers, counted by
    :class:`~apitest.middleware.observe.Observer` on every response and added to the Prometheus objects by
    :meth:`Metrics.sync` (at every scrape; once a second with several workers).

    Why not ``Counter.inc`` and ``Histogram.observe`` on every response: each takes a lock and the histogram
    walks its buckets, about a tenth of an un-audited request (docs/performance.md). Here a response costs two
    dict updates and a ``bisect``. A histogram's buckets are folded in through the child's own bucket values
    (``_buckets``, ``_sum``: prometheus-client keeps no public way to add many observations at once); the
    tests compare the exposition with what ``observe`` gives for the same durations."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = (*bounds, math.inf)
        self.in_flight = 0
        self.counts: dict[tuple[str, str, int, str], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # per bucket (not cumulative), then the sum

    def observe(self, route: str, method: str, status: int, auth: str, seconds: float) -> None:
        key = (route, method, status, auth)
        self.counts[key] = self.counts.get(key, 0) + 1
        slots = self.latency.get((route, method))
        if slots is None:
            slots = self.latency[(route, method)] = [0.0] * (len(self.bounds) + 1)
        slots[bisect_left(self.bounds, seconds)] += 1  # the first bound >= seconds, as observe() picks
        slots[-1] += seconds

    def take(self) -> tuple[dict[tuple[str, str, int, str], int], dict[tuple[str, str], list[float]]]:
        """What was counted since the last call (and start again from zero)."""
        counts, latency = self.counts, self.latency
        self.counts, self.latency = {}, {}
        return counts, latency


class DirectTally(RequestTally):
    """Several workers: each response goes straight into the Prometheus objects (the files the workers share),
    so a scrape answered by any worker counts every response of every worker at once; a tally would reach the
    files only at the other workers' next sync. The label children are cached per label tuple."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._flight = 0
        super().__init__()
        self._children: dict[tuple[str, str, int, str], Any] = {}
        self._timings: dict[tuple[str, str], Any] = {}

    @property
    def in_flight(self) -> int:
        return self._flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._flight = value
        self._metrics.in_flight.set(value)

    def observe(self, route: str, method: str, status: int, auth: str, seconds: float) -> None:
        key = (route, method, status, auth)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._metrics.requests.labels(route, method, str(status), auth)
        child.inc()
        timing = self._timings.get((route, method))
        if timing is None:
            timing = self._timings[(route, method)] = self._metrics.latency.labels(route, method)
        timing.observe(seconds)


@dataclass
class _Seen:
    """Last cumulative values copied from one stats object, so counters grow by the difference."""

    source: int = 0  # id() of the stats object; a new one (a new lifespan) starts from zero
    values: dict[str, float] | None = None


class Metrics:
    """The metric objects of one app, plus how to render them."""

    def __init__(self, *, multiprocess_path: str | None = None) -> None:
        self.multiprocess_path = multiprocess_path
        self.registry = CollectorRegistry(auto_describe=True)
        if multiprocess_path is None:
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "apitest_http_requests",
            "HTTP requests answered, by route name, method, status and auth type.",
            ["route", "method", "status", "auth_type"],
            registry=r,
        )
        self.latency = Histogram(
            "apitest_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response body.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "apitest_http_requests_in_flight", "Requests being served now.", registry=r, multiprocess_mode="livesum"
        )
        self.build_info = Gauge(
            "apitest_build_info",
            "Always 1; the labels name the running build.",
            ["version", "python_version", "python_implementation"],
            registry=r,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__, platform.python_version(), platform.python_implementation()).set(1)
        self.start_time = Gauge(
            "apitest_start_time_seconds",
            "Unix time the server started.",
            registry=r,
            multiprocess_mode="min",
        )
        self.start_time.set(time.time())
        self.audit_enabled = Gauge(
            "apitest_audit_enabled", "1 when the audit log is on.", registry=r, multiprocess_mode="max"
        )
        self.audit_queued = Gauge(
            "apitest_audit_queued",
            "Audit events waiting to be written, including the batch being written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.audit_capacity = Gauge(
            "apitest_audit_buffer_capacity",
            "Audit events the buffers can hold.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.audit_queued_bytes = Gauge(
            "apitest_audit_queued_bytes",
            "Estimated bytes of the audit events waiting to be written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.audit_capacity_bytes = Gauge(
            "apitest_audit_buffer_capacity_bytes",
            "Bytes of audit events the buffers can hold (audit.buffer_bytes).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.slow_bodies = Counter(
            "apitest_http_slow_body_timeouts",
            "Connections answered 408 or closed because the request body arrived too slowly"
            " (server.read_body_timeout, server.min_body_rate).",
            ["reason"],
            registry=r,
        )
        self.audit_last_batch_size = Gauge(
            "apitest_audit_last_batch_size",
            "Events in the newest successful batch write.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.audit_last_batch_seconds = Gauge(
            "apitest_audit_last_batch_duration_seconds",
            "Duration of the newest successful batch write.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.audit_counters = {attr: Counter(name, doc, registry=r) for attr, (name, doc) in AUDIT_COUNTERS.items()}
        self.db_pool = Gauge(
            "apitest_db_pool_connections",
            "Database pool connections by state (checked_out, idle, overflow) and the configured limit (max).",
            ["state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.webhook_counters = {attr: Counter(name, doc, registry=r) for attr, (name, doc) in WEBHOOK_COUNTERS.items()}
        self.tally = RequestTally() if multiprocess_path is None else DirectTally(self)
        self._seen = _Seen()
        self._seen_webhooks = _Seen()
        self._guard_seen: dict[str, int] = {}
        for reason in SLOW_BODY_REASONS:
            self.slow_bodies.labels(reason)

    # Scrape-time copies ------------------------------------------------------------------------

    def sync(self, services: Sources) -> None:
        """Copy the request tally, the audit stats and the pool state of this process into the metric objects."""
        self.sync_requests()
        stats = audit_stats_of(services)
        self.audit_enabled.set(1 if services.settings.audit.enabled else 0)
        if stats is not None:
            self._sync_audit(stats)
        webhooks = getattr(getattr(services, "webhooks", None), "stats", None)
        if webhooks is not None:
            self._seen_webhooks = _grow(self.webhook_counters, webhooks, self._seen_webhooks)
        self._sync_pool(services)
        self._sync_guard()

    def sync_requests(self) -> None:
        """Add what :attr:`tally` counted since the last sync to the request counter and latency histogram."""
        self.in_flight.set(self.tally.in_flight)
        counts, latency = self.tally.take()
        for (route, method, status, auth), count in counts.items():
            # status "0": no response was started (the client went away first)
            self.requests.labels(route, method, str(status), auth).inc(count)
        for (route, method), slots in latency.items():
            child: Any = self.latency.labels(route, method)
            for bucket, observed in zip(child._buckets, slots, strict=False):
                if observed:
                    bucket.inc(observed)
            child._sum.inc(slots[-1])

    def _sync_guard(self) -> None:
        """The slow-body counts of this process's protocol instances (:data:`apitest.http_guard.GUARD_STATS`)."""
        current = dict(GUARD_STATS.slow_bodies)
        for reason, value in current.items():
            delta = value - self._guard_seen.get(reason, 0)
            if delta > 0:
                self.slow_bodies.labels(reason).inc(delta)
        self._guard_seen = current

    def _sync_audit(self, stats: StatsLike) -> None:
        self.audit_queued.set(stats.queued)
        self.audit_capacity.set(stats.buffer_size)
        self.audit_queued_bytes.set(stats.queued_bytes)
        self.audit_capacity_bytes.set(stats.buffer_bytes)
        self.audit_last_batch_size.set(stats.last_batch_size)
        self.audit_last_batch_seconds.set(stats.last_batch_ms / 1000)
        current = {attr: float(getattr(stats, attr, 0)) for attr in AUDIT_COUNTERS}  # older stats lack some
        if self._seen.source != id(stats) or self._seen.values is None:
            previous = dict.fromkeys(current, 0.0)
        else:
            previous = self._seen.values
        for attr, value in current.items():
            delta = value - previous[attr]
            if delta > 0:
                self.audit_counters[attr].inc(delta)
        self._seen = _Seen(source=id(stats), values=current)

    def _sync_pool(self, services: Sources) -> None:
        database = services.database
        pool: Any = getattr(getattr(database, "engine", None), "pool", None)
        if pool is None or not hasattr(pool, "checkedout"):
            for state in ("checked_out", "idle", "overflow", "max"):
                self.db_pool.labels(state).set(0)
            return
        settings = services.settings.database
        self.db_pool.labels("checked_out").set(pool.checkedout())
        self.db_pool.labels("idle").set(pool.checkedin())
        self.db_pool.labels("overflow").set(max(0, pool.overflow()))
        self.db_pool.labels("max").set(settings.max_open_conns if database and database.dialect != "sqlite" else 0)

    # Output ------------------------------------------------------------------------------------

    def render(self) -> bytes:
        if self.multiprocess_path is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_path)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def _grow(counters: dict[str, Counter], stats: object, seen: _Seen) -> _Seen:
    """Add to each counter what the cumulative ``stats`` attribute gained since ``seen``."""
    current = {attr: float(getattr(stats, attr)) for attr in counters}
    previous = seen.values if seen.source == id(stats) and seen.values is not None else dict.fromkeys(current, 0.0)
    for attr, value in current.items():
        delta = value - previous[attr]
        if delta > 0:
            counters[attr].inc(delta)
    return _Seen(source=id(stats), values=current)


def audit_stats_of(services: Sources) -> StatsLike | None:
    """The running audit writer's stats, when the audit log is on."""
    writer = getattr(services, "audit", None)
    stats = getattr(writer, "stats", None)
    return stats if stats is not None and hasattr(stats, "written_total") else None


class MetricsSite:
    """``GET /metrics`` plus the background sync; one per app (a :class:`~apitest.app.Component`)."""

    name = "metrics"

    def __init__(self, services: Sources) -> None:
        self.services = services
        self.settings = services.settings.metrics
        self.metrics = Metrics(multiprocess_path=multiprocess_dir())
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def routes(self, protect: Callable[[ASGIApp], ASGIApp] | None = None) -> list[BaseRoute]:
        """The ``/metrics`` route; ``protect`` wraps it in the inbound auth chain when
        ``metrics.require_auth`` is on."""
        if not self.enabled:
            return []
        endpoint: ASGIApp = MetricsEndpoint(self)
        if self.settings.require_auth:
            assert protect is not None, "metrics.require_auth needs the auth chain"
            endpoint = protect(RequireCredential(endpoint))
        return [Route("/metrics", endpoint, methods=["GET"], name="metrics")]

    def exposition(self) -> bytes:
        self.metrics.sync(self.services)
        return self.metrics.render()

    # Component -----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.enabled and self.metrics.multiprocess_path is not None:
            self._task = asyncio.create_task(self._sync_forever(), name="metrics-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.enabled:
            self.metrics.sync(self.services)  # the final audit counts (after the drain) reach the files

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                self.metrics.sync(self.services)
            except Exception:  # a metrics bug must not take the worker down
                log.exception("metrics sync failed")


class MetricsEndpoint:
    """``GET /metrics`` as a plain ASGI app, so the auth chain can wrap it."""

    def __init__(self, site: MetricsSite) -> None:
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.site.exposition()
        if Request(scope, receive).method == "HEAD":
            body = b""
        response = Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


class RequireCredential:
    """Behind the inbound chain: refuse the anonymous identity, so ``require_auth`` means a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = outcome_of(scope).identity
        if identity is None or identity.auth_type == "anonymous":
            response = error_response("missing credential", 401, {"WWW-Authenticate": 'Bearer realm="api-test"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
