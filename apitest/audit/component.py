"""The audit as an app component: store, writer and retention job on the app's database, built by
``create_app`` (which hands the writer to the audit stage and the store to the portal and webhooks).

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
from apitest.db.engine import Database

log = logs.get("audit")

MIN_DRAIN_SECONDS = 5.0


def sql_audit_writer(settings: Settings, database: Database) -> AuditWriter:
    """The writer of ``audit.*`` over the audit table of ``database``."""
    audit = settings.audit
    return AuditWriter(
        SQLAuditStore(database),
        buffer_size=audit.buffer_size,
        buffer_bytes=audit.buffer_bytes,
        batch_size=audit.batch_size,
        flush_interval=audit.flush_interval_ms / 1000,
        backpressure_wait=max(0, audit.backpressure_wait_ms) / 1000,
    )


class AuditComponent:
    """Starts the ``writer`` and the retention job over its store; at shutdown drains the writer."""

    name = "audit"

    def __init__(self, settings: Settings, writer: AuditWriter, *, backend: str) -> None:
        audit = settings.audit
        self.settings = settings
        self.backend = backend  # for the startup log: "sqlite", "postgresql" (or "memory" in tests)
        self.writer = writer
        self.store = writer.store
        self.retention = RetentionJob(
            self.store, retention_days=audit.retention_days, interval=audit.retention_interval
        )

    @property
    def drain_timeout(self) -> float:
        return max(MIN_DRAIN_SECONDS, self.settings.server.shutdown.grace_period)

    async def start(self) -> None:
        audit = self.settings.audit
        self.writer.start()
        self.retention.start()
        log.info(
            "audit enabled",
            extra={
                "backend": self.backend,
                "buffer_size": self.writer.buffer_size,
                "buffer_bytes": self.writer.buffer_bytes,
                "batch_size": self.writer.batch_size,
                "flush_interval_ms": audit.flush_interval_ms,
                "capture_payloads": audit.capture_payloads,
                "retention_days": audit.retention_days,
            },
        )

    async def stop(self) -> None:
        await self.retention.stop()
        # The writer stays in place, stopped: a straggling request is then counted as dropped, not lost.
        await self.writer.close(self.drain_timeout)
