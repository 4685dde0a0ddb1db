"""The query box syntax compiles to the same parameters as the filter form."""

from __future__ import annotations

import pytest

from apitest.audit.filters import parse_filters
from apitest.audit.search_syntax import compile_search, to_search


def test_the_documented_example() -> None:
    text = 'status:5xx method:POST route:echo_post header:x-foo=bar duration>500 fp:sha256:0123456789ab "time out"'
    compiled = compile_search(text)
    assert compiled.errors == []
    assert compiled.params == {
        "status": "5xx",
        "method": "POST",
        "route_name": "echo_post",
        "header": "x-foo=bar",
        "duration_min": "500",
        "fp": "sha256:0123456789ab",
        "q": "time out",
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("colour:red", "unknown key colour:"),
        ("status:", "status: needs a value"),
        ("status:4xx status:5xx", "status given twice"),
        ("duration:5", "unknown key duration:"),
    ],
)
def test_errors(text: str, error: str) -> None:
    assert any(e.startswith(error) for e in compile_search(text).errors), compile_search(text).errors


def test_quoted_values_and_free_words() -> None:
    compiled = compile_search('path:"/v1/a b" hello "x:y" world')
    assert compiled.params == {"path": "/v1/a b", "q": "hello x:y world"}


def test_search_goes_through_the_filters_and_explicit_params_win() -> None:
    parsed = parse_filters({"search": "status:9xx method:GET", "method": "POST"})
    assert parsed.params == {"method": "POST"}
    assert parsed.errors == ["status: use a status code (404) or a class (4xx)"]
    unknown = parse_filters({"search": "nope:1"})
    assert unknown.errors and unknown.errors[0].startswith("search: unknown key nope:")


@pytest.mark.parametrize(
    "params",
    [
        {"status": "5xx", "route_name": "echo", "duration_min": "500", "q": "a b"},
        {"path": "/v1/a b", "header": "x-foo=bar", "duration_max": "20"},
        {"q": "x:y"},
    ],
)
def test_round_trip(params: dict[str, str]) -> None:
    assert compile_search(to_search(params)).params == params
