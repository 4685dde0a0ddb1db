from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from apitest.auth.base import AuthBackendError
from apitest.auth.jwks import RETRY_BACKOFF, STALE_GRACE, JWKSCache, JWKSError, parse_jwks

ALGS = ["RS256", "RS384", "RS512", "ES256"]
URI = "https://idp.test/jwks"

RSA1 = RSAKey.generate_key(2048, parameters={"kid": "r1"})
RSA2 = RSAKey.generate_key(2048, parameters={"kid": "r2"})


def public(key: RSAKey | ECKey | OctKey, **extra: Any) -> dict[str, Any]:
    return {**key.as_dict(private=False), **extra}


class FakeIdP:
    """A JWKS endpoint behind httpx.MockTransport: counts fetches, can fail, can be slow."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [public(RSA1)]
        self.fetches = 0
        self.fail = False
        self.delay = 0.0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"keys": self.keys})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cache(fake: FakeIdP, clock: Clock) -> AsyncIterator[JWKSCache]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        jwks = JWKSCache(URI, client, ttl=60, algorithms=ALGS, clock=clock, unknown_kid_cooldown=10)
        await jwks.load()
        yield jwks


def test_parse_keeps_only_usable_signing_keys() -> None:
    with pytest.warns(SecurityWarning):
        small = RSAKey.generate_key(1024, parameters={"kid": "small"})
    ec384 = ECKey.generate_key("P-384", parameters={"kid": "p384"})
    doc = {
        "keys": [
            public(RSA1, use="sig", alg="RS256"),
            public(RSA2, use="enc", kid="enc"),
            public(RSA2, alg="HS256", kid="pinned-hs"),
            public(small),
            public(ec384),  # ES384 is not in ALGS
            public(ECKey.generate_key("P-256", parameters={"kid": "e1"})),
            public(OctKey.generate_key(256, parameters={"kid": "oct"})),
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }
    keys = parse_jwks(doc, ALGS)
    assert sorted(keys) == ["e1", "r1"]
    assert keys["r1"].verifies("RS256") and not keys["r1"].verifies("RS384")  # alg pinned by the JWKS
    assert keys["e1"].verifies("ES256") and not keys["e1"].verifies("RS256")


def test_private_parameters_are_never_imported() -> None:
    keys = parse_jwks({"keys": [RSA1.as_dict(private=True)]}, ALGS)
    assert keys["r1"].key.is_private is False


@pytest.mark.parametrize("doc", [{"keys": []}, {}, [], {"keys": [public(OctKey.generate_key(256))]}])
def test_parse_refuses_sets_without_usable_keys(doc: Any) -> None:
    with pytest.raises(JWKSError):
        parse_jwks(doc, ALGS)


async def test_cached_keys_are_served_without_fetching(cache: JWKSCache, fake: FakeIdP) -> None:
    assert (await cache.get("r1")) is not None
    assert (await cache.get("")) is not None  # no kid: the only key
    assert fake.fetches == 1


async def test_unknown_kid_refreshes_once_then_cools_down(cache: JWKSCache, fake: FakeIdP, clock: Clock) -> None:
    fake.keys.append(public(RSA2))  # the IdP rotated
    assert (await cache.get("r2")) is not None
    assert fake.fetches == 2
    assert await cache.get("made-up-1") is None  # refresh, still unknown: cooldown starts
    assert fake.fetches == 3
    assert await cache.get("made-up-2") is None
    assert fake.fetches == 3  # no fetch during the cooldown
    clock.now += 11
    assert await cache.get("made-up-3") is None
    assert fake.fetches == 4


async def test_concurrent_misses_share_one_fetch(cache: JWKSCache, fake: FakeIdP) -> None:
    fake.keys.append(public(RSA2))
    fake.delay = 0.05
    results = await asyncio.gather(*(cache.get("r2") for _ in range(25)))
    assert all(r is not None and r.kid == "r2" for r in results)
    assert fake.fetches == 2


async def test_expired_cache_refreshes(cache: JWKSCache, fake: FakeIdP, clock: Clock) -> None:
    clock.now += 61
    fake.keys = [public(RSA2)]
    assert await cache.get("r1") is None
    assert (await cache.get("r2")) is not None
    assert fake.fetches == 2


async def test_stale_keys_serve_within_grace_when_the_idp_is_down(
    cache: JWKSCache, fake: FakeIdP, clock: Clock
) -> None:
    fake.fail = True
    clock.now += 61
    assert (await cache.get("r1")) is not None  # stale but within grace
    assert fake.fetches == 2
    assert (await cache.get("r1")) is not None
    assert fake.fetches == 2  # backing off: no fetch per request
    clock.now += RETRY_BACKOFF
    assert (await cache.get("r1")) is not None
    assert fake.fetches == 3
    clock.now += STALE_GRACE
    with pytest.raises(AuthBackendError, match="jwks unavailable: GET https://idp.test/jwks: ConnectError"):
        await cache.get("r1")
    fake.fail = False
    clock.now += RETRY_BACKOFF
    assert (await cache.get("r1")) is not None  # recovered


async def test_unknown_kid_while_the_idp_is_down_is_a_backend_error(cache: JWKSCache, fake: FakeIdP) -> None:
    fake.fail = True
    with pytest.raises(AuthBackendError, match="unknown kid failed"):
        await cache.get("r2")
    assert await cache.get("r2") is None  # backing off: answered from what is known


async def test_load_failure_names_the_uri(fake: FakeIdP) -> None:
    fake.fail = True
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        with pytest.raises(JWKSError, match="GET https://idp.test/jwks"):
            await JWKSCache(URI, client, ttl=60, algorithms=ALGS).load()


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503), "status 503"),
        (httpx.Response(200, text="<html>"), "not JSON"),
        (httpx.Response(200, json={"nope": 1}), "no 'keys' array"),
    ],
)
async def test_load_failures(response: httpx.Response, message: str) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: response)) as client:
        with pytest.raises(JWKSError, match=message):
            await JWKSCache(URI, client, ttl=60, algorithms=ALGS).load()
