from __future__ import annotations

import base64
import io
import json
import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import httpx
import pytest
from PIL import Image

from apitest.endpoints.httpbin_content import IMAGE_TYPES, accepted_image, asset

PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@pytest.mark.parametrize("kind", PIL_FORMATS)
def test_shipped_images_decode_as_their_format(kind: str) -> None:
    with Image.open(io.BytesIO(asset(f"image.{kind}"))) as image:
        assert image.format == PIL_FORMATS[kind]
        image.load()
        assert image.size == (32, 32)


def test_shipped_svg_is_an_svg_document() -> None:
    root = ET.fromstring(asset("image.svg"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("kind", IMAGE_TYPES)
async def test_image_by_format(client: httpx.AsyncClient, kind: str) -> None:
    r = await client.get(f"/v1/image/{kind}")
    assert (r.status_code, r.headers["content-type"], r.content) == (200, IMAGE_TYPES[kind], asset(f"image.{kind}"))


async def test_unknown_image_format_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/image/gif")
    assert r.status_code == 404
    assert "no such image format" in r.json()["error"]


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("", "png"),
        ("image/*", "png"),
        ("*/*", "png"),
        ("image/png", "png"),
        ("image/webp", "webp"),
        ("image/svg+xml", "svg"),
        ("image/jpeg", "jpeg"),
        ("image/webp,image/jpeg;q=0.5", "webp"),
        ("text/html,application/xhtml+xml,image/avif,image/webp,*/*;q=0.8", "png"),  # a browser: */* matches first
        ("text/plain", None),
        ("image/gif", None),
    ],
)
async def test_image_negotiation(client: httpx.AsyncClient, accept: str, kind: str | None) -> None:
    assert accepted_image(accept) == kind
    r = await client.get("/v1/image", headers={"Accept": accept} if accept else {})
    assert r.headers["vary"] == "Accept"
    if kind is None:
        assert r.status_code == 406
        assert "not acceptable" in r.json()["error"]
    else:
        assert (r.status_code, r.headers["content-type"]) == (200, IMAGE_TYPES[kind])


async def test_html_is_a_well_formed_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/html")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    parser = HTMLParser()
    parser.feed(r.text)
    assert "<title>" in r.text


async def test_xml_parses(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/xml")
    assert r.headers["content-type"] == "application/xml"
    assert ET.fromstring(r.content).tag == "catalog"


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/v1/robots.txt", "text/plain; charset=utf-8", b"User-agent: *\nDisallow: /v1/deny\n"),
        ("/v1/deny", "text/plain; charset=utf-8", b"YOU SHOULDN'T BE HERE\n"),
    ],
)
async def test_fixed_text(client: httpx.AsyncClient, path: str, content_type: str, body: bytes) -> None:
    r = await client.get(path)
    assert (r.status_code, r.headers["content-type"], r.content) == (200, content_type, body)


async def test_uuid_is_random_and_seeded_on_request(client: httpx.AsyncClient) -> None:
    values = [(await client.get("/v1/uuid")).json()["uuid"] for _ in range(2)]
    assert values[0] != values[1]
    assert all(uuid.UUID(v).version == 4 for v in values)
    seeded = [(await client.get("/v1/uuid?seed=abc")).json()["uuid"] for _ in range(2)]
    assert seeded[0] == seeded[1] != (await client.get("/v1/uuid?seed=abd")).json()["uuid"]
    assert uuid.UUID(seeded[0]).version == 4
    assert uuid.UUID(seeded[0]).variant == uuid.RFC_4122


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/v1/base64/aGVsbG8gd29ybGQ=", 200, b"hello world"),
        ("/v1/base64/decode/aGVsbG8gd29ybGQ=", 200, b"hello world"),
        ("/v1/base64/Pz8-", 200, b"??>"),  # URL-safe alphabet
        ("/v1/base64/Pz8+", 200, b"??>"),  # standard alphabet
        ("/v1/base64/encode/hello%20world", 200, b"aGVsbG8gd29ybGQ="),
        ("/v1/base64/encode/%3F%3F%3E", 200, b"Pz8-"),  # encodes URL-safe
        ("/v1/base64/aGVsbG8", 400, None),  # unpadded
        ("/v1/base64/not*base64", 400, None),
        ("/v1/base64/rot13/abc", 400, None),
    ],
)
async def test_base64(client: httpx.AsyncClient, path: str, status: int, body: bytes | None) -> None:
    r = await client.get(path)
    assert r.status_code == status
    if body is not None:
        assert (r.content, r.headers["content-type"]) == (body, "text/plain; charset=utf-8")
        assert r.headers["x-content-type-options"] == "nosniff"
    else:
        assert "error" in r.json()


async def test_base64_decoded_html_is_not_served_as_html(client: httpx.AsyncClient) -> None:
    payload = base64.urlsafe_b64encode(b"<script>alert(1)</script>").decode()
    r = await client.get(f"/v1/base64/{payload}?content-type=text/html")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/v1/anything", "/v1/anything/a/b/c"])
async def test_anything_echoes_every_method(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path + "?q=1&q=2", headers={"X-Session-Token": "hidden", "X-Test": "v"})
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["args", "data", "files", "form", "headers", "json", "method", "origin", "url"]
    assert (body["method"], body["args"], body["url"]) == (
        method,
        {"q": ["1", "2"]},
        f"http://testserver{path}?q=1&q=2",
    )
    assert body["headers"]["X-Test"] == ["v"]
    assert body["headers"]["X-Session-Token"] == ["[redacted]"]


@pytest.mark.parametrize(
    ("content_type", "content", "field", "value"),
    [
        ("application/json", b'{"b":1,"a":[true]}', "json", {"a": [True], "b": 1}),
        ("application/x-www-form-urlencoded", b"x=1&y=&x=2", "form", {"x": ["1", "2"], "y": [""]}),
        ("text/plain", b"hello", "data", "hello"),
        ("application/json", b"{not json", "json", None),
    ],
)
async def test_anything_parses_the_body(
    client: httpx.AsyncClient, content_type: str, content: bytes, field: str, value: object
) -> None:
    r = await client.post("/v1/anything", content=content, headers={"Content-Type": content_type})
    body = r.json()
    assert body[field] == value
    assert body["data"] == content.decode()


async def test_head_anything_and_get(client: httpx.AsyncClient) -> None:
    head = await client.head("/v1/anything")
    assert (head.status_code, head.content) == (200, b"")
    r = await client.get("/v1/get?a=b")
    assert (r.json()["args"], r.json()["method"]) == ({"a": ["b"]}, "GET")
    assert (await client.post("/v1/get")).status_code == 405
    assert json.loads((await client.get("/v1/anything/x%2Fy")).content)["url"] == "http://testserver/v1/anything/x%2Fy"
