"""What the audit stores and how it is queried: records, filters, pages and aggregates.

These types are the contract between the capture middleware, the writer, the store implementations
(SQLAlchemy for SQLite/Postgres, and an in-memory fake for unit tests) and the portal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from apitest.outcome import ERROR_CATEGORIES as _ERROR_CATEGORIES
from apitest.outcome import REJECTED_CATEGORIES as _REJECTED_CATEGORIES
from apitest.outcome import SOURCES as _SOURCES

# The vocabularies live in apitest.outcome, where the stages that set them read them; re-exported here.
SOURCES = _SOURCES
ERROR_CATEGORIES = _ERROR_CATEGORIES
REJECTED_CATEGORIES = _REJECTED_CATEGORIES


class InvalidRecordError(Exception):
    """The database refused the rows themselves (a constraint or a value), not the connection: retrying the
    same batch cannot succeed, so the writer retries the records one by one and drops only the bad ones."""


@dataclass
class PayloadRecord:
    request_headers: dict[str, list[str]] | None = None
    request_query: dict[str, list[str]] | None = None
    request_content_type: str | None = None
    request_body: bytes | None = None
    request_size_bytes: int = 0
    request_truncated: bool = False
    request_remote_addr: str | None = None
    response_headers: dict[str, list[str]] | None = None
    response_content_type: str | None = None
    response_body: bytes | None = None
    response_size_bytes: int = 0
    response_truncated: bool = False
    replayed_from: str | None = None


@dataclass
class EventRecord:
    """One request as the fixture saw it. ``id`` is assigned at capture time (UUIDv4)."""

    id: str
    ts: datetime  # request start, UTC
    method: str
    path: str
    status: int
    success: bool
    duration_ms: float = 0.0  # ms, rounded to the microsecond
    request_id: str | None = None
    session_id: str | None = None
    user_subject: str | None = None
    user_email: str | None = None
    auth_type: str | None = None
    api_key_name: str | None = None
    route_name: str | None = None
    endpoint_group: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    error_message: str | None = None
    error_category: str | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    source: str = "wire"
    payload: PayloadRecord | None = None
    recorded_at: datetime | None = None  # when the writer stored the row (set by the store; orders the live tail)
    # Facts a route or stage adds about this request (e.g. an attempt number, a WebSocket session's counters,
    # a client certificate): a flat JSON object, set through ``scope["state"][AUDIT_DETAILS_KEY]``.
    details: dict[str, Any] | None = None
    # The request as it arrived (apitest.audit.raw): the request-target undecoded with its query, the HTTP
    # version, the Host header, and the headers as [name, value] pairs in arrival order and spelling.
    raw_target: str | None = None
    http_version: str | None = None
    host: str | None = None
    header_list: list[list[str]] | None = None
    credentials: list[dict[str, Any]] | None = None  # credential evidence (apitest.auth.evidence)
    ttfb_ms: float | None = None  # response head sent, ms since the request started
    chunk_offsets: list[float] | None = None  # streamed responses: send offset (ms) of the first 1000 chunks
    client_complete: bool | None = None  # the whole response reached a connected client


@dataclass
class AuditFilters:
    """AND-combined filters; ``None`` means no constraint."""

    since: datetime | None = None  # ts >= since
    until: datetime | None = None  # ts <= until
    method: str | None = None
    path: str | None = None  # exact path
    path_contains: str | None = None
    route_name: str | None = None
    endpoint_group: str | None = None
    status: int | None = None
    status_class: int | None = None  # 2 for 2xx ... 5 for 5xx
    success: bool | None = None
    auth_type: str | None = None
    user: str | None = None  # exact user_subject
    caller: str | None = None  # user_subject or api_key_name, exact
    session: str | None = None
    request_id: str | None = None
    error_category: str | None = None
    source: str | None = None
    q: str | None = None  # case-insensitive substring of path, error message, headers, query and bodies
    raw_target: str | None = None  # substring of raw_target (case-sensitive: %2F and %2f are different bytes)
    fingerprint: str | None = None  # a credential fingerprint, "sha256:" + 12 hex digits
    duration_min_ms: float | None = None  # duration_ms >= this
    duration_max_ms: float | None = None  # duration_ms <= this
    header: tuple[str, str | None] | None = None  # a request header (lower-case name) and value (None: any value)
    sort: str = "time"  # list order: "time" (newest first) or "duration" (slowest first)


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the (ts, id) of the last row of the previous page (newest first); with the duration
    sort also its ``duration_ms`` (the page is then ordered by ``(duration_ms, id)``)."""

    ts: datetime
    id: str
    duration_ms: float | None = None


@dataclass
class Page:
    events: list[EventRecord]
    next: Cursor | None  # None on the last page


@dataclass
class Bucket:
    start: datetime
    count: int
    errors: int
    avg_duration_ms: float


@dataclass
class Group:
    key: str
    count: int
    errors: int
    avg_duration_ms: float


@dataclass
class Stats:
    total: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.total, 3) if self.total else 0.0


BREAKDOWN_DIMENSIONS = ("endpoint_group", "route_name", "status", "status_class", "auth_type", "user", "path")


class AuditStore(Protocol):
    """Persistence of audit events. Implementations: ``SQLAuditStore`` and ``MemoryAuditStore``."""

    async def append_many(self, records: list[EventRecord]) -> None:
        """Insert events and their payloads together, in one transaction."""

    async def get(self, event_id: str) -> EventRecord | None:
        """The event with its payload, or None."""

    async def list_page(self, filters: AuditFilters, after: Cursor | None = None, limit: int = 50) -> Page:
        """Newest first (ts DESC, id DESC), starting after ``after``."""

    async def tail(self, filters: AuditFilters, after: Cursor, limit: int = 1000) -> Page:
        """Rows stored after ``after``, a ``(recorded_at, id)`` position, oldest write first (the live tail);
        ``next`` is where to poll from next time. Rows are written when requests end, so a tail by ``ts``
        would miss long requests."""

    async def count(self, filters: AuditFilters, cap: int | None = None) -> int:
        """Matching rows, counting at most ``cap`` (so big tables stay fast): ``cap`` means "cap or more"."""

    async def timeseries(self, filters: AuditFilters, bucket_seconds: int) -> list[Bucket]:
        """Buckets over [filters.since, filters.until)."""

    async def breakdown(self, filters: AuditFilters, dimension: str, top: int) -> list[Group]:
        """Counts per ``dimension`` value, largest first."""

    async def stats(self, filters: AuditFilters) -> Stats:
        """Totals and latency percentiles (computed by the database on Postgres)."""

    async def delete_older_than(self, cutoff: datetime, batch_size: int = 5000) -> int:
        """Delete events with ts < cutoff in bounded batches; returns how many."""
