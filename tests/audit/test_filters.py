from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apitest.audit.filters import FilterError, decode_cursor, encode_cursor, parse_filters
from apitest.audit.records import Cursor

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "field", "value", "described"),
    [
        ({"method": "post"}, "method", "POST", "method is POST"),
        ({"status": "404"}, "status", 404, "status is 404"),
        ({"status": "5XX"}, "status_class", 5, "status is 5xx"),
        ({"success": "FALSE"}, "success", False, "failed"),
        ({"success": "true"}, "success", True, "successful"),
        ({"path": "/v1/wh"}, "path_contains", "/v1/wh", "path contains '/v1/wh'"),
        ({"path_exact": "/v1/whoami"}, "path", "/v1/whoami", "path is '/v1/whoami'"),
        ({"route": "whoami"}, "route_name", "whoami", "route is 'whoami'"),
        ({"route_name": "whoami"}, "route_name", "whoami", "route is 'whoami'"),
        ({"caller": "devkey"}, "caller", "devkey", "caller is 'devkey'"),
        ({"q": "<script>"}, "q", "<script>", "text contains '<script>'"),
        ({"source": "replay"}, "source", "replay", "source is 'replay'"),
        (
            {"from": "2026-11-21T10:00:00Z"},
            "since",
            datetime(2026, 11, 21, 10, tzinfo=UTC),
            "from 2026-11-21T10:00:00Z",
        ),
        ({"to": "2026-11-21T10:00"}, "until", datetime(2026, 11, 21, 10, tzinfo=UTC), "to 2026-11-21T10:00:00Z"),
        ({"from": "2026-11-21T12:00:00+02:00"}, "since", datetime(2026, 11, 21, 10, tzinfo=UTC), None),
        ({"last": "15m"}, "since", NOW - timedelta(minutes=15), "last 15m"),
    ],
)
def test_each_filter(query: dict[str, str], field: str, value: object, described: str | None) -> None:
    parsed = parse_filters(query, now=NOW)
    assert parsed.errors == []
    assert getattr(parsed.filters, field) == value
    if described:
        assert parsed.described == [described]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"status": "99"}, "status: use a status code (404) or a class (4xx)"),
        ({"status": "6xx"}, "status: use a status code (404) or a class (4xx)"),
        ({"success": "yes"}, "success: use true or false"),
        ({"from": "yesterday"}, "from: not an RFC 3339 time"),
        ({"last": "1w"}, "last: use a number and m, h or d (e.g. 15m, 1h, 7d)"),
        ({"method": "GET /x"}, "method: not an HTTP method"),
        ({"source": "mail"}, "source: one of wire, tryit, replay"),
        ({"q": "x" * 501}, "q: longer than 500 characters"),
    ],
)
def test_bad_values_are_reported_and_ignored(query: dict[str, str], error: str) -> None:
    parsed = parse_filters(query, now=NOW)
    assert parsed.errors == [error]
    assert parsed.params == {}


def test_filters_combine_and_keep_canonical_params_for_links() -> None:
    parsed = parse_filters({"method": "get", "status": "4xx", "limit": "10", "next": "abc", "q": " "}, now=NOW)
    assert parsed.params == {"method": "GET", "status": "4xx"}
    assert parsed.query(next="tok") == {"method": "GET", "status": "4xx", "next": "tok"}


def test_from_wins_over_last_and_reversed_window_is_swapped() -> None:
    parsed = parse_filters({"from": "2026-11-21T11:00:00Z", "to": "2026-11-21T10:00:00Z", "last": "1h"}, now=NOW)
    assert parsed.filters.since == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert parsed.filters.until == datetime(2026, 11, 21, 11, tzinfo=UTC)
    assert "last" not in parsed.params


def test_cursor_round_trip() -> None:
    cursor = Cursor(datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC), "0c0ffee0-0000-4000-8000-000000000001")
    assert decode_cursor(encode_cursor(cursor)) == cursor


@pytest.mark.parametrize("token", ["", "!!!", "bm90LWEtY3Vyc29y", "MjAyNi0xMS0yMVQxMDowMDowMHw="])
def test_bad_cursor(token: str) -> None:
    with pytest.raises(FilterError, match="next: not a page token"):
        decode_cursor(token)


@pytest.mark.parametrize("value", ["a\x00b", "x\ud800"])
def test_unstorable_text_is_reported_not_queried(value: str) -> None:
    parsed = parse_filters({"q": value, "path": value, "method": "GET"}, now=NOW)
    assert parsed.errors == ["path: contains NUL or an unpaired surrogate", "q: contains NUL or an unpaired surrogate"]
    assert parsed.filters.q is None and parsed.filters.path_contains is None and parsed.filters.method == "GET"
