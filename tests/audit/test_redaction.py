from __future__ import annotations

import pytest

from apitest.audit.redaction import SKIPPED_REQUEST_HEADERS, Redactor, storable
from apitest.config import DEFAULT_REDACT_KEYS

DEFAULT = Redactor(DEFAULT_REDACT_KEYS)


@pytest.mark.parametrize(
    ("name", "redacted"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("X-Api-Key", True),
        ("x-api-key", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Csrf-Token", True),
        ("api_key", True),
        ("tokens_count", True),  # a substring match, as in the original: harmless names can be caught
        ("X-Session_Id", True),
        ("Content-Type", False),
        ("X-Request-Id", False),
        ("page", False),
    ],
)
def test_default_keys_redact_by_case_insensitive_substring(name: str, redacted: bool) -> None:
    assert DEFAULT.redacts(name) is redacted


def test_header_map_is_canonical_sorted_and_redacted() -> None:
    raw = [
        (b"host", b"example.test"),
        (b"x-trace", b"one"),
        (b"X-API-KEY", b"secret"),
        (b"accept", b"*/*"),
        (b"x-trace", b"two"),
        (b"transfer-encoding", b"chunked"),
        (b"x-utf8", "é".encode()),
        (b"x-bad-utf8", b"\xff"),
    ]
    assert DEFAULT.headers(raw, SKIPPED_REQUEST_HEADERS) == {
        "Accept": ["*/*"],
        "X-Api-Key": ["[redacted]"],
        "X-Bad-Utf8": ["\ufffd"],
        "X-Trace": ["one", "two"],
        "X-Utf8": ["é"],
    }
    assert DEFAULT.headers([]) is None
    assert "Host" in (DEFAULT.headers([(b"host", b"h")]) or {})  # response side keeps every header


def test_query_map_keeps_order_and_blank_values() -> None:
    assert DEFAULT.query(b"b=2&a=1&b=3&flag=&password=hunter2&x=%C3%A9&y=%ff") == {
        "a": ["1"],
        "b": ["2", "3"],
        "flag": [""],
        "password": ["[redacted]"],
        "x": ["é"],
        "y": ["\ufffd"],
    }
    assert DEFAULT.query(b"") is None


def test_custom_keys_and_empty_keys() -> None:
    custom = Redactor(["X-Tenant", ""])
    assert custom.headers([(b"x-tenant-id", b"t1"), (b"authorization", b"Bearer x")]) == {
        "Authorization": ["Bearer x"],
        "X-Tenant-Id": ["[redacted]"],
    }


def test_storable_replaces_nul_only() -> None:
    assert storable("a\x00b") == "a\ufffdb"
    assert storable("plain é") == "plain é"


def test_the_name_cache_stays_bounded_and_correct() -> None:
    from apitest.audit.redaction import NAME_CACHE_SIZE

    redactor = Redactor(["secret"])
    for i in range(NAME_CACHE_SIZE * 2 + 3):
        name = f"x-secret-{i}".encode() if i % 2 else f"x-plain-{i}".encode()
        assert redactor.headers([(name, b"v")]) == {name.decode().title(): ["[redacted]" if i % 2 else "v"]}
        assert redactor.query(b"secret_" + str(i).encode() + b"=v&plain=w") == {
            f"secret_{i}": ["[redacted]"],
            "plain": ["w"],
        }
    assert len(redactor._headers) <= NAME_CACHE_SIZE and len(redactor._params) <= NAME_CACHE_SIZE
