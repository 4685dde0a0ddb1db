from __future__ import annotations

import pytest

from apitest.auth.credentials import Presented, parse_authorization, read_credentials


def scope(headers: dict[str, str] | None = None, query: str = "") -> dict[str, object]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "headers": raw, "query_string": query.encode()}


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", Presented()),
        ({"X-API-Key": " k1 "}, "", Presented(api_key="k1", api_key_source="header")),
        ({}, "api_key=k2", Presented(api_key="k2", api_key_source="query")),
        ({"X-API-Key": "k1"}, "api_key=k2", Presented(api_key="k1", api_key_source="header")),  # header wins
        ({"X-API-Key": "  "}, "api_key=k2", Presented(api_key="k2", api_key_source="query")),  # empty header
        ({}, "api_key=%20%20", Presented()),
        ({"Authorization": "Bearer  tok "}, "", Presented(bearer="tok")),
        ({"Authorization": "bEaReR tok"}, "", Presented(bearer="tok")),
        ({"Authorization": "Bearer "}, "", Presented(ignored_scheme="Bearer")),
        ({"Authorization": "Bearer"}, "", Presented(ignored_scheme="Bearer")),
        ({"Authorization": "  "}, "", Presented()),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "", Presented(ignored_scheme="Basic")),
        ({"Authorization": "Bearertok"}, "", Presented(ignored_scheme="Bearertok")),
        ({"X-API-Key": "k", "Authorization": "Bearer t"}, "", Presented("k", "header", "t")),
    ],
)
def test_read_credentials(headers: dict[str, str], query: str, expected: Presented) -> None:
    assert read_credentials(scope(headers, query), header_name="X-API-Key", query_name="api_key") == expected


def test_configured_names_are_used() -> None:
    s = scope({"X-Custom-Key": "a"}, "key=b")
    assert read_credentials(s, header_name="X-Custom-Key", query_name="key").api_key == "a"
    assert read_credentials(scope({}, "key=b"), header_name="X-Custom-Key", query_name="key").api_key == "b"
    assert read_credentials(scope({"X-API-Key": "a"}), header_name="X-Custom-Key", query_name="key") == Presented()


def test_query_can_be_ignored() -> None:
    presented = read_credentials(
        scope({}, "api_key=b"), header_name="X-API-Key", query_name="api_key", read_query=False
    )
    assert presented == Presented()


def test_an_unusable_authorization_header_is_no_credential() -> None:
    assert Presented().absence_reason() == "no credential presented"
    assert Presented(ignored_scheme="Basic").absence_reason() == (
        "no credential presented (Authorization scheme 'Basic' ignored)"
    )
    assert parse_authorization(None) == ("", "")
    assert parse_authorization("Bearer ") == ("", "Bearer")
    assert not Presented(ignored_scheme="Basic").any
    assert not Presented().any
    assert Presented(bearer="x").any and Presented(api_key="x").any
