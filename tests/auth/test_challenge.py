from __future__ import annotations

from apitest.auth.base import Invalid
from apitest.auth.challenge import Challenges, is_scope_token
from tests.support import make_settings

RM = 'resource_metadata="https://gw.example/.well-known/oauth-protected-resource"'


def challenges() -> Challenges:
    return Challenges(make_settings({"server": {"base_url": "https://gw.example"}}))


def test_missing() -> None:
    r = challenges().missing()
    assert (r.status_code, r.body) == (401, b'{"error":"missing credential"}\n')
    assert r.headers["www-authenticate"] == f'Bearer realm="api-test", {RM}'
    assert r.headers["content-type"] == "application/json"
    assert challenges().missing("read").headers["www-authenticate"] == f'Bearer realm="api-test", scope="read", {RM}'


def test_invalid_quotes_safely() -> None:
    r = challenges().invalid(Invalid('odd "quoted" \\ thing\r\n', "detail stays out"))
    assert r.body == b'{"error":"invalid credential"}\n'
    assert r.headers["www-authenticate"] == (
        f'Bearer realm="api-test", error="invalid_token", error_description="odd ?quoted? ? thing??", {RM}'
    )


def test_insufficient_scope_and_backend_error() -> None:
    r = challenges().insufficient_scope("orders:write")
    assert (r.status_code, r.body) == (403, b'{"error":"insufficient_scope","required_scope":"orders:write"}\n')
    assert r.headers["www-authenticate"] == 'Bearer realm="api-test", error="insufficient_scope", scope="orders:write"'
    r = challenges().backend_error()
    assert (r.status_code, r.body, "www-authenticate" in r.headers) == (500, b'{"error":"auth error"}\n', False)


def test_scope_token_syntax() -> None:
    assert is_scope_token("read") and is_scope_token("orders:write") and is_scope_token("https://x/y")
    assert not any(is_scope_token(s) for s in ("", "a b", 'a"b', "a\\b", "é", "a\r\nb"))
