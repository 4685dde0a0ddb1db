"""The registry entries of the fixture groups: order, counts, names and the OpenAPI metadata they carry."""

from __future__ import annotations

import pytest

from apitest.endpoints import ROUTES_BY_GROUP
from apitest.registry import CSV, ERROR_SCHEMA, JSON, NDJSON, PLAIN, SSE, RouteSpec

COUNTS = {
    "identity": 2,
    "data": 3,
    "failure": 3,
    "echo": 7,  # the original's 6, and /v1/dump
    "streaming": 3,
    "pagination": 3,
    "methods": 7,
    "security": 5,
    "export": 3,
}
ADDED = {"ws_echo", "ws_stream"}  # WebSocket sessions, new in this project (the streaming group)
ROUTES = [r for group in COUNTS for r in ROUTES_BY_GROUP[group] if r.name not in ADDED]


def test_groups_in_registration_order_with_the_original_counts() -> None:
    assert list(ROUTES_BY_GROUP)[: len(COUNTS)] == list(COUNTS)
    assert {g: len([r for r in ROUTES_BY_GROUP[g] if r.name not in ADDED]) for g in COUNTS} == COUNTS
    assert len(ROUTES) == 36


def test_operation_ids_are_unique_and_match_the_original() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names))
    assert names[2:] == [
        "fixed", "sized", "lorem", "status", "slow", "flaky",
        "echo_get", "echo_post", "echo_put", "echo_patch", "echo_delete", "echo_head", "dump_request",
        "streaming_chunked", "streaming_sse", "streaming_ndjson",
        "pagination_link", "pagination_odata", "pagination_cursor",
        "method_get", "method_post", "method_put", "method_patch", "method_delete", "method_head", "method_options",
        "security_admin", "security_fetch", "security_big_headers", "security_redirect_to", "security_control_chars",
        "export_big_body", "export_csv", "export_long_running",
    ]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES[2:], ids=lambda r: r.name)
def test_route_metadata(route: RouteSpec) -> None:
    assert route.description
    assert route.group in COUNTS
    assert any(200 <= status < 300 for status in route.responses), "a success response is documented"
    for p in route.params:
        assert p.description, f"{p.name} has a description"
        assert p.type in ("integer", "number", "string", "boolean")
        if p.location == "path":
            assert p.required and p.name in route.path_params
    assert {p.name for p in route.params if p.location == "path"} == set(route.path_params)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("streaming_chunked", PLAIN),
        ("streaming_sse", SSE),
        ("streaming_ndjson", NDJSON),
        ("export_csv", CSV),
        ("export_big_body", JSON),
        ("sized", JSON),
    ],
)
def test_real_content_types(name: str, content_type: str) -> None:
    route = next(r for r in ROUTES if r.name == name)
    assert route.responses[200].content_type == content_type


REQUIRED = {"sized": {"bytes"}, "security_fetch": {"url"}, "security_redirect_to": {"url"}}


@pytest.mark.parametrize("route", ROUTES[2:], ids=lambda r: r.name)
def test_only_really_required_params_are_required(route: RouteSpec) -> None:
    required = {p.name for p in route.params if p.required and p.location != "path"}
    assert required == REQUIRED.get(route.name, set())


VALIDATING = {
    "sized", "lorem", "status", "slow", "streaming_chunked", "streaming_sse", "streaming_ndjson",
    "pagination_link", "pagination_odata", "pagination_cursor", "security_fetch", "security_redirect_to",
    "export_big_body", "export_csv", "export_long_running",
}  # fmt: skip


@pytest.mark.parametrize("route", ROUTES[2:], ids=lambda r: r.name)
def test_400_is_documented_exactly_where_validation_can_fail(route: RouteSpec) -> None:
    assert (400 in route.responses) == (route.name in VALIDATING)
    if route.name in VALIDATING and route.name != "status":
        assert route.responses[400].schema == ERROR_SCHEMA


def test_other_documented_statuses() -> None:
    by_name = {r.name: r for r in ROUTES}
    assert set(by_name["flaky"].responses) == {200, 503}
    assert set(by_name["slow"].responses) == {200, 400, 499}
    assert {200, 204, 304, 400, 418, 503, 511}.issubset(by_name["status"].responses)
    assert by_name["status"].responses[204].content_type is None
    assert all(200 <= s <= 599 for s in by_name["status"].responses)


def test_echo_declares_a_request_body_of_any_type() -> None:
    for route in ROUTES_BY_GROUP["echo"]:
        if route.method == "HEAD" or route.name == "dump_request":
            assert route.request_body is None
        else:
            assert route.request_body is not None
            assert "*/*" in route.request_body["content"]
            assert route.request_body["required"] is False
