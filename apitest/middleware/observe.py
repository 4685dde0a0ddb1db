"""One response observer for the whole server: the access log line and the request metrics.

:class:`apitest.middleware.edge.Edge`'s single ``send`` wrapper records the status and the body bytes into the
request's :class:`~apitest.outcome.RequestOutcome`; when the response ends, :meth:`Observer.end` feeds the same
outcome to the JSON access log line (method, path, status, bytes, duration, request id, caller) and the
Prometheus request counter and latency histogram (labelled by route name rather than raw path, for bounded
cardinality). The audit reads the same outcome (identity, error category, request id) for its row.

Cheap by design, after profiling (docs/performance.md): the metrics are counted as plain numbers
(:class:`apitest.metrics.RequestTally`, added to the Prometheus objects at each scrape), and when the access
logger writes through the JSON handler :func:`apitest.logs.configure` installed, the line is rendered directly
(:func:`apitest.logs.write_access`, the same JSON the formatter produces, without a ``LogRecord``) and the lines
of one event-loop turn are written together.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

from apitest import logs
from apitest.metrics import Metrics
from apitest.middleware.metrics import METHODS, auth_label, route_label
from apitest.outcome import RequestOutcome

log = logs.get("access")


class Observer:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.tally = metrics.tally if metrics is not None else None

    def begin(self) -> None:
        if self.tally is not None:
            self.tally.in_flight += 1

    def end(self, scope: Scope, outcome: RequestOutcome) -> None:
        """The response ended (or the request failed): count it and write its access line."""
        elapsed = time.perf_counter() - outcome.started
        tally = self.tally
        if tally is not None:
            tally.in_flight -= 1
            method = scope["method"]
            tally.observe(
                route_label(scope), method if method in METHODS else "OTHER", outcome.status, auth_label(scope), elapsed
            )
        if log.isEnabledFor(logging.INFO):
            self._log(scope, outcome, elapsed)

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
