"""Stateless portal sessions in a signed cookie.

The cookie (``portal.cookie_name``, default ``api_test_session``) carries the signed-in identity and the
session's CSRF token, never a credential. It is signed with ``portal.cookie_secret`` (itsdangerous,
HMAC-SHA256, timestamped) and is ``HttpOnly``, ``SameSite=Lax``, ``Secure`` per ``portal.cookie_secure``
and ``Path=/``. Its age is checked on every read against ``portal.session_ttl``. Each session has a random
id (``sid``) and its issue time; the portal checks them on every use against the server-side list of ended
sessions (:mod:`apitest.portal.revocations`: signing out records the id) and against the key it was signed
in with (revoked, expired or removed ends it; :meth:`apitest.portal.core.Portal.read_session`). Changing
the secret ends every session.

References: RFC 6265 (cookies), RFC 6265bis §5.4.7 (SameSite).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from apitest.config import Settings
from apitest.identity import Identity

SESSION_SALT = "api-test/session/v1"
MAX_COOKIE_BYTES = 3800  # browsers drop cookies above ~4096 bytes including name and attributes
KEPT_CLAIMS = ("iss", "sub", "aud", "azp", "exp", "iat", "email", "name", "preferred_username", "scope")

ReadStatus = Literal["none", "valid", "expired", "invalid", "ended"]


@dataclass(frozen=True)
class PortalIdentity:
    """Who is signed in to the portal (the ``/api/v1/portal/me`` body)."""

    subject: str
    auth_type: str  # anonymous | apikey | bearer | oidc
    email: str = ""
    name: str = ""
    api_key_id: str = ""  # the credential's name: key or token name, the subject for a JWT
    scopes: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_identity(cls, identity: Identity) -> PortalIdentity:
        """Map an inbound-chain identity (file or DB key, bearer token, OIDC JWT) to a portal identity."""
        name = str(identity.claims.get("name", "")) if identity.claims else ""
        return cls(
            subject=identity.subject,
            auth_type=identity.auth_type,
            email=identity.email,
            name=name or identity.key_name,
            api_key_id=(identity.key_name or identity.subject) if identity.auth_type != "anonymous" else "",
            scopes=tuple(identity.scopes),
            claims=dict(identity.claims),
        )

    @property
    def display(self) -> str:
        return self.name or self.email or self.subject or ("anonymous" if self.auth_type == "anonymous" else "?")

    def to_identity(self) -> Identity:
        """The identity a Try-It or replay dispatch runs as (the pre-set identity of the /v1 chain)."""
        return Identity(
            subject=self.subject,
            auth_type=self.auth_type or "portal",
            key_name=self.api_key_id or self.subject,
            email=self.email,
            scopes=self.scopes,
            claims=dict(self.claims),
        )

    def me(self) -> dict[str, Any]:
        """``{subject, email?, name?, auth_type, claims?, api_key_id?}``: empty fields omitted."""
        body: dict[str, Any] = {"subject": self.subject}
        if self.email:
            body["email"] = self.email
        if self.name:
            body["name"] = self.name
        body["auth_type"] = self.auth_type
        if self.scopes:
            body["scopes"] = list(self.scopes)
        if self.claims:
            body["claims"] = self.claims
        if self.api_key_id:
            body["api_key_id"] = self.api_key_id
        return body


ANONYMOUS_PORTAL = PortalIdentity(subject="", auth_type="anonymous")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Session:
    identity: PortalIdentity
    csrf: str  # the session's CSRF token (form field csrf_token or header X-CSRF-Token)
    sid: str = field(default_factory=new_session_id)  # what sign-out records on the server
    issued_at: float = field(default_factory=time.time)  # epoch seconds; a key created later is another key


class SessionCodec:
    """Encode, verify and set the session cookie."""

    def __init__(self, settings: Settings) -> None:
        portal = settings.portal
        self.cookie_name = portal.cookie_name
        self.secure = portal.cookie_secure
        self.ttl = int(portal.session_ttl)
        self.secret = portal.cookie_secret
        self.serializer = URLSafeTimedSerializer(
            portal.cookie_secret, salt=SESSION_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def derived(self, purpose: str) -> URLSafeTimedSerializer:
        """A serializer for another short-lived cookie (sign-in state): same secret, separate salt."""
        return URLSafeTimedSerializer(
            self.secret, salt=f"api-test/{purpose}/v1", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def encode(self, session: Session) -> str:
        identity = asdict(session.identity)
        payload = {"id": identity, "csrf": session.csrf, "sid": session.sid, "iat": session.issued_at}
        value = str(self.serializer.dumps(payload))
        if len(value) > MAX_COOKIE_BYTES and identity["claims"]:
            # A full OIDC claim map can exceed what a browser keeps; keep the claims people look at.
            identity["claims"] = {k: v for k, v in identity["claims"].items() if k in KEPT_CLAIMS}
            value = str(self.serializer.dumps(payload))
        return value

    def decode(self, value: str) -> tuple[ReadStatus, Session | None]:
        if not value:
            return "none", None
        try:
            payload = self.serializer.loads(value, max_age=self.ttl)
        except SignatureExpired:
            return "expired", None
        except BadSignature:
            return "invalid", None
        try:
            raw = payload["id"]
            identity = PortalIdentity(
                subject=str(raw["subject"]),
                auth_type=str(raw["auth_type"]),
                email=str(raw.get("email", "")),
                name=str(raw.get("name", "")),
                api_key_id=str(raw.get("api_key_id", "")),
                scopes=tuple(str(s) for s in raw.get("scopes", ())),
                claims=dict(raw.get("claims") or {}),
            )
            csrf = str(payload["csrf"])
            sid = str(payload["sid"])
            issued_at = float(payload["iat"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return "invalid", None
        if not sid:
            return "invalid", None
        return "valid", Session(identity, csrf, sid, issued_at)

    def read(self, conn: HTTPConnection) -> tuple[ReadStatus, Session | None]:
        return self.decode(conn.cookies.get(self.cookie_name, ""))

    def issue(self, response: Response, session: Session) -> None:
        response.set_cookie(
            self.cookie_name,
            self.encode(session),
            max_age=self.ttl,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="lax")
