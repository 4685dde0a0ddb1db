"""The filter registry: each filter selects the same rows in memory, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest

from apitest.audit.filter_registry import BY_PARAM, FILTERS, PARAMS, FilterError, conditions, matches
from apitest.audit.filters import decode_cursor, encode_cursor, parse_filters
from apitest.audit.records import AuditFilters, AuditStore, EventRecord
from tests.audit.conftest import T0, event


def rows() -> list[EventRecord]:
    return [
        event(1, duration_ms=12.5, header_list=[["Host", "x"], ["X-Foo", "bar"]], method="POST", path="/v1/echo"),
        event(2, duration_ms=700.0, header_list=[["x-foo", "other"]], status=503),
        event(3, duration_ms=250.0, header_list=[["Accept", "*/*"]], status=404),
        event(4, duration_ms=1500.0, user_subject="alice", error_category="not_found", status=404),
    ]


def parsed(query: dict[str, str]) -> AuditFilters:
    out = parse_filters(query, now=T0)
    assert not out.errors, out.errors
    return out.filters


CASES = [
    ({"duration_min": "500"}, {2, 4}),
    ({"duration_max": "250"}, {1, 3}),
    ({"duration_min": "200", "duration_max": "800"}, {2, 3}),
    ({"header": "x-foo=bar"}, {1}),
    ({"header": "X-FOO"}, {1, 2}),
    ({"header": "accept=*/*"}, {3}),
    ({"status": "4xx", "category": "not_found"}, {4}),
    ({"method": "post", "path": "ECHO"}, {1}),
    ({"user": "alice"}, {4}),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
async def test_each_backend_selects_the_same_rows(store: AuditStore, query: dict[str, str], expected: set[int]) -> None:
    records = rows()
    await store.append_many(records)
    page = await store.list_page(parsed(query), None, 50)
    found = {records.index(next(r for r in records if r.id == e.id)) + 1 for e in page.events}
    assert found == expected
    assert {i + 1 for i, r in enumerate(records) if matches(r, parsed(query))} == expected


async def test_duration_sort_pages_slowest_first(store: AuditStore) -> None:
    records = rows()
    await store.append_many(records)
    f = parsed({"sort": "duration"})
    first = await store.list_page(f, None, 2)
    assert [e.duration_ms for e in first.events] == [1500.0, 700.0]
    assert first.next is not None and first.next.duration_ms == 700.0
    token = encode_cursor(first.next)
    second = await store.list_page(f, decode_cursor(token), 2)
    assert [e.duration_ms for e in second.events] == [250.0, 12.5] and second.next is None


def test_every_spec_has_help_and_a_unique_param() -> None:
    assert len(PARAMS) == len(set(PARAMS))
    assert all(s.help and s.label for s in FILTERS)


@pytest.mark.parametrize(
    ("param", "raw", "message"),
    [
        ("duration_min", "abc", "milliseconds"),
        ("duration_max", "-1", "milliseconds"),
        ("header", "bad name=x", "name=value"),
        ("header", 'x-foo=a"b', "quotes"),
        ("status", "9xx", "status code"),
    ],
)
def test_bad_values_say_what_is_expected(param: str, raw: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        BY_PARAM[param].parse(raw, T0)


def test_unknown_sort_is_an_error_and_a_duration_sort_is_described() -> None:
    assert parse_filters({"sort": "size"}, now=T0).errors == ["sort: one of time, duration"]
    ok = parse_filters({"sort": "duration"}, now=T0)
    assert ok.filters.sort == "duration" and ok.params == {"sort": "duration"} and ok.described == ["slowest first"]


def test_no_constraint_means_no_condition() -> None:
    assert conditions(AuditFilters(), "sqlite") == []
    assert len(conditions(parsed({"status": "5xx", "duration_min": "1"}), "postgresql")) == 2


def test_a_non_finite_duration_cursor_is_refused() -> None:
    import base64

    token = base64.urlsafe_b64encode(f"{datetime(2026, 1, 1).isoformat()}+00:00|id|nan".encode()).decode()
    with pytest.raises(FilterError):
        decode_cursor(token)
