from __future__ import annotations

import httpx
import pytest

from apitest.endpoints.echo import BODY_CAP
from tests.conftest import ClientFactory

with httpx.Client() as _default:  # httpx's own Accept-Encoding: it lists br when the brotli package is installed
    BASE_HEADERS = {
        "Accept": ["*/*"],
        "Accept-Encoding": [_default.headers["Accept-Encoding"]],
        "Connection": ["keep-alive"],
    }


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_echo_every_method(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/v1/echo", content=b'{"a":1}', headers={"User-Agent": "t"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == [
        "method",
        "path",
        "headers",
        "body",
        "body_size",
        "raw_target",
        "http_version",
        "host",
        "header_list",
    ]
    assert body["method"] == method
    assert body["path"] == "/v1/echo"
    assert body["body"] == {"a": 1}
    assert body["body_size"] == 7
    assert r.content.endswith(b"\n")


async def test_echo_head_has_headers_only(client: httpx.AsyncClient) -> None:
    r = await client.head("/v1/echo")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == b""


async def test_echo_get_without_body_or_query(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/echo", headers={"User-Agent": "t"})
    assert r.json() == {
        "method": "GET",
        "path": "/v1/echo",
        "headers": {**BASE_HEADERS, "User-Agent": ["t"]},
        "body_size": 0,
        "raw_target": "/v1/echo",
        "http_version": "1.1",
        "host": "testserver",
        "header_list": [
            ["host", "testserver"],
            ["accept", "*/*"],
            ["accept-encoding", BASE_HEADERS["Accept-Encoding"][0]],
            ["connection", "keep-alive"],
            ["user-agent", "t"],
        ],
    }


async def test_echo_query_is_multi_valued_and_sorted(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/echo?z=1&a=2&z=3&empty=")
    assert r.json()["query"] == {"a": ["2"], "empty": [""], "z": ["1", "3"]}
    assert list(r.json()["query"]) == ["a", "empty", "z"]


async def test_echo_redacts_credentials_in_query_and_headers(client_factory: ClientFactory) -> None:
    client = await client_factory({"api_keys": {"file": [{"name": "dev", "key": "k-123"}]}})
    r = await client.get("/v1/echo?api_key=k-123&password=p&page=2")
    assert r.status_code == 200
    assert r.json()["query"] == {"api_key": ["[redacted]"], "page": ["2"], "password": ["[redacted]"]}
    assert "k-123" not in r.text
    r = await client.get("/v1/echo", headers={"X-API-Key": "k-123", "Referer": "https://g.test/?api_key=k-123&a=1"})
    assert r.json()["headers"]["X-Api-Key"] == ["[redacted]"]
    assert r.json()["headers"]["Referer"] == ["https://g.test/?api_key=[redacted]&a=1"]
    assert "k-123" not in r.text


async def test_custom_key_names_are_redacted_even_without_a_redact_word(client_factory: ClientFactory) -> None:
    client = await client_factory(
        {
            "api_keys": {"header_name": "X-Gw", "query_param_name": "gw", "file": [{"name": "d", "key": "k-9x"}]},
            "audit": {"redact_keys": ["nothing-matches"]},
        }
    )
    for path in ("/v1/echo?gw=k-9x", "/v1/method/echo?gw=k-9x"):
        r = await client.get(path, headers={"X-Gw": "k-9x", "Authorization": "Bearer zz-top"})
        assert r.status_code == 200, r.text
        assert "k-9x" not in r.text and "zz-top" not in r.text
        assert r.json()["query"] == {"gw": ["[redacted]"]}


async def test_echo_headers_are_canonical_and_redacted(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/echo",
        headers=[
            ("proxy-authorization", "Basic x"),
            ("x-client-secret", "s1"),
            ("x-amz-security-token", "t"),
            ("cookie", "c=1"),
            ("x-session-id", "s"),
            ("x-multi", "1"),
            ("X-Multi", "2"),
        ],
    )
    headers = r.json()["headers"]
    assert headers["Proxy-Authorization"] == ["[redacted]"]
    assert headers["X-Client-Secret"] == ["[redacted]"]
    assert headers["X-Amz-Security-Token"] == ["[redacted]"]
    assert headers["Cookie"] == ["[redacted]"]
    assert headers["X-Session-Id"] == ["s"]
    assert headers["X-Multi"] == ["1", "2"]
    assert "Host" not in headers
    assert list(headers) == sorted(headers)


async def test_echo_configured_redact_keys_replace_the_default(client_factory: ClientFactory) -> None:
    client = await client_factory({"audit": {"redact_keys": ["x-custom"]}})
    sent = {"X-Custom-Thing": "v", "Proxy-Authorization": "a"}
    headers = (await client.get("/v1/echo", headers=sent)).json()["headers"]
    assert headers["X-Custom-Thing"] == ["[redacted]"]
    assert headers["Proxy-Authorization"] == ["[redacted]"]  # a credential header, whatever the list says


@pytest.mark.parametrize(
    ("content", "fields"),
    [
        (
            b'{"b":1,"a":{"d":[1,{"z":0,"y":0}],"c":null}}',
            {"body": {"a": {"c": None, "d": [1, {"y": 0, "z": 0}]}, "b": 1}},
        ),
        (b"[1, 2.5, true]", {"body": [1, 2.5, True]}),
        (b'"text"', {"body": "text"}),
        (b"0", {"body": 0}),
        (b"false", {"body": False}),
        (b"{}", {"body": {}}),
        (b" null ", {}),
        (b"not json", {"body_raw_text": "not json"}),
        (b"   ", {"body_raw_text": "   "}),
        (b"NaN", {"body_raw_text": "NaN"}),
        (b'{"a":Infinity}', {"body_raw_text": '{"a":Infinity}'}),
        (b'\xef\xbb\xbf{"a":1}', {"body_raw_text": '\ufeff{"a":1}'}),
        (b'{"a":"\xff"}', {"body_raw_text": '{"a":"\ufffd"}'}),
        (b"a=1&b=2", {"body_raw_text": "a=1&b=2"}),
    ],
)
async def test_echo_body(client: httpx.AsyncClient, content: bytes, fields: dict[str, object]) -> None:
    r = await client.post("/v1/echo", content=content, headers={"Content-Type": "text/plain"})
    body = r.json()
    assert {k: body[k] for k in ("body", "body_raw_text") if k in body} == fields
    assert body["body_size"] == len(content)


async def test_echo_body_keys_are_sorted_on_the_wire(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", content=b'{"b":1,"a":2}')
    assert b'"body":{"a":2,"b":1},"body_size":13,' in r.content


async def test_echo_parses_json_whatever_the_content_type(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/echo", content=b'{"x":1}', headers={"Content-Type": "application/xml"})
    assert r.json()["body"] == {"x": 1}


async def test_echo_caps_the_body_at_1_mib(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", content=b"x" * (BODY_CAP + 10))
    body = r.json()
    assert body["body_size"] == BODY_CAP == 1048576
    assert body["body_raw_text"] == "x" * BODY_CAP


async def test_echo_body_of_exactly_1_mib(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", content=b"y" * BODY_CAP)
    assert r.json()["body_size"] == BODY_CAP


async def test_echo_has_no_options_operation(client: httpx.AsyncClient) -> None:
    r = await client.options("/v1/echo")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, HEAD, PATCH, POST, PUT"


@pytest.mark.parametrize(
    "content", [b'{"a":1e400}', b'{"a":-1e400}', b'{"x":"\\ud800"}', b'{"\\udfff":1}', b'[{"a":["\\ud800"]}]']
)
async def test_json_that_cannot_be_echoed_as_json_is_echoed_as_text(client: httpx.AsyncClient, content: bytes) -> None:
    r = await client.post("/v1/echo", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["body_raw_text"] == content.decode()
    assert "body" not in r.json()


async def test_paired_surrogate_escapes_are_ordinary_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", content=b'{"e":"\\ud83d\\ude00","n":1e300}')
    assert r.json()["body"] == {"e": "\U0001f600", "n": 1e300}


async def test_echo_raw_target_is_undecoded_and_redacts_credential_values(client_factory: ClientFactory) -> None:
    client = await client_factory({"api_keys": {"file": [{"name": "dev", "key": "k-2"}]}})
    r = await client.get("/v1/echo?x=%2F&api_key=k-1&b=%20&password=p", headers={"X-API-Key": "k-2"})
    body = r.json()
    assert body["raw_target"] == "/v1/echo?x=%2F&api_key=[redacted]&b=%20&password=[redacted]"
    assert ["x-api-key", "[redacted]"] in body["header_list"]
    assert "k-2" not in r.text  # the query map is the original's, unredacted; the header never appears


async def test_dump_answers_the_request_as_text(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/dump?a=%2F",
        content=b"hello",
        headers=[("X-First", "1"), ("X-Auth-Token", "secret-token"), ("x-first", "2")],
    )
    assert r.status_code == 405  # GET only
    r = await client.request(
        "GET",
        "/v1/dump?a=%2F",
        content=b"hello",
        headers=[("X-First", "1"), ("X-Auth-Token", "secret-token"), ("x-first", "2")],
    )
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    head, _, body = r.content.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /v1/dump?a=%2F HTTP/1.1"
    assert lines[1] == "host: testserver"
    assert lines.index("x-first: 1") < lines.index("x-auth-token: [redacted]") < lines.index("x-first: 2")
    assert body == b"hello"
    assert b"secret-token" not in r.content
