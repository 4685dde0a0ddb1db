"""The webhooks as an app component: checks and syncs the file's subscriptions, then runs the worker.

Registered after the audit component, so at shutdown the worker stops first: an attempt in flight is
abandoned and its delivery handed back as due (another worker, or the next start, sends it again; if the
database cannot be reached then, the claim lapses after the longest attempt plus 30 s).
"""

from __future__ import annotations

from apitest import logs
from apitest.audit.records import AuditStore
from apitest.audit.redaction import Redactor
from apitest.config import Settings
from apitest.config.model import WebhookSubscriptionSetting
from apitest.db.engine import Database
from apitest.sensitive import Sensitive
from apitest.webhooks.delivery import Schedule, Sender
from apitest.webhooks.events import parse_event_filter
from apitest.webhooks.records import Subscription
from apitest.webhooks.service import WebhookService
from apitest.webhooks.store import WebhookStore
from apitest.webhooks.targets import TargetRefused, check_url

log = logs.get("webhooks")


def from_config(index: int, item: WebhookSubscriptionSetting, settings: Settings) -> Subscription:
    """A file subscription, checked as the API checks one; raises ``ValueError`` naming the entry."""
    where = f"webhooks.subscriptions[{index}] ({item.name})"
    try:
        check_url(item.url, settings.webhooks.allowed_hosts)
        event_filter = parse_event_filter(item.filter).text if item.filter.strip() else None
    except (TargetRefused, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return Subscription(
        id="",
        name=item.name,
        url=item.url,
        secret=item.secret,
        filter=event_filter,
        event_types=list(item.event_types),
        scheme=item.scheme or settings.webhooks.signature_scheme,
        active=item.active,
        source="config",
        description=item.description or None,
    )


def schedule_of(settings: Settings) -> Schedule:
    w = settings.webhooks
    return Schedule(max_attempts=w.max_attempts, base=w.backoff_base, cap=w.backoff_max, jitter=w.jitter)


class WebhookComponent:
    """Builds the store, sender and worker; at startup syncs the file's subscriptions and starts the worker."""

    name = "webhooks"

    def __init__(self, settings: Settings, database: Database, audit_store: AuditStore | None) -> None:
        w = settings.webhooks
        self.settings = settings
        self.subscriptions = [from_config(i, item, settings) for i, item in enumerate(w.subscriptions)]
        self.store = WebhookStore(database)
        sender = Sender(
            allowed_hosts=list(w.allowed_hosts),
            connect_timeout=w.connect_timeout,
            timeout=w.timeout,
            max_response_bytes=w.max_response_bytes,
            redactor=Redactor(Sensitive(settings.audit.redact_keys)),
        )
        self.service = WebhookService(
            self.store,
            sender,
            schedule_of(settings),
            audit_store=audit_store,
            poll_interval=w.poll_interval,
            concurrency=w.concurrency,
            retention_days=w.retention_days,
        )
        self.audit_matching = audit_store is not None

    async def start(self) -> None:
        w = self.settings.webhooks
        await self.store.sync_config(self.subscriptions)
        self.service.start()
        log.info(
            "webhooks enabled",
            extra={
                "subscriptions_in_file": len(self.subscriptions),
                "allowed_hosts": ",".join(w.allowed_hosts),
                "max_attempts": w.max_attempts,
                "audit_matching": self.audit_matching,
            },
        )

    async def stop(self) -> None:
        await self.service.stop()
