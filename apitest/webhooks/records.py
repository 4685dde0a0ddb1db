"""The webhook records as the store returns them, and their JSON shapes for the admin API and the portal.

A subscription's secret is never part of :meth:`Subscription.to_json`: it is shown once, when created.
Response bodies in the delivery log are bytes; :func:`body_text` shows them as text when they decode.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATES = ("pending", "delivering", "succeeded", "dead")
OUTCOMES = ("succeeded", "retry", "dead")


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def body_text(body: bytes | None) -> dict[str, Any]:
    """``{"text": ...}`` for UTF-8 bodies, ``{"base64": ...}`` otherwise; JSON bodies also pretty-printed."""
    if body is None:
        return {"text": None}
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}
    return {"text": text}


@dataclass
class Subscription:
    id: str
    name: str
    url: str
    secret: str = field(repr=False)
    filter: str | None = None
    event_types: list[str] = field(default_factory=list)
    scheme: str = "standard"
    active: bool = True
    source: str = "api"
    description: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "filter": self.filter,
            "event_types": list(self.event_types),
            "scheme": self.scheme,
            "active": self.active,
            "source": self.source,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Attempt:
    id: str
    delivery_id: str
    number: int
    started_at: datetime
    url: str
    outcome: str  # succeeded | retry | dead
    status: int | None = None
    latency_ms: int = 0
    response_headers: dict[str, list[str]] | None = None
    response_body: bytes | None = None
    response_truncated: bool = False
    error: str | None = None
    next_attempt_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "started_at": iso(self.started_at),
            "url": self.url,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "outcome": self.outcome,
            "error": self.error,
            "next_attempt_at": iso(self.next_attempt_at),
            "response_headers": self.response_headers or {},
            "response_body": body_text(self.response_body),
            "response_truncated": self.response_truncated,
        }


@dataclass
class Delivery:
    id: str
    subscription_id: str
    message_id: str
    event_type: str
    payload: bytes
    state: str
    event_id: str | None = None
    attempts: int = 0
    round_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    subscription_name: str = ""
    url: str = ""
    attempt_log: list[Attempt] = field(default_factory=list)

    def to_json(self, *, with_attempts: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "subscription": self.subscription_name,
            "url": self.url,
            "message_id": self.message_id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "state": self.state,
            "attempts": self.attempts,
            "round_attempts": self.round_attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "completed_at": iso(self.completed_at),
        }
        if with_attempts:
            try:
                out["payload"] = json.loads(self.payload)
            except ValueError:
                out["payload"] = body_text(self.payload)
            out["attempt_log"] = [a.to_json() for a in self.attempt_log]
        return out


@dataclass
class DeliveryFilters:
    subscription: str | None = None  # id or name
    state: str | None = None
    event_type: str | None = None
    event_id: str | None = None
    status: int | None = None  # last status, exact
    status_class: int | None = None  # 2 for 2xx ... 5 for 5xx


@dataclass(frozen=True)
class DeliveryCursor:
    created_at: datetime
    id: str


@dataclass
class DeliveryPage:
    deliveries: list[Delivery]
    next: DeliveryCursor | None


@dataclass
class Claim:
    """A delivery this worker may send now, with what it needs to send it."""

    delivery: Delivery
    token: str
    url: str
    secret: str = field(repr=False)
    scheme: str = "standard"
