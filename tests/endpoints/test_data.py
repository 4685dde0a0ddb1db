from __future__ import annotations

import hashlib

import httpx
import pytest
from starlette.applications import Starlette

from apitest.endpoints.data import SIZED_MAX, SIZED_PIECE
from tests.endpoints.conftest import Live, asgi_messages, bodies

HELLO_HASH = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def alphabet(n: int) -> bytes:
    return (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]


# --- /v1/fixed/{key} ---------------------------------------------------------------------------


async def test_fixed_hello_reference_vector(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/fixed/hello")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == (f'{{"key":"hello","hash":"{HELLO_HASH}","body":"fixed[hello]: {HELLO_HASH}"}}\n').encode()


@pytest.mark.parametrize(
    ("segment", "key"),
    [("a%20b", "a b"), ("%C3%A9t%C3%A9", "été"), ("x.y-z_1", "x.y-z_1"), ("%3Cb%3E", "<b>")],
)
async def test_fixed_key_is_the_decoded_segment(client: httpx.AsyncClient, segment: str, key: str) -> None:
    body = (await client.get(f"/v1/fixed/{segment}")).json()
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert body == {"key": key, "hash": digest, "body": f"fixed[{key}]: {digest}"}


@pytest.mark.parametrize("path", ["/v1/fixed/", "/v1/fixed/a/b", "/v1/fixed"])
async def test_fixed_needs_exactly_one_segment(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert (r.status_code, r.json()) == (404, {"error": "no such endpoint"})


# --- /v1/sized ---------------------------------------------------------------------------------
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize("n", [0, 1, 25, 26, 27, 4095, 4096, 4097, 10000])
async def test_sized_exact_body(client: httpx.AsyncClient, n: int) -> None:
    r = await client.get(f"/v1/sized?bytes={n}", headers=IDENTITY)  # httpx asks for gzip, deflate, br by default
    expected = b'{"bytes":%d,"body":"' % n + alphabet(n) + b'"}'
    assert r.status_code == 200
    assert r.content == expected  # no trailing newline
    assert int(r.headers["content-length"]) == len(expected) == len(f'{{"bytes":{n},"body":"') + n + 2
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "bytes must be a non-negative integer"),
        ("?bytes=", "bytes must be a non-negative integer"),
        ("?bytes=abc", "bytes must be a non-negative integer"),
        ("?bytes=-1", "bytes must be a non-negative integer"),
        ("?bytes=1.5", "bytes must be a non-negative integer"),
        ("?bytes=%201", "bytes must be a non-negative integer"),
        ("?bytes=1_000", "bytes must be a non-negative integer"),
        ("?bytes=0x10", "bytes must be a non-negative integer"),
        ("?bytes=99999999999999999999", "bytes must be a non-negative integer"),
        ("?bytes=33554433", "bytes 33554433 exceeds max 33554432"),
        ("?bytes=99999999", "bytes 99999999 exceeds max 33554432"),
    ],
)
async def test_sized_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/sized{query}")
    assert r.status_code == 400
    assert r.content == f'{{"error":"{message}"}}\n'.encode()
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("query", "n"), [("%2B7", 7), ("007", 7)])
async def test_sized_accepts_sign_and_leading_zeros(client: httpx.AsyncClient, query: str, n: int) -> None:
    assert (await client.get(f"/v1/sized?bytes={query}")).json() == {"bytes": n, "body": alphabet(n).decode()}


async def test_sized_is_sent_in_4_kib_pieces(app: Starlette) -> None:
    n = 3 * SIZED_PIECE + 100
    messages = await asgi_messages(app, "/v1/sized", query=f"bytes={n}")
    chunks = [m["body"] for m in bodies(messages)]
    pieces = chunks[1:-2]  # prefix, pieces, closing quote and brace, final empty message
    assert [len(p) for p in pieces] == [SIZED_PIECE, SIZED_PIECE, SIZED_PIECE, 100]
    assert all(m.get("more_body") for m in bodies(messages)[:-1])
    assert b"".join(chunks) == b'{"bytes":%d,"body":"' % n + alphabet(n) + b'"}'


async def test_sized_head_has_the_length_but_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head(f"/v1/sized?bytes={SIZED_MAX}", headers=IDENTITY)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) == len(f'{{"bytes":{SIZED_MAX},"body":"') + SIZED_MAX + 2


def test_sized_max_over_a_real_server(live: Live) -> None:
    received = 0
    with httpx.stream("GET", f"{live.url}/v1/sized?bytes={SIZED_MAX}", headers=IDENTITY) as r:
        assert r.status_code == 200
        declared = int(r.headers["content-length"])
        tail = b""
        for chunk in r.iter_raw():
            received += len(chunk)
            tail = (tail + chunk)[-4:]
    assert received == declared == len(b'{"bytes":33554432,"body":"') + SIZED_MAX + 2
    assert tail == b'ab"}'  # 33554432 = 26 * 1290555 + 2: the alphabet restarts for its last two bytes


# --- /v1/lorem ---------------------------------------------------------------------------------


async def test_lorem_reference_vector(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/lorem?words=5&seed=cat")
    assert r.content == b'{"words":5,"body":"Ad excepteur anim sint laborum."}\n'


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", 50),
        ("?words=", 50),
        ("?words=abc", 50),
        ("?words=0", 50),
        ("?words=-3", 50),
        ("?words=1.5", 50),
        ("?words=-99999999999999999999", 50),
        ("?words=1", 1),
        ("?words=%2B7", 7),
        ("?words=5000", 5000),
    ],
)
async def test_lorem_word_count(client: httpx.AsyncClient, query: str, words: int) -> None:
    sep = "&" if query else "?"
    body = (await client.get(f"/v1/lorem{query}{sep}seed=s")).json()
    assert body["words"] == words
    assert len(body["body"].split(" ")) == words
    assert body["body"][0].isupper() and body["body"].endswith(".")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?words=5001", "words 5001 exceeds max 5000"),
        ("?words=99999999999999999999", "words 9223372036854775807 exceeds max 5000"),
    ],
)
async def test_lorem_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/lorem{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_lorem_seed_decides_the_words(client: httpx.AsyncClient) -> None:
    a1 = (await client.get("/v1/lorem?seed=a")).json()["body"]
    a2 = (await client.get("/v1/lorem?seed=a")).json()["body"]
    b = (await client.get("/v1/lorem?seed=b")).json()["body"]
    assert a1 == a2 != b


async def test_lorem_without_seed_differs_per_call(client: httpx.AsyncClient) -> None:
    bodies_seen = {(await client.get("/v1/lorem?words=50")).json()["body"] for _ in range(3)}
    assert len(bodies_seen) == 3
