"""The stored form of the request head: storable, redacted, bounded, with truncation flags."""

from __future__ import annotations

from apitest.audit.raw import MAX_HEADER_LIST, MAX_TARGET, RawCapture
from apitest.audit.redaction import Redactor
from apitest.wirehead import RAW_KEY, RawHead


def test_storable_and_redacted() -> None:
    capture = RawCapture(Redactor(["token"]))
    head = capture.capture(
        {
            "path": "/x",
            "raw_path": b"/x%00",
            "query_string": b"t=\x00&access_token=s",
            "headers": [(b"host", b"h\x00"), (b"x-token", b"s"), (b"x-n", b"a\x00b")],
            "extensions": {RAW_KEY: RawHead(b"/x%00?t=\x00&access_token=s", [b"Host", b"X-Token", b"X-N"])},
        }
    )
    assert "\x00" not in head.raw_target + str(head.header_list) + (head.host or "")
    assert head.raw_target.endswith("&access_token=[redacted]")
    assert head.header_list[1] == ["X-Token", "[redacted]"]
    assert head.http_version == "1.1" and head.truncated == {}


def test_bounded_with_flags() -> None:
    capture = RawCapture(Redactor([]))
    many = [(b"x-long", b"v" * 1000)] * (MAX_HEADER_LIST // 1000 + 10)
    head = capture.capture({"path": "/", "raw_path": b"/" + b"a" * (MAX_TARGET * 2), "headers": many})
    assert len(head.raw_target) == MAX_TARGET
    assert sum(len(n) + len(v) for n, v in head.header_list) <= MAX_HEADER_LIST
    assert head.truncated == {"raw_target_truncated": True, "header_list_truncated": True}
