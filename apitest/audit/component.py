"""The audit as an app component: store, writer and retention job on the app's database.

Registered after the database component, so at shutdown it stops first: the writer drains its queue
(for up to ``max(5 s, server.shutdown.grace_period)`` while the database is unreachable) before the
engine is disposed.
"""

from __future__ import annotations

from apitest import logs
from apitest.audit.buffer import AuditWriter
from apitest.audit.retention import RetentionJob
from apitest.audit.store_sql import SQLAuditStore
from apitest.config import Settings
from apitest.services import Services

log = logs.get("audit")

MIN_DRAIN_SECONDS = 5.0


class AuditComponent:
    name = "audit"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def drain_timeout(self) -> float:
        return max(MIN_DRAIN_SECONDS, self.settings.server.shutdown.grace_period)

    async def start(self, services: Services) -> None:
        if services.database is None:
            raise RuntimeError("audit.enabled requires database.url")
        audit = self.settings.audit
        store = SQLAuditStore(services.database)
        writer = AuditWriter(
            store,
            buffer_size=audit.buffer_size,
            buffer_bytes=audit.buffer_bytes,
            batch_size=audit.batch_size,
            flush_interval=audit.flush_interval_ms / 1000,
            backpressure_wait=max(0, audit.backpressure_wait_ms) / 1000,
        )
        retention = RetentionJob(store, retention_days=audit.retention_days, interval=audit.retention_interval)
        writer.start()
        retention.start()
        services.audit_store = store
        services.audit = writer
        services.audit_retention = retention
        log.info(
            "audit enabled",
            extra={
                "backend": services.database.dialect,
                "buffer_size": writer.buffer_size,
                "buffer_bytes": writer.buffer_bytes,
                "batch_size": writer.batch_size,
                "flush_interval_ms": audit.flush_interval_ms,
                "capture_payloads": audit.capture_payloads,
                "retention_days": audit.retention_days,
            },
        )

    async def stop(self, services: Services) -> None:
        if services.audit_retention is not None:
            await services.audit_retention.stop()
        if services.audit is not None:
            # The writer stays in place, stopped: a straggling request is then counted as dropped, not lost.
            await services.audit.close(self.drain_timeout)
