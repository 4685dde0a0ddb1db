"""The audit list's URL handling, caller words and status badges."""

from __future__ import annotations

from typing import Any

import pytest

from apitest.audit.filters import parse_filters
from apitest.portal.listing import caller_label, canonical_query, list_view, outcome

ID = "0b7c1f1e-1111-4222-8333-944455556666"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("status", "5xx")], None),
        ([("status", "5xx"), ("method", ""), ("q", " ")], "status=5xx"),
        ([("search", "status:5xx method:get")], "status=5xx&method=get"),
        ([("method", "POST"), ("search", "method:GET route:x")], "method=POST&route_name=x"),
        ([("search", "nope:1")], None),  # kept, so the page shows the error next to the text
        ([("search", "nope:1"), ("last", "")], "search=nope%3A1"),
        ([("search", "")], ""),
    ],
)
def test_canonical_query(items: list[tuple[str, str]], expected: str | None) -> None:
    assert canonical_query(items) == expected


@pytest.mark.parametrize(
    ("event", "label"),
    [
        ({"api_key_name": "k", "auth_type": "apikey"}, "k"),
        ({"user_email": "a@b", "user_subject": "s"}, "a@b"),
        ({"auth_type": "anonymous"}, "anonymous"),
        ({"auth_type": None, "error_category": "missing_credential"}, "none (rejected)"),
        ({"auth_type": None, "error_category": "invalid_credential"}, "none (rejected)"),
        ({"auth_type": None, "error_category": "no_route"}, "none"),
    ],
)
def test_caller_words(event: dict[str, Any], label: str) -> None:
    assert caller_label(event) == label


@pytest.mark.parametrize(
    ("event", "css"),
    [
        ({"status": 200, "success": True}, "s2"),
        ({"status": 503, "success": False}, "s5"),
        ({"status": 200, "success": False, "error_category": "fault_injected"}, "bad"),
        ({"status": 200, "success": False, "error_category": "client_disconnected"}, "warn"),
        ({"status": 200, "success": True, "client_complete": False}, "warn"),
    ],
)
def test_badges(event: dict[str, Any], css: str) -> None:
    assert outcome(event)["css"] == css


def test_list_view_keeps_hidden_filters_and_picks_in_chip_links() -> None:
    query = {"group": "g", "status": "5xx", "user": "u", "a": ID, "b": "not-an-id"}
    parsed = parse_filters(query)
    view = list_view(parsed, query, shown_ids=[])
    assert view["hidden"] == [("group", "g"), ("user", "u")]
    assert view["picks"] == {"a": ID} and view["picks_elsewhere"] == [("a", ID)]
    status_chip = next(c for c in view["chips"] if c["param"] == "status")
    assert status_chip["remove"] == {"group": "g", "user": "u", "a": ID}
    assert view["search"] == "status:5xx group:g user:u"
