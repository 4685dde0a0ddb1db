"""Audit filters from a query string, and the opaque keyset token of a page.

Every filter is a URL parameter, so a filtered view is a link that can be shared. Each parameter
parses to a field of :class:`~apitest.audit.records.AuditFilters` plus a human-readable description
("status is 5xx"); a value that does not parse is reported, never silently dropped.

| Parameter | Meaning |
| --- | --- |
| ``from``, ``to`` | RFC 3339 time, or ``YYYY-MM-DDTHH:MM[:SS]`` read as UTC (what ``datetime-local`` sends) |
| ``last`` | relative window ending now, e.g. ``15m``, ``1h``, ``24h``, ``7d`` (ignored when ``from`` is set) |
| ``method`` | exact, case-insensitive |
| ``route_name`` (alias ``route``), ``group`` | exact |
| ``path`` | substring of the path (the original matched exactly; ``path_exact`` keeps that) |
| ``status`` | ``404`` exact, or ``4xx`` for a class |
| ``success`` | ``true`` / ``false`` |
| ``auth_type``, ``source``, ``category`` | exact |
| ``caller`` | user subject or key name, exact |
| ``user``, ``session``, ``request_id`` | exact user subject, session id, request id |
| ``q`` | case-insensitive free text over path, error, headers, query and bodies |
| ``raw_target`` | substring of the request-target as received (case-sensitive, undecoded: ``%2F``) |
| ``fp`` | a credential fingerprint presented by the request, ``sha256:`` + 12 hex digits |
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apitest.audit.records import SOURCES, AuditFilters, Cursor
from apitest.storable import needs_escape

TEXT_PARAMS: dict[str, tuple[str, str]] = {
    # url parameter: (AuditFilters field, description label)
    "route_name": ("route_name", "route"),
    "group": ("endpoint_group", "group"),
    "path": ("path_contains", "path contains"),
    "path_exact": ("path", "path"),
    "auth_type": ("auth_type", "auth type"),
    "caller": ("caller", "caller"),
    "user": ("user", "user"),
    "session": ("session", "session"),
    "request_id": ("request_id", "request id"),
    "category": ("error_category", "error category"),
    "source": ("source", "source"),
    "q": ("q", "text contains"),
    "raw_target": ("raw_target", "raw target contains"),
    "fp": ("fingerprint", "credential fingerprint"),
}
ALIASES = {"route": "route_name"}
PARAMS = ("from", "to", "last", "method", "status", "success", *TEXT_PARAMS)
LAST_CHOICES = ("5m", "15m", "1h", "6h", "24h", "7d", "30d")
_LAST = re.compile(r"^([1-9][0-9]{0,4})(m|h|d)$")
_STATUS = re.compile(r"^[1-5][0-9][0-9]$")
_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{12}$")
_METHOD = re.compile(r"^[A-Za-z]{1,16}$")
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
MAX_TEXT = 500


class FilterError(ValueError):
    """A filter or page token that does not parse; the message names the parameter."""


@dataclass
class ParsedFilters:
    filters: AuditFilters
    params: dict[str, str] = field(default_factory=dict)  # the accepted parameters, canonical names
    described: list[str] = field(default_factory=list)  # "status is 5xx", in parameter order
    errors: list[str] = field(default_factory=list)  # parameters that did not parse (and were ignored)

    def query(self, **extra: str) -> dict[str, str]:
        """The parameters for a link to this filtered view, plus ``extra``."""
        return {**self.params, **{k: v for k, v in extra.items() if v}}


def parse_time(text: str) -> datetime:
    value = text.strip()
    if _LOCAL_TIME.match(value):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise FilterError("not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise FilterError("not an RFC 3339 time (no offset)")
    return parsed.astimezone(UTC)


def parse_last(text: str) -> timedelta:
    m = _LAST.match(text.strip())
    if not m:
        raise FilterError("use a number and m, h or d (e.g. 15m, 1h, 7d)")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(minutes=n) if unit == "m" else timedelta(hours=n) if unit == "h" else timedelta(days=n)


def parse_filters(query: Mapping[str, str], now: datetime | None = None) -> ParsedFilters:
    """Parse the filter parameters of ``query``; unknown parameters are left alone (pagination, format)."""
    now = now or datetime.now(UTC)
    values = {ALIASES.get(k, k): v.strip() for k, v in query.items() if ALIASES.get(k, k) in PARAMS and v.strip()}
    out = ParsedFilters(AuditFilters())
    f = out.filters

    def bad(name: str, message: str) -> None:
        out.errors.append(f"{name}: {message}")

    for name in PARAMS:
        raw = values.get(name)
        if raw is None:
            continue
        if len(raw) > MAX_TEXT:
            bad(name, f"longer than {MAX_TEXT} characters")
            continue
        if needs_escape(raw):  # PostgreSQL cannot compare with NUL or a lone surrogate: a 400, not a 500
            bad(name, "contains NUL or an unpaired surrogate")
            continue
        try:
            if name == "from":
                f.since = parse_time(raw)
                out.described.append(f"from {f.since.isoformat().replace('+00:00', 'Z')}")
            elif name == "to":
                f.until = parse_time(raw)
                out.described.append(f"to {f.until.isoformat().replace('+00:00', 'Z')}")
            elif name == "last":
                window = parse_last(raw)
                if "from" in values:
                    continue
                f.since = now - window
                out.described.append(f"last {raw}")
            elif name == "method":
                if not _METHOD.match(raw):
                    raise FilterError("not an HTTP method")
                f.method = raw = raw.upper()
                out.described.append(f"method is {raw}")
            elif name == "status":
                if _STATUS.match(raw):
                    f.status = int(raw)
                elif m := _STATUS_CLASS.match(raw):
                    f.status_class = int(m.group(1))
                    raw = f"{m.group(1)}xx"
                else:
                    raise FilterError("use a status code (404) or a class (4xx)")
                out.described.append(f"status is {raw}")
            elif name == "success":
                if raw.lower() not in ("true", "false"):
                    raise FilterError("use true or false")
                raw = raw.lower()
                f.success = raw == "true"
                out.described.append("successful" if f.success else "failed")
            else:
                attr, label = TEXT_PARAMS[name]
                if name == "source" and raw not in SOURCES:
                    raise FilterError(f"one of {', '.join(SOURCES)}")
                if name == "fp" and not _FINGERPRINT.match(raw):
                    raise FilterError("use sha256: and 12 lowercase hex digits (as shown on an event)")
                setattr(f, attr, raw)
                contains = name in ("path", "q", "raw_target")
                out.described.append(f"{label} {raw!r}" if contains else f"{label} is {raw!r}")
        except FilterError as exc:
            bad(name, str(exc))
            continue
        out.params[name] = raw
    if f.since and f.until and f.since > f.until:
        f.since, f.until = f.until, f.since
    return out


def encode_cursor(cursor: Cursor) -> str:
    raw = f"{cursor.ts.astimezone(UTC).isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ts, sep, event_id = raw.partition("|")
        if not sep or not event_id:
            raise ValueError(raw)
        parsed = datetime.fromisoformat(ts)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise FilterError("next: not a page token from this server") from exc
    if parsed.tzinfo is None:
        raise FilterError("next: not a page token from this server")
    return Cursor(ts=parsed.astimezone(UTC), id=event_id)
