"""The stored form of the request head: storable, redacted, bounded, with truncation flags."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apitest.audit.raw import MAX_HEADER_LIST, MAX_TARGET, PAIR_CACHE_BYTES, PAIR_CACHE_SIZE, RawCapture
from apitest.audit.redaction import Redactor
from apitest.sensitive import Sensitive
from apitest.wirehead import RAW_KEY, RawHead


def test_storable_and_redacted() -> None:
    capture = RawCapture(Redactor(Sensitive(["token"])))
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
    capture = RawCapture(Redactor(Sensitive([])))
    many = [(b"x-long", b"v" * 1000)] * (MAX_HEADER_LIST // 1000 + 10)
    head = capture.capture({"path": "/", "raw_path": b"/" + b"a" * (MAX_TARGET * 2), "headers": many})
    assert len(head.raw_target) == MAX_TARGET
    assert sum(len(n) + len(v) for n, v in head.header_list) <= MAX_HEADER_LIST
    assert head.truncated == {"raw_target_truncated": True, "header_list_truncated": True}


@settings(max_examples=200, deadline=None)
@given(
    target=st.binary(min_size=1, max_size=300),
    headers=st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=60)), max_size=8),
)
def test_any_bytes_become_storable_bounded_text(target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    lowered = [(name.lower(), value) for name, value in headers]
    head = RawCapture(Redactor(Sensitive(["token"]))).capture(
        {"path": "/", "headers": lowered, "extensions": {RAW_KEY: RawHead(target, [n for n, _ in headers])}}
    )
    texts = [head.raw_target, head.host or "", *(part for pair in head.header_list for part in pair)]
    assert not any("\x00" in t for t in texts)
    assert all(t.encode("utf-8") is not None for t in texts)  # no lone surrogates: every part encodes
    assert len(head.raw_target) <= MAX_TARGET and len(head.header_list) == len(headers)
    assert all(value == "[redacted]" for name, value in head.header_list if "token" in name.lower())


WARM = RawCapture(Redactor(Sensitive(["token"])))  # one capture for every example: its pair cache fills up


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"Host", b"X-Token", b"User-Agent", b"Referer", b"X-\x01\x02", b"\xff\xfe"]),
            st.sampled_from([b"", b"a", b"v" * 100, b"\x00\x1b[31m", b"http://u:p@h/?access_token=s", b"\xe9\xff"]),
        ),
        max_size=8,
    ),
    limit=st.integers(min_value=0, max_value=700),
)
def test_a_header_from_the_pair_cache_is_stored_as_a_fresh_capture_stores_it(
    headers: list[tuple[bytes, bytes]], limit: int
) -> None:
    scope = {
        "path": "/",
        "headers": [(name.lower(), value) for name, value in headers],
        "extensions": {RAW_KEY: RawHead(b"/", [n for n, _ in headers])},
    }
    fresh = RawCapture(Redactor(Sensitive(["token"]))).capture(scope, limit)
    assert WARM.capture(scope, limit) == fresh
    assert WARM.capture(scope, limit) == fresh  # now every short pair is a cache hit


def test_the_pair_cache_is_bounded() -> None:
    capture = RawCapture(Redactor(Sensitive([])))
    for i in range(PAIR_CACHE_SIZE * 3):
        capture.capture({"path": "/", "headers": [(b"x-n", str(i).encode()), (b"x-long", b"v" * 300)]})
    assert 0 < len(capture._pairs) <= PAIR_CACHE_SIZE
    assert all(len(name) + len(value) <= PAIR_CACHE_BYTES for name, value in capture._pairs)


def test_the_pair_cache_never_keeps_a_credential() -> None:
    capture = RawCapture(Redactor(Sensitive(["token"])))
    referer = b"http://h/cb?access_token=s3cret"
    headers = [(b"x-token", b"s3cret"), (b"referer", referer), (b"accept", b"*/*")]
    scope = {"path": "/", "headers": headers, "extensions": {RAW_KEY: RawHead(b"/", [n for n, _ in headers])}}
    first = capture.capture(scope)
    assert capture.capture(scope) == first
    assert first.header_list[0] == ["x-token", "[redacted]"] and "s3cret" not in first.header_list[1][1]
    assert set(capture._pairs) == {(b"accept", b"*/*")}  # neither secret value is held in memory
