"""The issuer's signing keys, fetched from its ``jwks_uri`` and cached for ``oidc.jwks_cache_ttl``.

- A token whose ``kid`` is not cached triggers a refresh (the IdP rotated its keys). Concurrent
  misses share one fetch (single flight). After a refresh that still lacks the kid, further unknown
  kids wait :data:`UNKNOWN_KID_COOLDOWN` before the next fetch, so made-up kids cannot hammer the IdP.
- Once the cache has expired the next lookup refreshes it. If that fails, the keys already held stay
  usable for :data:`STALE_GRACE` past expiry, and fetches are retried at most every
  :data:`RETRY_BACKOFF` so an IdP outage does not make every request wait for a timeout.
- Keys kept: RSA (modulus of at least 2048 bits, exponent of at most 4 bytes) and EC P-256 / P-384,
  with ``use`` ``sig`` or absent and ``alg`` absent or accepted. Only public parameters are imported.

References: RFC 7517 (JWK, JWK Set); RFC 7518 §6 (key parameters); OpenID Connect Discovery 1.0 §3.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from apitest import logs
from apitest.auth.base import AuthBackendError, describe
from apitest.auth.jwtshape import b64url_decode

log = logs.get("auth.oidc")

STALE_GRACE = 300.0
UNKNOWN_KID_COOLDOWN = 10.0
RETRY_BACKOFF = 5.0
MIN_RSA_BITS = 2048

# algorithm -> (key type, curve)
ALG_KEYS: dict[str, tuple[str, str]] = {
    "RS256": ("RSA", ""),
    "RS384": ("RSA", ""),
    "RS512": ("RSA", ""),
    "PS256": ("RSA", ""),
    "PS384": ("RSA", ""),
    "PS512": ("RSA", ""),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
PUBLIC_PARAMS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}


class JWKSError(Exception):
    """The key set could not be fetched or holds no usable key."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    kty: str
    crv: str
    alg: str  # "" when the JWKS does not pin one
    key: RSAKey | ECKey

    def verifies(self, alg: str) -> bool:
        kty, crv = ALG_KEYS.get(alg, ("", ""))
        return self.kty == kty and (not crv or self.crv == crv) and (not self.alg or self.alg == alg)


def _usable(jwk: dict[str, Any], algorithms: Iterable[str]) -> str:
    """Why a JWK is skipped, or "" when it is usable."""
    kty, crv, alg, use = jwk.get("kty"), jwk.get("crv", ""), jwk.get("alg", ""), jwk.get("use", "")
    if use not in ("", "sig"):
        return f"use {use!r}"
    if alg and alg not in algorithms:
        return f"alg {alg!r} not accepted"
    if not any(ALG_KEYS[a] == (kty, crv if kty == "EC" else "") for a in algorithms if a in ALG_KEYS):
        return f"key type {kty!r} {crv}".strip() + " matches no accepted algorithm"
    if kty == "RSA":
        try:
            n, e = b64url_decode(str(jwk["n"])).lstrip(b"\0"), b64url_decode(str(jwk["e"]))
        except (KeyError, ValueError):
            return "malformed RSA parameters"
        if len(n) * 8 < MIN_RSA_BITS or len(e) > 4:
            return f"RSA modulus under {MIN_RSA_BITS} bits or exponent over 4 bytes"
    return ""


def parse_jwks(document: Any, algorithms: Iterable[str]) -> dict[str, SigningKey]:
    """The usable signing keys of a JWK Set, by ``kid``; raises :class:`JWKSError` if there are none."""
    accepted = list(algorithms)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSError("not a JWK Set (no 'keys' array)")
    keys: dict[str, SigningKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        why = _usable(jwk, accepted)
        kid = str(jwk.get("kid", ""))
        if why:
            log.info("oidc: skipping jwks key", extra={"kid": kid, "reason": why})
            continue
        kty = str(jwk["kty"])
        public = {p: jwk[p] for p in PUBLIC_PARAMS[kty] if p in jwk}
        try:
            key = JWKRegistry.import_key({"kty": kty, **public})
        except (JoseError, ValueError, TypeError) as exc:
            log.info("oidc: skipping jwks key", extra={"kid": kid, "reason": describe(exc)})
            continue
        assert isinstance(key, RSAKey | ECKey)
        keys[kid] = SigningKey(kid=kid, kty=kty, crv=str(jwk.get("crv", "")), alg=str(jwk.get("alg", "")), key=key)
    if not keys:
        raise JWKSError("the JWK Set holds no usable signing key")
    return keys


class JWKSCache:
    def __init__(
        self,
        uri: str,
        client: httpx.AsyncClient,
        *,
        ttl: float,
        algorithms: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
        unknown_kid_cooldown: float = UNKNOWN_KID_COOLDOWN,
    ) -> None:
        self.uri = uri
        self.client = client
        self.ttl = ttl
        self.algorithms = list(algorithms)
        self.clock = clock
        self.unknown_kid_cooldown = unknown_kid_cooldown
        self.keys: dict[str, SigningKey] = {}
        self.expires_at = 0.0
        self.fetches = 0  # fetch attempts, successful or not
        self.last_error = ""
        self._next_attempt = 0.0  # no fetch before this time after a failure
        self._futile_at: float | None = None  # last refresh that did not find an unknown kid
        self._inflight: asyncio.Future[None] | None = None

    async def load(self) -> None:
        """The first fetch (at startup); raises :class:`JWKSError`."""
        await self._refresh()

    async def get(self, kid: str) -> SigningKey | None:
        """The key for ``kid`` (``None`` when the issuer has no such key); raises
        :class:`AuthBackendError` when no key set can be had at all."""
        now = self.clock()
        if now >= self.expires_at:
            return await self._get_expired(kid, now)
        key = self._pick(kid)
        if key is not None:
            return key
        if self._futile_at is not None and now - self._futile_at < self.unknown_kid_cooldown:
            return None
        if now < self._next_attempt:
            return None
        try:
            await self._refresh()
        except JWKSError as exc:
            raise AuthBackendError(f"oidc: jwks refresh for an unknown kid failed: {exc}") from exc
        key = self._pick(kid)
        if key is None:
            self._futile_at = self.clock()
        return key

    async def _get_expired(self, kid: str, now: float) -> SigningKey | None:
        if now >= self._next_attempt:
            try:
                await self._refresh()
                return self._pick(kid)
            except JWKSError:
                pass
        if now < self.expires_at + STALE_GRACE and self.keys:
            log.warning("oidc: jwks refresh failed; using cached keys", extra={"err": self.last_error})
            return self._pick(kid)
        raise AuthBackendError(f"oidc: jwks unavailable: {self.last_error}")

    def _pick(self, kid: str) -> SigningKey | None:
        if kid:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    async def _refresh(self) -> None:
        """Fetch the key set; concurrent callers share one fetch."""
        inflight = self._inflight
        if inflight is None:
            inflight = self._inflight = asyncio.ensure_future(self._fetch())
            inflight.add_done_callback(self._fetched)
        await asyncio.shield(inflight)

    def _fetched(self, task: asyncio.Future[None]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter was cancelled

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            keys = parse_jwks(await fetch_json(self.client, self.uri), self.algorithms)
        except JWKSError as exc:
            self.last_error = str(exc)
            self._next_attempt = self.clock() + RETRY_BACKOFF
            raise
        self.keys = keys
        self.expires_at = self.clock() + self.ttl
        self._next_attempt = 0.0
        self.last_error = ""
        log.info("oidc: jwks loaded", extra={"uri": self.uri, "kids": sorted(keys)})


async def fetch_json(client: httpx.AsyncClient, url: str) -> Any:
    """GET a JSON document; any failure is a :class:`JWKSError` naming the URL."""
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise JWKSError(f"GET {url}: {describe(exc)}") from exc
    if response.status_code != 200:
        raise JWKSError(f"GET {url}: status {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise JWKSError(f"GET {url}: response is not JSON") from exc
