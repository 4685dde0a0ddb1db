"""The audit filters, declared once: URL parameter, parsing, SQL condition, in-memory match and description.

Every consumer reads :data:`FILTERS`: the portal's query-string parser (:mod:`apitest.audit.filters`),
the search syntax (:mod:`apitest.audit.search_syntax`), the SQL store (:func:`conditions`), the in-memory store
(:func:`matches`), the filter form and ``audit_meta``. Adding a filter is one :class:`FilterSpec` here
plus, when it needs a new constraint, a field of :class:`~apitest.audit.records.AuditFilters`.

A spec's ``parse`` turns the parameter's text into a value and its canonical spelling (raising
:class:`FilterError` with a message for people); ``apply`` stores the value on ``AuditFilters``; ``sql``
and ``match`` read the constraint back from ``AuditFilters`` (``None`` / ``True`` when it is unset), so
the two stores apply exactly the same rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, func, or_

from apitest.audit.records import SOURCES, AuditFilters, EventRecord
from apitest.audit.sql_filters import E, contains_pattern, path_contains, text_search

_LAST = re.compile(r"^([1-9][0-9]{0,4})(m|h|d)$")
_STATUS = re.compile(r"^[1-5][0-9][0-9]$")
_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{12}$")
_METHOD = re.compile(r"^[A-Za-z]{1,16}$")
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_PLAIN_VALUE = re.compile(r"^[ -!#-\[\]-~]*$")  # printable ASCII without '"' and '\': the same text in JSON
_NUMBER = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,3})?$")
MAX_DURATION_MS = 86_400_000.0
LAST_CHOICES = ("5m", "15m", "1h", "6h", "24h", "7d", "30d")
SORTS = ("time", "duration")


class FilterError(ValueError):
    """A filter or page token that does not parse; the message says what is expected."""


Parse = Callable[[str, datetime], tuple[Any, str]]  # (text, now) -> (value, canonical text)
Apply = Callable[[AuditFilters, Any], None]
Sql = Callable[[AuditFilters, str], ColumnElement[bool] | None]  # (filters, dialect) -> condition or None
Match = Callable[[EventRecord, AuditFilters], bool]


def _no_sql(_f: AuditFilters, _dialect: str) -> ColumnElement[bool] | None:
    return None


def _always(_r: EventRecord, _f: AuditFilters) -> bool:
    return True


@dataclass(frozen=True)
class FilterSpec:
    param: str  # URL parameter (canonical name)
    label: str  # for descriptions: "status is 5xx"
    help: str  # one line for audit_meta and the docs
    parse: Parse
    apply: Apply
    sql: Sql = _no_sql
    match: Match = _always
    aliases: tuple[str, ...] = ()
    contains: bool = False  # described as "label 'x'" rather than "label is 'x'"
    search_key: str = ""  # key in the search syntax (audit/search.py); "" = not searchable by key
    form: bool = True  # the audit filter form has a field for it (others travel as hidden fields)

    def describe(self, canonical: str) -> str:
        if self.param in ("from", "to", "last"):
            return f"{self.param} {canonical}"
        if self.param == "method":
            return f"method is {canonical}"
        if self.param == "status":
            return f"status is {canonical}"
        if self.param == "success":
            return "successful" if canonical == "true" else "failed"
        if self.param == "duration_min":
            return f"duration ≥ {canonical} ms"
        if self.param == "duration_max":
            return f"duration ≤ {canonical} ms"
        return f"{self.label} {canonical!r}" if self.contains else f"{self.label} is {canonical!r}"


# Parsers ---------------------------------------------------------------------------------------------------


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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _time(text: str, _now: datetime) -> tuple[Any, str]:
    moment = parse_time(text)
    return moment, _iso(moment)


def _last(text: str, now: datetime) -> tuple[Any, str]:
    return now - parse_last(text), text


def _method(text: str, _now: datetime) -> tuple[Any, str]:
    if not _METHOD.match(text):
        raise FilterError("not an HTTP method")
    return text.upper(), text.upper()


def _status(text: str, _now: datetime) -> tuple[Any, str]:
    if _STATUS.match(text):
        return int(text), text
    if m := _STATUS_CLASS.match(text):
        return f"{m.group(1)}xx", f"{m.group(1)}xx"
    raise FilterError("use a status code (404) or a class (4xx)")


def _success(text: str, _now: datetime) -> tuple[Any, str]:
    if text.lower() not in ("true", "false"):
        raise FilterError("use true or false")
    return text.lower() == "true", text.lower()


def _text(text: str, _now: datetime) -> tuple[Any, str]:
    return text, text


def _source(text: str, _now: datetime) -> tuple[Any, str]:
    if text not in SOURCES:
        raise FilterError(f"one of {', '.join(SOURCES)}")
    return text, text


def _fingerprint(text: str, _now: datetime) -> tuple[Any, str]:
    if not _FINGERPRINT.match(text):
        raise FilterError("use sha256: and 12 lowercase hex digits (as shown on an event)")
    return text, text


def _duration(text: str, _now: datetime) -> tuple[Any, str]:
    if not _NUMBER.match(text) or float(text) > MAX_DURATION_MS:
        raise FilterError("use a number of milliseconds, e.g. 500 or 12.5")
    value = float(text)
    return value, f"{value:g}"


def _header(text: str, _now: datetime) -> tuple[Any, str]:
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not _HEADER_NAME.match(name):
        raise FilterError("use name=value (or a name alone), e.g. x-foo=bar")
    if sep and not _PLAIN_VALUE.match(value):
        raise FilterError("a header value must be printable ASCII without quotes or backslashes (use q for others)")
    return (name, value if sep else None), f"{name}={value}" if sep else name


# Conditions ------------------------------------------------------------------------------------------------


def _set(attr: str) -> Apply:
    def apply(f: AuditFilters, value: Any) -> None:
        setattr(f, attr, value)

    return apply


def _exact(attr: str, column: str, record_attr: str) -> tuple[Sql, Match]:
    def sql(f: AuditFilters, _dialect: str) -> ColumnElement[bool] | None:
        value = getattr(f, attr)
        return None if value is None else E[column] == value

    def match(r: EventRecord, f: AuditFilters) -> bool:
        value = getattr(f, attr)
        return value is None or getattr(r, record_attr) == value

    return sql, match


def _apply_status(f: AuditFilters, value: Any) -> None:
    if isinstance(value, int):
        f.status = value
    else:
        f.status_class = int(str(value)[0])


def _status_sql(f: AuditFilters, _dialect: str) -> ColumnElement[bool] | None:
    out: list[ColumnElement[bool]] = []
    if f.status is not None:
        out.append(E.status == f.status)
    if f.status_class is not None:
        out.append(and_(E.status >= f.status_class * 100, E.status < f.status_class * 100 + 100))
    return and_(*out) if out else None


def _status_match(r: EventRecord, f: AuditFilters) -> bool:
    return (f.status is None or r.status == f.status) and (f.status_class is None or r.status // 100 == f.status_class)


def _apply_last(f: AuditFilters, value: Any) -> None:
    if f.since is None:  # an explicit ``from`` wins
        f.since = value


def _since_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    return None if f.since is None else E.ts >= f.since


def _until_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    return None if f.until is None else E.ts <= f.until


def _caller_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    c = f.caller
    return None if c is None else or_(E.user_subject == c, E.api_key_name == c, E.user_email == c)


def _caller_match(r: EventRecord, f: AuditFilters) -> bool:
    return f.caller is None or f.caller in (r.user_subject, r.api_key_name, r.user_email)


def _path_sql(f: AuditFilters, dialect: str) -> ColumnElement[bool] | None:
    return path_contains(f.path_contains, dialect) if f.path_contains else None


def _path_match(r: EventRecord, f: AuditFilters) -> bool:
    return not f.path_contains or f.path_contains.lower() in r.path.lower()


def _raw_sql(f: AuditFilters, dialect: str) -> ColumnElement[bool] | None:
    if not f.raw_target:
        return None
    # Case-sensitive on both backends (SQLite's LIKE is not): %2F and %2f are different bytes on the wire.
    find = func.strpos if dialect == "postgresql" else func.instr
    return find(E.raw_target, f.raw_target) > 0


def _raw_match(r: EventRecord, f: AuditFilters) -> bool:
    return not f.raw_target or f.raw_target in (r.raw_target or "")


def _fp_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    # A fingerprint is "sha256:" + 12 hex digits (checked by the parser), quoted as a JSON string.
    if not f.fingerprint:
        return None
    return cast(E.credentials, Text).like(contains_pattern(f'"{f.fingerprint}"'), escape="\\")


def _fp_match(r: EventRecord, f: AuditFilters) -> bool:
    return not f.fingerprint or any(c.get("fingerprint") == f.fingerprint for c in r.credentials or ())


def _q_sql(f: AuditFilters, dialect: str) -> ColumnElement[bool] | None:
    return text_search(f.q, dialect, f.since, f.until) if f.q else None


def _text_of(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if value else ""


def matches_q(record: EventRecord, q: str) -> bool:
    """``q`` as the SQL side matches it: path, error message, headers and query case-insensitively; bodies
    as ASCII-case-insensitive or exact bytes."""
    needle = q.lower()
    texts = [record.path, record.error_message or ""]
    payload = record.payload
    if payload is not None:
        texts += [
            _text_of(payload.request_headers),
            _text_of(payload.request_query),
            _text_of(payload.response_headers),
        ]
        raw = q.encode()
        for body in (payload.request_body, payload.response_body):
            if body and (raw in body or raw.lower() in body.lower()):
                return True
    return any(needle in text.lower() for text in texts)


def _q_match(r: EventRecord, f: AuditFilters) -> bool:
    return not f.q or matches_q(r, f.q)


def _duration_min_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    return None if f.duration_min_ms is None else E.duration_ms >= f.duration_min_ms


def _duration_max_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    return None if f.duration_max_ms is None else E.duration_ms <= f.duration_max_ms


def _duration_min_match(r: EventRecord, f: AuditFilters) -> bool:
    return f.duration_min_ms is None or r.duration_ms >= f.duration_min_ms


def _duration_max_match(r: EventRecord, f: AuditFilters) -> bool:
    return f.duration_max_ms is None or r.duration_ms <= f.duration_max_ms


def _header_pattern(name: str, value: str | None) -> str:
    """The JSON text of a ``[name, value]`` pair of ``header_list`` (both stores write ``", "`` between items):
    ``["x-foo", "bar"`` for a value, ``["x-foo", `` for a name alone."""
    return "[" + json.dumps(name) + ", " + (json.dumps(value) if value is not None else "")


def _header_sql(f: AuditFilters, _d: str) -> ColumnElement[bool] | None:
    if f.header is None:
        return None
    name, value = f.header
    # Names are matched case-insensitively (ILIKE), like HTTP; values too, as text search does.
    return cast(E.header_list, Text).ilike(contains_pattern(_header_pattern(name, value)), escape="\\")


def _header_match(r: EventRecord, f: AuditFilters) -> bool:
    if f.header is None:
        return True
    name, value = f.header
    return any(n.lower() == name and (value is None or v.lower() == value.lower()) for n, v, *_ in r.header_list or ())


_route_sql, _route_match = _exact("route_name", "route_name", "route_name")
_group_sql, _group_match = _exact("endpoint_group", "endpoint_group", "endpoint_group")
_path_exact_sql, _path_exact_match = _exact("path", "path", "path")
_method_sql, _method_match = _exact("method", "method", "method")
_success_sql, _success_match = _exact("success", "success", "success")
_auth_sql, _auth_match = _exact("auth_type", "auth_type", "auth_type")
_user_sql, _user_match = _exact("user", "user_subject", "user_subject")
_session_sql, _session_match = _exact("session", "session_id", "session_id")
_rid_sql, _rid_match = _exact("request_id", "request_id", "request_id")
_category_sql, _category_match = _exact("error_category", "error_category", "error_category")
_source_sql, _source_match = _exact("source", "source", "source")


def _until_match(r: EventRecord, f: AuditFilters) -> bool:
    return f.until is None or r.ts <= f.until


def _since_match(r: EventRecord, f: AuditFilters) -> bool:
    return f.since is None or r.ts >= f.since


FILTERS: tuple[FilterSpec, ...] = (
    FilterSpec(
        "from",
        "from",
        "RFC 3339, or YYYY-MM-DDTHH:MM read as UTC",
        _time,
        _set("since"),
        _since_sql,
        _since_match,
        search_key="from",
    ),
    FilterSpec(
        "to",
        "to",
        "RFC 3339, or YYYY-MM-DDTHH:MM read as UTC",
        _time,
        _set("until"),
        _until_sql,
        _until_match,
        search_key="to",
    ),
    FilterSpec(
        "last", "last", "a window ending now: 5m, 15m, 1h, 6h, 24h, 7d, 30d", _last, _apply_last, search_key="last"
    ),
    FilterSpec(
        "method",
        "method",
        "exact, case-insensitive",
        _method,
        _set("method"),
        _method_sql,
        _method_match,
        search_key="method",
    ),
    FilterSpec(
        "status",
        "status",
        "404, or a class such as 5xx",
        _status,
        _apply_status,
        _status_sql,
        _status_match,
        search_key="status",
    ),
    FilterSpec(
        "success",
        "outcome",
        "true / false",
        _success,
        _set("success"),
        _success_sql,
        _success_match,
        search_key="success",
    ),
    FilterSpec(
        "route_name",
        "route",
        "exact route name",
        _text,
        _set("route_name"),
        _route_sql,
        _route_match,
        aliases=("route",),
        search_key="route",
    ),
    FilterSpec(
        "group",
        "group",
        "exact endpoint group",
        _text,
        _set("endpoint_group"),
        _group_sql,
        _group_match,
        search_key="group",
        form=False,
    ),
    FilterSpec(
        "path",
        "path contains",
        "substring of the path, case-insensitive",
        _text,
        _set("path_contains"),
        _path_sql,
        _path_match,
        contains=True,
        search_key="path",
    ),
    FilterSpec(
        "path_exact",
        "path",
        "exact path",
        _text,
        _set("path"),
        _path_exact_sql,
        _path_exact_match,
        search_key="path_exact",
        form=False,
    ),
    FilterSpec(
        "auth_type",
        "auth type",
        "anonymous, apikey, bearer, oidc",
        _text,
        _set("auth_type"),
        _auth_sql,
        _auth_match,
        search_key="auth",
    ),
    FilterSpec(
        "caller",
        "caller",
        "user subject, key name or email",
        _text,
        _set("caller"),
        _caller_sql,
        _caller_match,
        search_key="caller",
    ),
    FilterSpec(
        "user", "user", "exact user subject", _text, _set("user"), _user_sql, _user_match, search_key="user", form=False
    ),
    FilterSpec(
        "session",
        "session",
        "exact session id",
        _text,
        _set("session"),
        _session_sql,
        _session_match,
        search_key="session",
        form=False,
    ),
    FilterSpec(
        "request_id",
        "request id",
        "exact request id",
        _text,
        _set("request_id"),
        _rid_sql,
        _rid_match,
        search_key="request_id",
    ),
    FilterSpec(
        "category",
        "error category",
        "missing_credential, not_found, server_error, ...",
        _text,
        _set("error_category"),
        _category_sql,
        _category_match,
        search_key="category",
        form=False,
    ),
    FilterSpec(
        "source",
        "source",
        "wire, tryit or replay",
        _source,
        _set("source"),
        _source_sql,
        _source_match,
        search_key="source",
    ),
    FilterSpec(
        "duration_min",
        "duration at least",
        "milliseconds, at least",
        _duration,
        _set("duration_min_ms"),
        _duration_min_sql,
        _duration_min_match,
        search_key="duration>",
    ),
    FilterSpec(
        "duration_max",
        "duration at most",
        "milliseconds, at most",
        _duration,
        _set("duration_max_ms"),
        _duration_max_sql,
        _duration_max_match,
        search_key="duration<",
    ),
    FilterSpec(
        "header",
        "request header",
        "name=value (case-insensitive) or a name alone",
        _header,
        _set("header"),
        _header_sql,
        _header_match,
        search_key="header",
        form=False,
    ),
    FilterSpec(
        "q",
        "text contains",
        "free text over path, error, headers, query and both bodies",
        _text,
        _set("q"),
        _q_sql,
        _q_match,
        contains=True,
    ),
    FilterSpec(
        "raw_target",
        "raw target contains",
        "substring of the request-target as received, case-sensitive",
        _text,
        _set("raw_target"),
        _raw_sql,
        _raw_match,
        contains=True,
        search_key="raw",
    ),
    FilterSpec(
        "fp",
        "credential fingerprint",
        "sha256: + 12 hex digits",
        _fingerprint,
        _set("fingerprint"),
        _fp_sql,
        _fp_match,
        search_key="fp",
    ),
)
BY_PARAM: dict[str, FilterSpec] = {s.param: s for s in FILTERS}
ALIASES: dict[str, str] = {alias: s.param for s in FILTERS for alias in s.aliases}
PARAMS: tuple[str, ...] = tuple(s.param for s in FILTERS)


def conditions(f: AuditFilters, dialect: str) -> list[ColumnElement[bool]]:
    """The AND-combined SQL predicates of ``f``, over :func:`apitest.audit.sql_filters.source` of ``f``."""
    return [c for spec in FILTERS if (c := spec.sql(f, dialect)) is not None]


def matches(record: EventRecord, f: AuditFilters) -> bool:
    """``record`` passes every filter of ``f`` (the in-memory store and webhook subscriptions)."""
    return all(spec.match(record, f) for spec in FILTERS)
