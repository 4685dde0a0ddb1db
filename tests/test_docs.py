"""``/openapi.json``, ``/openapi.yaml``, ``/docs`` and its locally served assets."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from apitest.docs import ASSET_TYPES, content_security_policy
from tests.conftest import ClientFactory
from tests.support import live_server, make_app, make_settings
from tests.test_openapi import KEYS_AND_BEARER, OIDC

DOCS_DIR = resources.files("apitest").joinpath("static", "docs")


class PageLinks(HTMLParser):
    """Every URL the page makes the browser fetch, plus what would break a strict CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.handlers += [name for name in found if name.startswith("on")]
        for name in ("src", "href", "data-openapi-url", "data-oauth2-redirect-url"):
            if found.get(name):
                self.urls.append(str(found[name]))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def parse_page(html: str) -> PageLinks:
    links = PageLinks()
    links.feed(html)
    return links


@pytest.mark.parametrize(
    ("path", "content_type", "attr"),
    [("/openapi.json", "application/json", "json"), ("/openapi.yaml", "application/yaml", "yaml")],
)
async def test_document_routes(client: httpx.AsyncClient, path: str, content_type: str, attr: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == content_type
    assert r.headers["cache-control"] == "no-store"
    assert r.content == getattr(client.app.state.services.openapi, attr)  # type: ignore[attr-defined]
    head = await client.head(path)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(r.content)))


async def test_docs_and_document_need_no_credential(client_factory: ClientFactory) -> None:
    client = await client_factory(KEYS_AND_BEARER)
    assert (await client.get("/v1/whoami")).status_code == 401
    for path in ("/openapi.json", "/openapi.yaml", "/docs", "/docs/assets/swagger-ui-bundle.js"):
        assert (await client.get(path)).status_code == 200, path


async def test_docs_page_is_html_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    directives = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "<title>api-test — API reference</title>" in r.text
    page = parse_page(r.text)
    assert page.inline_scripts == []
    assert page.handlers == []


async def test_docs_page_references_only_local_assets_and_all_are_served(client: httpx.AsyncClient) -> None:
    page_url = "http://testserver/docs"
    page = parse_page((await client.get("/docs")).text)
    assert {"docs/assets/swagger-ui-bundle.js", "docs/assets/docs-init.js", "openapi.json"} <= set(page.urls)
    for url in page.urls:
        assert not urlsplit(url).scheme and not url.startswith("//"), url
        resolved = urljoin(page_url, url)
        r = await client.get(resolved)
        assert r.status_code == 200, url
        assert r.content, url


@pytest.mark.parametrize("name", sorted(ASSET_TYPES))
async def test_assets_have_content_types_and_cache_headers(client: httpx.AsyncClient, name: str) -> None:
    r = await client.get(f"/docs/assets/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == ASSET_TYPES[name]
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == DOCS_DIR.joinpath(name).read_bytes()
    again = await client.get(f"/docs/assets/{name}", headers={"If-None-Match": r.headers["etag"]})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", r.headers["etag"])


async def test_oauth2_redirect_page_also_gets_the_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs/assets/oauth2-redirect.html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert parse_page(r.text).inline_scripts == []


@pytest.mark.parametrize("name", ["nope.js", "VENDORED.md", "..%2Fdocs.py", "swagger-ui.css.map"])
async def test_unknown_assets_are_json_404(client: httpx.AsyncClient, name: str) -> None:
    r = await client.get(f"/docs/assets/{name}")
    assert r.status_code == 404
    assert r.json() == {"error": "no such endpoint"}


def test_init_script_fetches_nothing_remote() -> None:
    script = DOCS_DIR.joinpath("docs-init.js").read_text()
    assert "http" not in script
    assert "validatorUrl: null" in script  # Swagger UI would otherwise call validator.swagger.io


def test_vendored_files_match_the_recorded_digests() -> None:
    notes = DOCS_DIR.joinpath("VENDORED.md").read_text()
    recorded = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", notes, re.MULTILINE))
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"} <= set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256(DOCS_DIR.joinpath(name).read_bytes()).hexdigest() == digest, name
    assert set(ASSET_TYPES) - set(recorded) == {"docs-init.js"}  # the only served file that is our own
    assert re.search(r"swagger-ui-dist` \*\*5\.\d+\.\d+\*\*", notes)


def test_csp_allows_try_it_against_the_base_url_and_the_oidc_issuer() -> None:
    settings = make_settings({**OIDC, "server": {"base_url": "https://fixture.test:8443/"}})
    csp = content_security_policy(settings)
    assert "connect-src 'self' https://fixture.test:8443 https://idp.example.test;" in csp
    assert "connect-src 'self' http://localhost:8080;" in content_security_policy(make_settings())


async def test_page_title_is_the_escaped_server_name(client_factory: ClientFactory) -> None:
    client = await client_factory({"server": {"name": "<gw & co>"}})
    assert "<title>&lt;gw &amp; co&gt; — API reference</title>" in (await client.get("/docs")).text


def test_docs_over_a_real_server() -> None:
    with live_server(make_app(groups=["identity"])) as server, httpx.Client(base_url=server.url) as http:
        page = http.get("/docs")
        assert page.status_code == 200
        for url in parse_page(page.text).urls:
            r = http.get(urljoin(server.url + "/docs", url))
            assert r.status_code == 200, url
            assert int(r.headers["content-length"]) == len(r.content)
        spec = http.get("/openapi.json").json()
        assert "/v1/whoami" in spec["paths"]
