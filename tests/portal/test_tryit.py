from __future__ import annotations

import json

import pytest

from apitest.endpoints.lab_validation import check_order, json_schema
from apitest.portal.data import DataError
from apitest.portal.tryit import example_value, path_values, prefill, query_lines, resend_input
from apitest.registry import RouteSpec


def test_a_query_line_with_ampersands_is_a_query_string() -> None:
    assert query_lines("count=3&delay_ms=100\nx = y \n\n?a=%20b&c") == [
        ("count", "3"),
        ("delay_ms", "100"),
        ("x", "y"),
        ("a", " b"),
        ("c", ""),
    ]
    with pytest.raises(DataError):
        query_lines("no separator")


def test_the_validate_example_passes_validation() -> None:
    example = example_value(json_schema())
    assert check_order(json.loads(json.dumps(example))) == []


async def handler(request: object) -> None:  # never called
    raise AssertionError


def test_path_values_are_read_back_from_a_template() -> None:
    spec = RouteSpec("status", "GET", "/v1/status/{code:int}", "x", "y", handler)
    assert path_values(spec, "/v1/status/503") == {"code": "503"}
    assert path_values(spec, "/v1/other") == {}


def test_prefill_leaves_credentials_and_markers_out() -> None:
    event = {
        "method": "POST",
        "path": "/v1/echo",
        "payload": {
            "request_query": {"a": ["1"], "api_key": ["[redacted]"]},
            "request_headers": {
                "X-Api-Key": ["[redacted]"],
                "X-Plexara-Try-It": ["true"],
                "User-Agent": ["apitest-portal (Try-It)"],
                "X-Keep": ["yes"],
                "Host": ["h"],
            },
            "request_body": "/w==",
            "request_body_encoding": "base64",
        },
    }
    form = prefill(event)
    assert (form["query"], form["headers"]) == ("a=1", "X-Keep: yes")
    assert form["body"] == "/w==" and form["body_base64"] == "on"
    assert form["redacted"] == "query api_key, header X-Api-Key"
    assert resend_input(form).body == b"\xff"


def test_resend_only_sends_to_v1() -> None:
    for path in ("/portal/keys", "/api/v1/admin/keys", "/v1/../portal/", "/v1/x?y=1", "/v1/\x00"):
        with pytest.raises(DataError):
            resend_input({"method": "GET", "path": path})
    with pytest.raises(DataError):
        resend_input({"method": "G T", "path": "/v1/x"})
    out = resend_input({"method": "put", "path": "/v1/x", "query": "a=1&b=2", "headers": "Cookie: s\nX-A: b"})
    assert (out.method, out.query) == ("PUT", [("a", "1"), ("b", "2")])
    assert ("X-A", "b") in out.headers and not any(n.lower() == "cookie" for n, _ in out.headers)
