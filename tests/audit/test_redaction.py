from __future__ import annotations

import pytest

from apitest.audit.redaction import SKIPPED_REQUEST_HEADERS, Redactor, storable
from apitest.config import DEFAULT_REDACT_KEYS
from apitest.sensitive import Sensitive

DEFAULT = Redactor(Sensitive(DEFAULT_REDACT_KEYS, header_name="X-API-Key", query_name="api_key"))


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
        "X-Bad-Utf8": ["\\xff"],  # bytes that are not UTF-8 are kept visibly
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
        "y": ["\\xff"],
    }
    assert DEFAULT.query(b"") is None


def test_custom_keys_and_empty_keys_still_redact_the_credential_headers() -> None:
    custom = Redactor(Sensitive(["X-Tenant", ""], header_name="X-Gateway-Auth", query_name="gw"))
    raw = [
        (b"x-tenant-id", b"t1"),
        (b"authorization", b"Bearer x"),
        (b"x-gateway-auth", b"k"),
        (b"cookie", b"c"),
        (b"proxy-authorization", b"p"),
        (b"accept", b"*/*"),
    ]
    assert custom.headers(raw) == {
        "Accept": ["*/*"],
        "Authorization": ["[redacted]"],
        "Cookie": ["[redacted]"],
        "Proxy-Authorization": ["[redacted]"],
        "X-Gateway-Auth": ["[redacted]"],
        "X-Tenant-Id": ["[redacted]"],
    }
    assert custom.query(b"gw=k&access_token=t&page=2") == {
        "access_token": ["[redacted]"],
        "gw": ["[redacted]"],
        "page": ["2"],
    }


def test_url_valued_headers_keep_the_url_without_its_credentials() -> None:
    custom = Redactor(Sensitive([], header_name="X-Gateway-Auth", query_name="gw"))
    raw = [
        (b"referer", b"https://app.test/p?gw=k1&x=1#access_token=t"),
        (b"origin", b"https://user:pw@app.test"),
        (b"x-other", b"https://app.test/?gw=k1"),
    ]
    assert custom.headers(raw) == {
        "Origin": ["https://user:[redacted]@app.test"],
        "Referer": ["https://app.test/p?gw=[redacted]&x=1#access_token=[redacted]"],
        "X-Other": ["https://app.test/?gw=k1"],
    }


def test_storable_escapes_nul_and_lone_surrogates_visibly() -> None:
    assert storable("a\x00b") == "a\\x00b"
    assert storable("X\ud800y\udfff") == "X\\ud800y\\udfff"
    assert storable("plain é \ufffd \U0001f600") == "plain é \ufffd \U0001f600"


def test_header_map_is_capped_and_says_so() -> None:
    raw = [(b"x-big", b"v" * 1000), (b"x-a", b"1"), (b"x-huge", b"w" * 5000), (b"authorization", b"Bearer t")]
    found = DEFAULT.header_map(raw, cap=2000)
    assert found.truncated
    assert found.values == {"Authorization": ["[redacted]"], "X-A": ["1"], "X-Big": ["v" * 1000]}
    assert found.size <= 2000
    assert not DEFAULT.header_map(raw[:2], cap=2000).truncated


def test_the_name_cache_stays_bounded_and_correct() -> None:
    from apitest.audit.redaction import NAME_CACHE_SIZE

    redactor = Redactor(Sensitive(["secret"]))
    for i in range(NAME_CACHE_SIZE * 2 + 3):
        name = f"x-secret-{i}".encode() if i % 2 else f"x-plain-{i}".encode()
        assert redactor.headers([(name, b"v")]) == {name.decode().title(): ["[redacted]" if i % 2 else "v"]}
        assert redactor.query(b"secret_" + str(i).encode() + b"=v&plain=w") == {
            f"secret_{i}": ["[redacted]"],
            "plain": ["w"],
        }
    assert len(redactor._headers) <= NAME_CACHE_SIZE and len(redactor._params) <= NAME_CACHE_SIZE
