"""One response observer for the whole server: the access log line and the request metrics.

:class:`apitest.middleware.edge.Edge`'s single ``send`` wrapper records the status and the body bytes into the
request's :class:`~apitest.outcome.RequestOutcome`; when the response ends, :meth:`Observer.end` feeds the same
outcome to the JSON access log line (method, path, status, bytes, duration, request id, caller) and the
Prometheus request counter and latency histogram (labelled by route name rather than raw path, for bounded
cardinality). The audit reads the same outcome (identity, error category, request id) for its row.

Cheap by design, after profiling (docs/performance.md): the metric label children are cached per label
tuple, and when the access logger writes through the JSON handler :func:`apitest.logs.configure` installed,
the line is rendered directly (:func:`apitest.logs.write_access`, the same JSON the formatter produces, without
a ``LogRecord``) and the lines of one event-loop turn are written together.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import Scope

from apitest import logs
from apitest.metrics import Metrics
from apitest.middleware.metrics import METHODS, auth_label, route_label
from apitest.outcome import RequestOutcome

log = logs.get("access")


class Observer:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._requests: dict[tuple[str, str, int, str], Any] = {}  # cached label children
        self._latency: dict[tuple[str, str], Any] = {}

    def begin(self) -> None:
        if self.metrics is not None:
            self.metrics.in_flight.inc()

    def end(self, scope: Scope, outcome: RequestOutcome) -> None:
        """The response ended (or the request failed): count it and write its access line."""
        elapsed = time.perf_counter() - outcome.started
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            self._count(scope, outcome.status, elapsed)
        if log.isEnabledFor(logging.INFO):
            self._log(scope, outcome, elapsed)

    def _count(self, scope: Scope, status: int, elapsed: float) -> None:
        assert self.metrics is not None
        route = route_label(scope)
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        auth = auth_label(scope)
        key = (route, method, status, auth)
        child = self._requests.get(key)
        if child is None:
            # status "0": no response was started (the client went away first)
            child = self._requests[key] = self.metrics.requests.labels(route, method, str(status), auth)
        child.inc()
        timing = self._latency.get((route, method))
        if timing is None:
            timing = self._latency[(route, method)] = self.metrics.latency.labels(route, method)
        timing.observe(elapsed)

    def _log(self, scope: Scope, outcome: RequestOutcome, elapsed: float) -> None:
        method, path, status, size = scope["method"], scope["path"], outcome.status, outcome.bytes_out
        duration_ms = round(elapsed * 1000, 3)
        identity = outcome.identity
        auth_type = identity.auth_type if identity is not None else None
        subject = identity.subject if identity is not None else None
        if logs.write_access(log, method, path, status, size, duration_ms, outcome.request_id, auth_type, subject):
            return
        extra: dict[str, object] = {
            "method": method,
            "path": path,
            "status": status,
            "bytes": size,
            "duration_ms": duration_ms,
            "request_id": outcome.request_id,
        }
        if identity is not None:
            extra["auth_type"] = auth_type
            extra["subject"] = subject
        log.info("request", extra=extra)
