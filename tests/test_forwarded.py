"""Public URLs for links and redirects: request Host, then a configured server.base_url, then X-Forwarded-*
from a trusted proxy only."""

from __future__ import annotations

from typing import Any

import pytest

from apitest.config import ConfigError
from apitest.forwarded import PublicOrigin, public_origin
from tests.conftest import ClientFactory
from tests.support import make_settings


def scope(headers: dict[str, str], client: str = "127.0.0.1", scheme: str = "http") -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "scheme": scheme, "headers": raw, "client": (client, 5000), "state": {}}


FORWARDED = {
    "Host": "fixture:8080",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "gw.example",
    "X-Forwarded-Prefix": "/edge/",
}


@pytest.mark.parametrize(
    ("server", "headers", "client", "expected"),
    [
        ({}, {"Host": "gw:9000"}, "127.0.0.1", PublicOrigin("http", "gw:9000", "")),
        ({}, FORWARDED, "127.0.0.1", PublicOrigin("http", "fixture:8080", "")),  # untrusted: ignored
        ({"base_url": "http://gw:9000/api"}, {"Host": "gw"}, "127.0.0.1", PublicOrigin("http", "gw:9000", "/api")),
        ({"trusted_proxies": ["127.0.0.0/8"]}, FORWARDED, "127.0.0.1", PublicOrigin("https", "gw.example", "/edge")),
        ({"trusted_proxies": ["10.0.0.0/8"]}, FORWARDED, "127.0.0.1", PublicOrigin("http", "fixture:8080", "")),
        ({"trusted_proxies": ["::1"]}, FORWARDED, "::1", PublicOrigin("https", "gw.example", "/edge")),
        (
            {"base_url": "https://gw/api", "trusted_proxies": ["127.0.0.1"]},
            {"Host": "x", "X-Forwarded-Prefix": "//evil", "X-Forwarded-Host": "bad host/x"},
            "127.0.0.1",
            PublicOrigin("https", "gw", ""),  # unusable forwarded values fall back, never point elsewhere
        ),
    ],
)
def test_public_origin(server: dict[str, Any], headers: dict[str, str], client: str, expected: PublicOrigin) -> None:
    settings = make_settings({"server": server})
    s = scope(headers, client)
    assert public_origin(s, settings) == expected
    if expected.prefix or any(h.startswith("X-Forwarded") for h in headers):
        assert s["state"]["audit_details"]["public_url"]["origin"] == f"{expected.scheme}://{expected.host}"


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ConfigError, match="server.trusted_proxies: 'gateway' is not an IP address or CIDR"):
        make_settings({"server": {"trusted_proxies": ["gateway"]}})


async def test_pagination_links_keep_the_base_url_prefix_and_port(client_factory: ClientFactory) -> None:
    client = await client_factory({"server": {"base_url": "http://gw:9000/api"}})
    r = await client.get("/v1/pagination/link?per_page=10&total=30", headers={"Host": "gw"})
    assert '<http://gw:9000/api/v1/pagination/link?page=2&per_page=10&total=30>; rel="next"' in r.headers["link"]
    r = await client.get("/v1/pagination/odata?$top=10&total=30", headers={"Host": "gw"})
    assert r.json()["@odata.nextLink"] == "http://gw:9000/api/v1/pagination/odata?$top=10&$skip=10&total=30"


async def test_root_redirect_keeps_the_prefix(client_factory: ClientFactory) -> None:
    client = await client_factory(
        {
            "server": {"base_url": "http://gw/api"},
            "portal": {"enabled": True, "allow_anonymous": True, "cookie_secret": "s" * 32},
        }
    )
    r = await client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "/api/portal/")
