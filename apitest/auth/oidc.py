"""OIDC JWT validation for ``/v1`` bearer tokens (and, through :meth:`OIDCValidator.validate`, for the
portal's ID tokens).

Checks, in order: size, shape, algorithm (``none`` and HMAC are never accepted, whatever the
configuration says), signing key by ``kid``, signature (joserfc), then the claims: ``iss`` exactly
equal to ``oidc.issuer``; ``exp`` required; ``nbf`` when present, both with ``clock_skew_seconds`` of
leeway; ``aud`` (string or list) when an audience is configured; the client id in
``oidc.allowed_clients`` when that list is set, where the client id is ``azp``, else ``client_id``, else
``appid`` (the first one present decides; a token cannot pass on one claim while another names someone else).
``iat`` is not checked.

Hostile tokens: the header and the payload are parsed with :func:`apitest.safejson.loads` (bounded depth, no
duplicate keys, finite numbers), so a deeply nested header, ``{"alg":"RS256","alg":"none"}`` or ``exp: 1e400``
is a 401 ``malformed token``, never a 500; ``exp``/``nbf`` must be finite numbers between 0 and the end of
year 9999 (:data:`MAX_TIMESTAMP`). Values quoted in a reason use ``repr`` (``alg 'X\\ud800'``), and the
claims of an accepted token are made storable (:func:`apitest.storable.storable_value`) before they become
an :class:`Identity`.

Each failure is a :class:`TokenError` whose ``description`` is the RFC 6750 ``error_description`` the
client sees (``bad signature``, ``wrong issuer``, ``expired token`` ...) and whose ``detail`` goes to
the log and the audit row.

References: RFC 7519 §4.1 (registered claims), RFC 8725 (JWT best practices: algorithm allow-lists),
RFC 6750 §3.1 (error codes), OpenID Connect Core 1.0 §2 and Discovery 1.0 §4.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from apitest import logs
from apitest.auth.base import AuthBackendError, Invalid, Result
from apitest.auth.credentials import Presented
from apitest.auth.jwks import ALG_KEYS, JWKSCache, JWKSError, fetch_json
from apitest.auth.jwtshape import MalformedJWT, b64url_decode, is_jwt_shaped, jwt_header
from apitest.config.model import OIDCSettings
from apitest.config.validate import FORBIDDEN_ALGORITHMS
from apitest.identity import Identity
from apitest.safejson import loads
from apitest.storable import storable_value

log = logs.get("auth.oidc")

MAX_TOKEN_BYTES = 8192
HTTP_TIMEOUT = 10.0
CLIENT_CLAIMS = ("azp", "client_id", "appid")
SUBJECT_MISSING = "oidc-subject-missing"
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z: the last second a NumericDate may name here


class TokenError(Exception):
    def __init__(self, description: str, detail: str = "") -> None:
        super().__init__(f"{description} ({detail})" if detail else description)
        self.description = description
        self.detail = detail


class OIDCStartupError(Exception):
    """Discovery or the first JWKS fetch failed; the server refuses to start."""


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed token", f"{name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenError("malformed token", f"{name} is not a finite number")
    if not 0 <= value <= MAX_TIMESTAMP:
        raise TokenError("malformed token", f"{name} is outside 1970..9999")
    return float(value)


class OIDCValidator:
    def __init__(
        self, settings: OIDCSettings, client: httpx.AsyncClient, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.issuer = settings.issuer
        self.client = client
        self.clock = clock
        self.algorithms = [a for a in settings.algorithms if a not in FORBIDDEN_ALGORITHMS and a in ALG_KEYS]
        self.metadata: dict[str, Any] = {}  # the discovery document (authorization_endpoint, token_endpoint, ...)
        self.jwks: JWKSCache | None = None

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def start(self) -> None:
        """Fetch discovery and the JWKS; raises :class:`OIDCStartupError` naming the issuer."""
        if self.settings.skip_signature_verification:
            log.warning("oidc: skip_signature_verification is on; JWT signatures are NOT verified (insecure)")
            return
        try:
            metadata = await fetch_json(self.client, self.discovery_url)
            jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("http://", "https://")):
                raise JWKSError(f"{self.discovery_url}: no http(s) jwks_uri in the discovery document")
            self.metadata = metadata
            self.jwks = JWKSCache(jwks_uri, self.client, ttl=self.settings.jwks_cache_ttl, algorithms=self.algorithms)
            await self.jwks.load()
        except JWKSError as exc:
            raise OIDCStartupError(f"oidc: cannot use issuer {self.issuer}: {exc}") from exc
        if metadata.get("issuer") != self.issuer:
            log.warning(
                "oidc: the discovery document names another issuer; tokens will be refused as 'wrong issuer'",
                extra={"configured": self.issuer, "discovered": metadata.get("issuer")},
            )

    async def close(self) -> None:
        await self.client.aclose()

    async def validate(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The verified claims of ``token``; raises :class:`TokenError`, or
        :class:`~apitest.auth.base.AuthBackendError` when the keys cannot be fetched.

        ``audience`` overrides ``oidc.audience`` (the portal checks ID tokens against its client id).
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError("token too large", f"{len(token)} bytes, limit {MAX_TOKEN_BYTES}")
        try:
            header = jwt_header(token)
        except MalformedJWT as exc:
            raise TokenError("malformed token", f"header: {exc}") from None
        if header is None:
            raise TokenError("malformed token", "not a JWS compact serialization")
        alg = str(header["alg"])
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise TokenError("unsupported algorithm", f"alg {alg!r} is never accepted")
        if alg not in self.algorithms:
            raise TokenError("unsupported algorithm", f"alg {alg!r} is not in oidc.algorithms")
        # joserfc parses the payload with json.loads (duplicates, NaN, 1e400 and any depth accepted): the claims
        # used are a strict parse of the same bytes, made first so joserfc only ever sees bounded JSON.
        claims = strict_claims(token)
        await self._verified_claims(token, header, alg)
        self._check_claims(claims, self.settings.audience if audience is None else audience)
        return claims

    async def _verified_claims(self, token: str, header: dict[str, Any], alg: str) -> dict[str, Any]:
        if self.settings.skip_signature_verification:
            return unverified_claims(token)
        assert self.jwks is not None, "OIDCValidator.start() was not awaited"
        kid = header.get("kid", "")
        key = await self.jwks.get(kid if isinstance(kid, str) else "")
        if key is None:
            raise TokenError("unknown signing key", f"kid {kid!r} is not in the issuer's JWKS")
        if not key.verifies(alg):
            raise TokenError("bad signature", f"alg {alg!r} does not fit the {key.kty} key {kid!r}")
        try:
            return dict(jwt.decode(token, key.key, algorithms=[alg]).claims)
        except BadSignatureError as exc:
            raise TokenError("bad signature", f"signature does not verify with key {kid!r}") from exc
        except (JoseError, ValueError, TypeError, RecursionError, OverflowError) as exc:
            raise TokenError("malformed token", repr(str(exc)) if str(exc) else type(exc).__name__) from exc

    def _check_claims(self, claims: dict[str, Any], audience: str) -> None:
        now = self.clock()
        skew = self.settings.clock_skew_seconds
        if claims.get("iss") != self.issuer:
            raise TokenError("wrong issuer", f"iss {claims.get('iss')!r}, expected {self.issuer!r}")
        exp = _number(claims, "exp")
        if exp is None:
            raise TokenError("missing exp", "the token has no exp claim")
        if now > exp + skew:
            raise TokenError("expired token", f"expired at {_when(exp)}, {skew}s leeway")
        nbf = _number(claims, "nbf")
        if nbf is not None and now + skew < nbf:
            raise TokenError("not yet valid", f"valid from {_when(nbf)}, {skew}s leeway")
        if audience:
            aud = claims.get("aud")
            if not (aud == audience or (isinstance(aud, list) and audience in aud)):
                raise TokenError("wrong audience", f"aud {aud!r}, expected {audience!r}")
        allowed = self.settings.allowed_clients
        if allowed:
            name, client = client_of(claims)
            if not (isinstance(client, str) and client in allowed):
                shown = f"{name} {client!r}" if name else "no azp/client_id/appid"
                raise TokenError("client not allowed", f"{shown} not in allowed_clients")


def client_of(claims: dict[str, Any]) -> tuple[str, Any]:
    """The client id claim that decides: ``azp``, else ``client_id``, else ``appid``; ``("", None)`` if none."""
    for name in CLIENT_CLAIMS:
        if claims.get(name) is not None:
            return name, claims[name]
    return "", None


def strict_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-shaped token, parsed strictly (:func:`apitest.safejson.loads`: bounded depth, unique
    keys, finite numbers); raises :class:`TokenError`. Verifies nothing."""
    try:
        claims = loads(b64url_decode(token.split(".")[1]), unique_keys=True)
    except (ValueError, IndexError) as exc:
        raise TokenError("malformed token", f"payload: {exc}" if str(exc) else "payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise TokenError("malformed token", "payload is not a JSON object")
    return claims


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-shaped token, NOT verified (``oidc.skip_signature_verification`` only)."""
    return strict_claims(token)


def scopes_from(claims: dict[str, Any], claim: str) -> tuple[str, ...]:
    """Scopes from ``claim`` (space-separated string or list), plus ``scp`` (Azure AD, Okta)."""
    out: list[str] = []
    for name in dict.fromkeys((claim, "scp")):
        value = claims.get(name)
        items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
        out += [s for s in items if isinstance(s, str) and s and s not in out]
    return tuple(out)


def identity_from(claims: dict[str, Any], scopes_claim: str) -> Identity:
    """The caller a verified token names. Every string of the claims is made storable first: an identity
    provider may sign a ``sub`` or ``email`` holding NUL or a lone surrogate."""
    claims = storable_value(claims)
    names = (claims.get("sub"), claims.get("preferred_username"))
    subject = next((v for v in names if isinstance(v, str) and v), SUBJECT_MISSING)
    email = claims.get("email")
    return Identity(
        subject=subject,
        auth_type="oidc",
        key_name=subject,
        email=email if isinstance(email, str) else "",
        scopes=scopes_from(claims, scopes_claim),
        claims=claims,
    )


class OIDCAuthenticator:
    """Chain adapter: JWT-shaped bearer tokens only; anything else is left to the static tokens."""

    name = "oidc"

    def __init__(self, validator: OIDCValidator | None, scopes_claim: str) -> None:
        self.validator = validator
        self.scopes_claim = scopes_claim

    async def authenticate(self, presented: Presented) -> Result:
        if not presented.bearer or not is_jwt_shaped(presented.bearer):
            return None
        if self.validator is None:
            raise AuthBackendError("oidc validator is not started")
        try:
            claims = await self.validator.validate(presented.bearer)
        except TokenError as exc:
            log.warning("oidc: invalid credential", extra={"reason": str(exc)})
            return Invalid(exc.description, exc.detail)
        return identity_from(claims, self.scopes_claim)


class OIDCComponent:
    """Fetches the issuer's discovery document and keys at startup; the server refuses to start if the
    issuer cannot be used."""

    name = "oidc"

    def __init__(self, settings: OIDCSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, transport=transport, follow_redirects=False)
        self.validator = OIDCValidator(settings, client)

    async def start(self) -> None:
        try:
            await self.validator.start()
        except OIDCStartupError as exc:
            log.error(f"{exc}; refusing to start", extra={"issuer": self.settings.issuer})
            await self.validator.close()
            raise
        except BaseException:
            await self.validator.close()
            raise

    async def stop(self) -> None:
        await self.validator.close()
