"""A small OIDC provider for tests: discovery and JWKS served by uvicorn on 127.0.0.1 from joserfc keys
this object holds, so tests can mint any token (good, forged or broken), rotate keys, and make the JWKS
endpoint slow or failing."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import LiveServer

AUDIENCE = "api-test"
CLIENT = "plexara-cc"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    """A compact JWS assembled by hand (for ``alg: none`` and other forgeries)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{signature}"


@functools.cache
def initial_keys() -> tuple[RSAKey, ECKey]:
    """Generated once per test run: RSA key generation is the slow part of starting a provider."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
    return rsa, ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})


def hs256_with_public_key(public_pem: bytes, claims: dict[str, Any], kid: str) -> str:
    """The key-confusion forgery: HMAC-SHA256 keyed with the RSA public key a verifier already trusts."""
    signing_input = unsigned({"alg": "HS256", "kid": kid, "typ": "JWT"}, claims)[:-1]
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


class LocalIdP:
    def __init__(self) -> None:
        self.reset()
        self.server = LiveServer(
            Starlette(
                routes=[
                    Route("/.well-known/openid-configuration", self.discovery),
                    Route("/jwks", self.jwks),
                ]
            )
        )

    def reset(self) -> None:
        """Back to the initial keys, a healthy JWKS endpoint and a zero fetch count."""
        self.rsa, self.ec = initial_keys()
        self.published: list[RSAKey | ECKey] = [self.rsa, self.ec]
        self.jwks_hits = 0
        self.jwks_status = 200
        self.jwks_delay = 0.0

    @property
    def issuer(self) -> str:
        return self.server.url

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"})

    async def jwks(self, request: Request) -> Response:
        self.jwks_hits += 1
        if self.jwks_delay:
            await asyncio.sleep(self.jwks_delay)
        if self.jwks_status != 200:
            return JSONResponse({"error": "unavailable"}, status_code=self.jwks_status)
        return JSONResponse({"keys": [k.as_dict(private=False) for k in self.published]})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "alice",
            "email": "alice@example.com",
            "aud": AUDIENCE,
            "azp": CLIENT,
            "iat": now,
            "exp": now + 300,
            "scope": "openid read",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: RSAKey | ECKey | None = None,
        alg: str = "RS256",
        header: dict[str, Any] | None = None,
    ) -> str:
        key = key or (self.ec if alg.startswith("ES") else self.rsa)
        jose_header = {"alg": alg, "kid": key.kid, **(header or {})}
        return jwt.encode(jose_header, claims if claims is not None else self.claims(), key, algorithms=[alg])

    def sign_raw(self, payload: bytes, *, header: bytes | None = None) -> str:
        """RS256 over exactly the given payload (and header) bytes: JSON no encoder would produce (duplicate
        keys, NaN, 1e400, lone surrogates, deep nesting), validly signed."""
        head = header if header is not None else json.dumps({"alg": "RS256", "kid": self.rsa.kid}).encode()
        signing_input = f"{b64(head)}.{b64(payload)}".encode()
        signature = self.rsa.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64(signature)

    def rotate(self) -> RSAKey:
        """Publish a new RSA key (the old ones stay published) and return it."""
        new = RSAKey.generate_key(2048, parameters={"kid": f"rsa-{len(self.published) + 1}", "use": "sig"})
        self.published.append(new)
        return new

    def start(self) -> LocalIdP:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
