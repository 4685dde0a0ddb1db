"""Typed SQLAlchemy models. The schema itself is owned by the Alembic migrations in ``migrations/``;
these models must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """A database API key. Only a digest of the plaintext is stored; revoking sets ``revoked_at``."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("api_keys_digest_idx", "digest", unique=True),
        Index(
            "api_keys_active_name_idx",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    prefix: Mapped[str] = mapped_column(Text, nullable=False)  # e.g. "at_Xy12", shown in lists
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # hex SHA-256 (HMAC with the pepper if set)
    description: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("audit_events_ts_idx", text("ts DESC"), text("id DESC")),
        Index("audit_events_route_idx", "route_name", text("ts DESC")),
        Index("audit_events_path_idx", "path", text("ts DESC")),
        Index("audit_events_user_idx", "user_subject", text("ts DESC")),
        Index("audit_events_key_idx", "api_key_name", text("ts DESC")),
        Index("audit_events_session_idx", "session_id", text("ts DESC")),
        Index("audit_events_status_idx", "status", text("ts DESC")),
        Index("audit_events_auth_type_idx", "auth_type", text("ts DESC")),
        Index("audit_events_request_id_idx", "request_id"),
        Index("audit_events_recorded_idx", "recorded_at", "id"),
        Index("audit_events_source_idx", "source", text("ts DESC"), text("id DESC")),
        Index("audit_events_category_idx", "error_category", text("ts DESC"), text("id DESC")),
        Index("audit_events_group_idx", "endpoint_group", text("ts DESC"), text("id DESC")),
        Index("audit_events_email_idx", "user_email", text("ts DESC"), text("id DESC")),
        Index("audit_events_duration_idx", "duration_ms", "ts"),  # exact percentiles (apitest.audit.rollups)
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0)  # ms, microsecond precision
    request_id: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(Text)
    user_subject: Mapped[str | None] = mapped_column(Text)
    user_email: Mapped[str | None] = mapped_column(Text)
    auth_type: Mapped[str | None] = mapped_column(Text)
    api_key_name: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    route_name: Mapped[str | None] = mapped_column(Text)
    endpoint_group: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bytes_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_category: Mapped[str | None] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, nullable=False, default="wire")  # wire | tryit | replay
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the writer stored the row
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # per-route facts (see EventRecord.details)
    # The request as it arrived (apitest.audit.raw), credential evidence (apitest.auth.evidence) and the wire
    # timing (apitest.audit.timing).
    raw_target: Mapped[str | None] = mapped_column(Text)
    http_version: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(Text)
    header_list: Mapped[list[Any] | None] = mapped_column(JSONType)
    credentials: Mapped[list[Any] | None] = mapped_column(JSONType)
    ttfb_ms: Mapped[float | None] = mapped_column(Float)
    chunk_offsets: Mapped[list[Any] | None] = mapped_column(JSONType)
    client_complete: Mapped[bool | None] = mapped_column(Boolean)


class AuditRollup(Base):
    """Per-minute (and per-hour, per-day) sums of audit events by one dashboard dimension, kept by the writer in
    the batch's own transaction (apitest.audit.rollups). ``bucket`` is the period's start in epoch seconds."""

    __tablename__ = "audit_rollup_minute"

    dimension: Mapped[str] = mapped_column(Text, primary_key=True)  # total | status_class | route | caller | ...
    span: Mapped[int] = mapped_column(Integer, primary_key=True)  # 60 | 3600 | 86400 seconds
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds, a multiple of span
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    errors: Mapped[int] = mapped_column(BigInteger, nullable=False)
    duration_sum: Mapped[float] = mapped_column(Float, nullable=False)
    error_duration_sum: Mapped[float] = mapped_column(Float, nullable=False)
    duration_max: Mapped[float] = mapped_column(Float, nullable=False)


class AuditPayload(Base):
    __tablename__ = "audit_payloads"
    __table_args__ = (
        Index(
            "audit_payloads_replayed_from_idx",
            "replayed_from",
            sqlite_where=text("replayed_from IS NOT NULL"),
            postgresql_where=text("replayed_from IS NOT NULL"),
        ),
    )

    event_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True
    )
    request_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    request_query: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    request_content_type: Mapped[str | None] = mapped_column(Text)
    request_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    request_size_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    request_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    request_remote_addr: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response_content_type: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_size_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    response_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    replayed_from: Mapped[str | None] = mapped_column(String(36), ForeignKey("audit_events.id", ondelete="SET NULL"))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class InstallSecret(Base):
    """A random secret generated once per install (e.g. the key of credential fingerprints)."""

    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)  # hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class IdempotencyRecord(Base):
    """An ``Idempotency-Key`` seen by ``POST /v1/orders``; ``status`` is NULL while the first request runs."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("idempotency_keys_expires_idx", "expires_at"),)

    owner: Mapped[str] = mapped_column(Text, primary_key=True)  # caller identity the key belongs to
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RateLimitCounter(Base):
    """One fixed rate-limit window: ``key`` is ``<bucket>|<caller>``; the window ends at ``reset_at_ms``."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = (Index("rate_limit_counters_reset_idx", "reset_at_ms"),)

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    reset_at_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)  # epoch milliseconds


class WebhookSubscription(Base):
    """A webhook target: where to deliver, the signing secret, and which events (an audit filter, explicit sends)."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("webhook_subscriptions_name_idx", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)  # needed to sign, so kept as is; never listed
    filter: Mapped[str | None] = mapped_column(Text)  # audit filter text, canonical ("status=5xx route=x")
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    scheme: Mapped[str] = mapped_column(Text, nullable=False, default="standard")  # standard | stripe
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    source: Mapped[str] = mapped_column(Text, nullable=False, default="api")  # api | config
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WebhookDelivery(Base):
    """One message to one subscription: the exact bytes signed and sent, and where its retries stand."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("webhook_deliveries_event_idx", "subscription_id", "event_id", unique=True),
        Index("webhook_deliveries_due_idx", "state", "next_attempt_at"),
        Index("webhook_deliveries_created_idx", text("created_at DESC"), text("id DESC")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[str] = mapped_column(Text, nullable=False)  # the webhook-id header, same on every attempt
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    event_id: Mapped[str | None] = mapped_column(String(36))  # the audit event delivered (NULL for explicit sends)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)  # pending | delivering | succeeded | dead
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # every attempt so far
    round_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # since creation or redelivery
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))  # the worker sending it now
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a crashed worker's claim lapses here
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("webhook_attempts_delivery_idx", "delivery_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)  # succeeded | retry | dead
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the retry was scheduled


class WebhookCursor(Base):
    """How far the audit poller has read (``recorded_at``, ``id``), shared by every worker."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)


class PortalSessionRevocation(Base):
    """A portal session ended on the server (sign-out) before its cookie expires; kept until ``expires_at``."""

    __tablename__ = "portal_session_revocations"
    __table_args__ = (Index("portal_session_revocations_expires_idx", "expires_at"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)  # the session id carried in the signed cookie
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when the cookie would expire anyway


class SavedView(Base):
    """A named audit list view (its filter query string), saved by one portal identity for itself."""

    __tablename__ = "portal_saved_views"
    __table_args__ = (Index("portal_saved_views_owner_name_idx", "owner", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(Text, nullable=False)  # "<auth_type>:<subject>" of the portal identity
    name: Mapped[str] = mapped_column(Text, nullable=False)
    query: Mapped[str] = mapped_column(Text, nullable=False)  # canonical filter parameters, URL-encoded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
