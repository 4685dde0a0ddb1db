"""Audit filters from a query string, and the opaque keyset token of a page.

Every filter is a URL parameter, so a filtered view is a link that can be shared. The parameters, their
parsing and their meaning are declared once in :mod:`apitest.audit.filter_registry`; this module runs
them over a query string: each accepted parameter becomes a field of
:class:`~apitest.audit.records.AuditFilters` plus a human-readable description ("status is 5xx"), and a
value that does not parse is reported, never silently dropped. ``sort=duration`` orders a list slowest
first; ``search`` is the query-box syntax of :mod:`apitest.audit.search_syntax`, compiled to the same parameters
(an explicit parameter wins over the same key in ``search``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apitest.audit import search_syntax as search
from apitest.audit.filter_registry import (
    ALIASES,
    BY_PARAM,
    FILTERS,
    LAST_CHOICES,
    PARAMS,
    SORTS,
    FilterError,
    FilterSpec,
    parse_last,
    parse_time,
)
from apitest.audit.records import AuditFilters, Cursor
from apitest.storable import needs_escape

__all__ = [
    "ALIASES",
    "LAST_CHOICES",
    "PARAMS",
    "FilterError",
    "ParsedFilters",
    "decode_cursor",
    "encode_cursor",
    "parse_filters",
    "parse_last",
    "parse_time",
]
MAX_TEXT = 500


@dataclass
class ParsedFilters:
    filters: AuditFilters
    params: dict[str, str] = field(default_factory=dict)  # the accepted parameters, canonical names
    described: list[str] = field(default_factory=list)  # "status is 5xx", in parameter order
    errors: list[str] = field(default_factory=list)  # parameters that did not parse (and were ignored)
    chips: list[tuple[str, str]] = field(default_factory=list)  # (parameter, description): removable chips

    def query(self, **extra: str) -> dict[str, str]:
        """The parameters for a link to this filtered view, plus ``extra``."""
        return {**self.params, **{k: v for k, v in extra.items() if v}}


def _given(query: Mapping[str, str]) -> dict[str, str]:
    """The non-empty filter parameters of ``query`` under their canonical names."""
    out: dict[str, str] = {}
    for key, value in query.items():
        name = ALIASES.get(key, key)
        if name in BY_PARAM and value.strip():
            out[name] = value.strip()
    return out


def _with_search(values: dict[str, str], query: Mapping[str, str], out: ParsedFilters) -> dict[str, str]:
    """Fold the ``search`` expression into ``values``; explicit parameters win."""
    text = query.get("search", "").strip()
    if not text:
        return values
    compiled = search.compile_search(text)
    out.errors += [f"search: {e}" for e in compiled.errors]
    return {**compiled.params, **values}


def _check_text(raw: str) -> None:
    if len(raw) > MAX_TEXT:
        raise FilterError(f"longer than {MAX_TEXT} characters")
    if needs_escape(raw):  # PostgreSQL cannot compare with NUL or a lone surrogate: a 400, not a 500
        raise FilterError("contains NUL or an unpaired surrogate")


def _parse_one(spec: FilterSpec, raw: str, values: Mapping[str, str], now: datetime, out: ParsedFilters) -> None:
    try:
        _check_text(raw)
        value, canonical = spec.parse(raw, now)
    except FilterError as exc:
        out.errors.append(f"{spec.param}: {exc}")
        return
    if spec.param == "last" and "from" in values:
        return  # an explicit window wins; ``last`` was still checked
    spec.apply(out.filters, value)
    out.params[spec.param] = canonical
    out.described.append(spec.describe(canonical))
    out.chips.append((spec.param, out.described[-1]))


def _parse_sort(query: Mapping[str, str], out: ParsedFilters) -> None:
    raw = query.get("sort", "").strip()
    if not raw or raw == "time":
        return
    if raw not in SORTS:
        out.errors.append(f"sort: one of {', '.join(SORTS)}")
        return
    out.filters.sort = raw
    out.params["sort"] = raw
    out.described.append("slowest first")
    out.chips.append(("sort", "slowest first"))


def _order_window(f: AuditFilters) -> None:
    if f.since and f.until and f.since > f.until:
        f.since, f.until = f.until, f.since


def parse_filters(query: Mapping[str, str], now: datetime | None = None) -> ParsedFilters:
    """Parse the filter parameters of ``query``; unknown parameters are left alone (pagination, format)."""
    out = ParsedFilters(AuditFilters())
    values = _with_search(_given(query), query, out)
    moment = now or datetime.now(UTC)
    for spec in FILTERS:
        if spec.param in values:
            _parse_one(spec, values[spec.param], values, moment, out)
    _parse_sort(query, out)
    _order_window(out.filters)
    return out


def encode_cursor(cursor: Cursor) -> str:
    extra = f"|{cursor.duration_ms!r}" if cursor.duration_ms is not None else ""
    raw = f"{cursor.ts.astimezone(UTC).isoformat()}|{cursor.id}{extra}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ts, sep, rest = raw.partition("|")
        event_id, _, duration = rest.partition("|")
        if not sep or not event_id:
            raise ValueError(raw)
        parsed = datetime.fromisoformat(ts)
        duration_ms = float(duration) if duration else None
        if duration_ms is not None and not math.isfinite(duration_ms):
            raise ValueError(duration)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise FilterError("next: not a page token from this server") from exc
    if parsed.tzinfo is None:
        raise FilterError("next: not a page token from this server")
    return Cursor(ts=parsed.astimezone(UTC), id=event_id, duration_ms=duration_ms)
