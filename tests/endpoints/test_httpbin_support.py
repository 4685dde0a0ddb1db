from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apitest.endpoints.httpbin_support import parse_duration_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("2", 2.0),
        ("1e1", 10.0),
        ("1.5s", 1.5),
        ("300ms", 0.3),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("250us", 0.00025),
        ("-1s", -1.0),
        ("", None),
        ("s", None),
        ("1.5x", None),
        ("0x10", None),
        ("inf", None),
        ("nan", None),
        ("1_000", None),
        (" 1", None),
    ],
)
def test_durations_as_go_httpbin_reads_them(text: str, seconds: float | None) -> None:
    assert parse_duration_text(text) == (pytest.approx(seconds) if seconds is not None else None)


@given(st.text(max_size=50))
def test_duration_parsing_never_raises(text: str) -> None:
    result = parse_duration_text(text)
    assert result is None or isinstance(result, float)


@pytest.mark.parametrize(("duration", "status"), [("10s", 200), ("10.001s", 400), ("-1ms", 400), ("1e999", 400)])
async def test_durations_are_bounded_by_ten_seconds(client: httpx.AsyncClient, duration: str, status: int) -> None:
    r = await client.head(f"/v1/range/1?duration={duration}")  # HEAD: validated, nothing waited
    assert r.status_code == status


async def test_summary_url_is_the_request_as_it_arrived(client: httpx.AsyncClient) -> None:
    body = (await client.get("https://gw.example/v1/get?a=%20b&a=c", headers={"X-Forwarded-Proto": "http"})).json()
    assert body["url"] == "https://gw.example/v1/get?a=%20b&a=c"  # X-Forwarded-* is not trusted
    assert body["args"] == {"a": [" b", "c"]}
    assert body["headers"]["X-Forwarded-Proto"] == ["http"]
    assert body["origin"] == "127.0.0.1"
