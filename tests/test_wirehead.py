"""The request head as it arrived: the protocol's raw head when there is one, the ASGI scope otherwise."""

from __future__ import annotations

from typing import Any

from apitest.wirehead import RAW_KEY, RawHead, dump, head_fields, header_pairs, redact_target, target_bytes


def secret(name: str) -> bool:
    return "key" in name.lower() or "token" in name.lower()


def scope(raw: RawHead | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": "GET",
        "path": "/v1/a/b",
        "raw_path": b"/v1/a%2Fb",
        "query_string": b"x=1&api_key=s&token",
        "http_version": "1.0",
        "headers": [(b"host", b"h"), (b"x-api-key", b"s"), (b"x-a", b"1"), (b"x-a", b"2")],
        **extra,
    }
    if raw is not None:
        out["extensions"] = {RAW_KEY: raw}
    return out


def test_without_the_protocol_the_scope_is_the_fallback() -> None:
    s = scope()
    assert target_bytes(s) == b"/v1/a%2Fb?x=1&api_key=s&token"
    assert header_pairs(s) == s["headers"]
    assert target_bytes(scope(query_string=b"")) == b"/v1/a%2Fb"


def test_the_protocol_s_raw_head_wins_and_names_keep_their_spelling() -> None:
    raw = RawHead(b"/v1/a%2fb?x=%20", [b"Host", b"X-API-Key", b"X-A", b"x-A"])
    s = scope(raw)
    assert target_bytes(s) == b"/v1/a%2fb?x=%20"
    assert [n for n, _ in header_pairs(s)] == [b"Host", b"X-API-Key", b"X-A", b"x-A"]
    # a header a middleware added to the scope (no raw name) keeps its scope spelling
    s["headers"].append((b"x-request-id", b"r"))
    assert header_pairs(s)[-1] == (b"x-request-id", b"r")


def test_a_raw_name_that_does_not_match_its_scope_header_is_not_used() -> None:
    s = scope(RawHead(b"/", [b"Other", b"X-API-Key", b"X-A", b"X-A"]))
    assert header_pairs(s)[0] == (b"host", b"h")


def test_redacted_query_values_only() -> None:
    assert (
        redact_target("/p?x=1&api_key=s&token&a%5Fkey=v&b=", secret)
        == "/p?x=1&api_key=[redacted]&token&a%5Fkey=[redacted]&b="
    )
    assert redact_target("/p/key=1", secret) == "/p/key=1"


def test_fields_and_dump() -> None:
    s = scope(RawHead(b"/v1/a%2Fb?api_key=s", [b"HOST", b"X-API-Key", b"X-A", b"X-A"]))
    assert head_fields(s, secret) == {
        "raw_target": "/v1/a%2Fb?api_key=[redacted]",
        "http_version": "1.0",
        "host": "h",
        "header_list": [["HOST", "h"], ["X-API-Key", "[redacted]"], ["X-A", "1"], ["X-A", "2"]],
    }
    assert dump(s, secret, b"body") == (
        b"GET /v1/a%2Fb?api_key=[redacted] HTTP/1.0\r\nHOST: h\r\nX-API-Key: [redacted]\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody"
    )
