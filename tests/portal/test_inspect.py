from __future__ import annotations

import json

from apitest.portal.inspect import (
    INLINE_MAX,
    TREE_MAX_NODES,
    body_view,
    hex_dump,
    json_tree,
    mark_controls,
    multipart_parts,
    visible,
)


def test_visible_escapes_isolates_and_shows_control_characters() -> None:
    out = str(visible('<b>"x"</b>\u202egnp.exe\x00'))
    assert out.startswith('<bdi class="v">&lt;b&gt;&#34;x&#34;&lt;/b&gt;')
    assert "\u202e" not in out and "\x00" not in out
    assert '<span class="ctl" title="U+202E RIGHT-TO-LEFT OVERRIDE">\\u202e</span>' in out
    assert "gnp.exe\\x00" in out  # storable() already spelled the NUL out


def test_long_values_get_an_expander_with_the_rest() -> None:
    out = str(visible("a" * 5000, limit=300))
    assert out.count("a") >= 5000 and "show all 5,000 characters" in out and "<details" in out


def test_newlines_are_kept_in_bodies_only() -> None:
    assert mark_controls("a\nb", keep_newlines=True) == "a\nb"
    assert "\\u000a" in mark_controls("a\nb")


def test_json_bodies_get_a_tree_and_highlighting() -> None:
    raw = json.dumps({"a": [1, "<x>", None, True], "b\u202e": {}}).encode()
    view = body_view({"request_content_type": "application/json", "request_size_bytes": len(raw)}, "request", raw)
    assert view["kind"] == "text" and view["json"]
    tree = str(view["tree"])
    assert "<details open>" in tree and "&lt;x&gt;" in tree and "<x>" not in tree and "\\u202e" in tree
    assert 'class="hl-' in str(view["highlighted"])


def test_huge_json_has_no_tree_and_deep_json_does_not_crash() -> None:
    assert json_tree(list(range(TREE_MAX_NODES + 1))) is None
    view = body_view({}, "request", b"[" * 5000 + b"]" * 5000)
    assert view["kind"] == "text" and view["tree"] is None


def test_big_bodies_are_deferred_and_sizes_reported() -> None:
    raw = b"x" * (INLINE_MAX + 1)
    view = body_view({"request_size_bytes": 5_000_000, "request_truncated": True}, "request", raw)
    assert view["kind"] == "deferred" and view["text"] == ""
    assert (view["size"], view["captured"], view["truncated"]) == (5_000_000, INLINE_MAX + 1, True)


def test_binary_is_a_hex_dump() -> None:
    assert hex_dump(b"\x89PNG\r\n\x1a\n" + b"ABCDEFGH").startswith(
        "00000000  89 50 4e 47 0d 0a 1a 0a  41 42 43 44 45 46 47 48  |.PNG....ABCDEFGH|"
    )
    assert body_view({}, "response", b"\xff\xfe")["kind"] == "binary"


def test_forms_and_multipart_are_decoded() -> None:
    view = body_view({"request_content_type": "application/x-www-form-urlencoded"}, "request", b"a=1&b=x+y&c=")
    assert view["form"] == [("a", "1"), ("b", "x y"), ("c", "")]
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="f"\r\n\r\nhello\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="up"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\xff\x00\r\n--XX--\r\n"
    )
    parts = multipart_parts(body, "multipart/form-data; boundary=XX")
    assert parts is not None
    assert [(p["name"], p["filename"], p["size"], p["binary"]) for p in parts] == [
        ("f", "", 5, False),
        ("up", "a.bin", 2, True),
    ]
