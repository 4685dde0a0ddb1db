from __future__ import annotations

import pytest

from apitest.sensitive import Sensitive, sensitive_for

S = Sensitive(["secret"], header_name="X-Gw-Key", query_name="gw")


@pytest.mark.parametrize(
    ("name", "redacted"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-GW-KEY", True),
        ("X-Client-Secret", True),
        ("X-Api-Key", False),  # not the configured header, and no configured word in it
        ("Referer", False),
    ],
)
def test_credential_headers(name: str, redacted: bool) -> None:
    assert S.header(name) is redacted


@pytest.mark.parametrize(
    ("name", "redacted"),
    [("gw", True), ("GW", True), ("access_token", True), ("my_secret", True), ("page", False), ("gw2", False)],
)
def test_credential_params(name: str, redacted: bool) -> None:
    assert S.param(name) is redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://a.test/p?gw=k&x=1", "https://a.test/p?gw=[redacted]&x=1"),
        ("https://a.test/p?x=1&access_token=t#frag", "https://a.test/p?x=1&access_token=[redacted]#frag"),
        ("https://a.test/cb#access_token=t&state=s", "https://a.test/cb#access_token=[redacted]&state=s"),
        ("https://u:pw@a.test/", "https://u:[redacted]@a.test/"),
        ("https://u@a.test/", "https://u@a.test/"),
        ("https://a.test/?g%77=k", "https://a.test/?g%77=[redacted]"),
        ("/relative?gw=k", "/relative?gw=[redacted]"),
        ("https://a.test/plain", "https://a.test/plain"),
        ("null", "null"),
    ],
)
def test_urls_keep_their_shape_without_credentials(url: str, shown: str) -> None:
    assert S.url(url) == shown
    assert S.header_value("Referer", url) == shown
    assert S.header_value("Authorization", url) == "[redacted]"


def test_one_object_per_configuration() -> None:
    assert sensitive_for(["a"], "H", "q") is sensitive_for(["a"], "H", "q")
