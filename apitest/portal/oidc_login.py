"""Portal sign-in with OIDC: authorization code flow with PKCE (S256), through Authlib's Starlette client.

``GET /portal/auth/login?return=/portal/...`` creates ``state``, ``nonce`` and the PKCE verifier
(Authlib), keeps them with the sanitized return path in a signed 10-minute cookie (``api_test_pkce``,
``Path=/portal/auth/``, ``HttpOnly``, ``SameSite=Lax``) and redirects to the IdP's
``authorization_endpoint``. ``GET /portal/auth/callback`` checks, in order: an IdP error, the state
cookie, ``state``, single use, ``code``; exchanges the code (``token_endpoint``, with the verifier);
validates the ID token with the same validator as ``/v1`` bearer JWTs (audience: the portal's
client id) and checks its ``nonce``; then issues the session and redirects to the return path. Every
failure is an error page saying what went wrong; the IdP's response body is never echoed.

References: RFC 6749 §4.1 and §10.12 (code flow, CSRF via state), RFC 7636 (PKCE), OpenID Connect
Core 1.0 §3.1.2.1 (nonce) and §3.1.3.7 (ID token validation).
"""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import authlib.deprecate  # noqa: F401  (installs Authlib's "always" warning filter now, so ours below wins)
from itsdangerous import BadSignature
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest import logs
from apitest.auth.oidc import OIDCValidator, TokenError, scopes_from
from apitest.config import Settings
from apitest.portal.session import PortalIdentity, Session, SessionCodec, new_csrf_token

with warnings.catch_warnings():
    # Authlib 1.9 warns at import that plain httpx (this project's HTTP client) is "deprecated" in favour of
    # its httpx2 fork; the client works the same, so the notice is kept out of logs and test runs.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

log = logs.get("portal.oidc")

STATE_COOKIE = "api_test_pkce"
STATE_COOKIE_PATH = "/portal/auth/"
STATE_MAX_AGE = 600
CLIENT_NAME = "portal"
SCOPE = "openid email profile"
HTTP_TIMEOUT = 10.0
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def host_only(netloc: str) -> str:
    """``127.0.0.1`` of ``127.0.0.1:8080``, ``::1`` of ``[::1]:8080``."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def safe_return(value: str | None) -> str:
    """A portal page to go back to after sign-in, or "" (no open redirect, not even to ``/v1/respond``).

    Only ``/portal/...`` paths: no scheme or host, no ``//``, no backslash, no control character, and no
    ``.``/``..`` segment, checked on the value and on its percent-decoded forms (a browser resolves
    ``%2e%2e`` as ``..``)."""
    if not value or len(value) > 2048:
        return ""
    forms = [value]
    for _ in range(3):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for form in forms:
        path = form.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/portal/") or "//" in form or "\\" in form:
            return ""
        if any(ord(c) < 0x20 or c == "\x7f" for c in form):
            return ""
        if any(segment in (".", "..") for segment in path.split("/")):
            return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return ""
    return value


@dataclass
class LoginFailure(Exception):
    """A sign-in that cannot finish: shown on an error page with ``status``."""

    status: int
    title: str
    detail: str


class UsedStates:
    """States already redeemed in the last 10 minutes: a callback URL cannot be replayed."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def redeem(self, state: str) -> bool:
        now = time.monotonic()
        if len(self._seen) > 1000:
            self._seen = {s: t for s, t in self._seen.items() if now - t < STATE_MAX_AGE}
        if state in self._seen and now - self._seen[state] < STATE_MAX_AGE:
            return False
        self._seen[state] = now
        return True


class OIDCLogin:
    def __init__(self, settings: Settings, sessions: SessionCodec) -> None:
        self.settings = settings
        self.sessions = sessions
        self.cookies = sessions.derived("pkce")
        self.used = UsedStates()
        self.validator: OIDCValidator | None = None
        self.oauth = OAuth()
        self.redirect_uri = settings.server.base_url.rstrip("/") + settings.portal.oidc_redirect_path

    def start(self, validator: OIDCValidator | None) -> None:
        """Register the client with the endpoints the validator discovered at boot (no second fetch)."""
        self.validator = validator
        oidc = self.settings.oidc
        metadata = validator.metadata if validator is not None else {}
        client_kwargs: dict[str, Any] = {"scope": SCOPE, "code_challenge_method": "S256", "timeout": HTTP_TIMEOUT}
        if not oidc.client_secret:
            client_kwargs["token_endpoint_auth_method"] = "none"  # noqa: S105 - a public client: PKCE is its proof
        endpoints: dict[str, Any] = (
            {"authorize_url": metadata["authorization_endpoint"], "access_token_url": metadata["token_endpoint"]}
            if "authorization_endpoint" in metadata and "token_endpoint" in metadata
            else {"server_metadata_url": oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"}
        )
        self.oauth.register(
            CLIENT_NAME,
            overwrite=True,
            client_id=oidc.client_id,
            client_secret=oidc.client_secret or None,
            client_kwargs=client_kwargs,
            **endpoints,
        )

    @property
    def client(self) -> Any:
        return self.oauth.create_client(CLIENT_NAME)

    def origin_redirect(self, request: Request) -> Response | None:
        """Sign-in must start on ``server.base_url``'s host: the state cookie is set for the host the browser is
        on and the IdP sends it back to ``base_url``. Opened as another loopback name (``127.0.0.1`` for
        ``localhost``), the browser is sent to the same page on the configured origin first."""
        base = urlsplit(self.settings.server.base_url)
        here = request.url
        if not base.netloc or (here.netloc == base.netloc and here.scheme == base.scheme):
            return None
        if host_only(here.netloc) not in LOOPBACK or host_only(base.netloc) not in LOOPBACK:
            return None  # behind a gateway the Host we see is not the browser's: nothing to compare
        target = f"{base.scheme}://{base.netloc}{here.path}" + (f"?{here.query}" if here.query else "")
        return RedirectResponse(target, status_code=303)

    async def login(self, request: Request) -> Response:
        """Redirect to the IdP, remembering state, nonce, verifier and the return path in a signed cookie."""
        moved = self.origin_redirect(request)
        if moved is not None:
            return moved
        flow: dict[str, Any] = {}
        request.scope["session"] = flow  # Authlib keeps its state data in request.session
        extra = {"audience": self.settings.oidc.audience} if self.settings.oidc.audience else {}
        try:
            response: Response = await self.client.authorize_redirect(request, self.redirect_uri, **extra)
        except Exception as exc:
            log.warning("oidc login could not start", extra={"err": f"{type(exc).__name__}: {exc}"})
            raise LoginFailure(502, "The identity provider cannot be reached", "Try again later.") from exc
        value = self.cookies.dumps({"flow": flow, "return": safe_return(request.query_params.get("return"))})
        response.set_cookie(
            STATE_COOKIE,
            str(value),
            max_age=STATE_MAX_AGE,
            path=STATE_COOKIE_PATH,
            secure=self.sessions.secure,
            httponly=True,
            samesite="lax",
        )
        return response

    def _flow(self, request: Request) -> tuple[dict[str, Any], str]:
        raw = request.cookies.get(STATE_COOKIE)
        if not raw:
            raise LoginFailure(
                400,
                "Sign-in state missing",
                "The sign-in cookie is gone: it lasts 10 minutes and belongs to the browser and the host that "
                f"started signing in. This page was opened as {request.url.netloc}; sign-in returns to "
                f"{urlsplit(self.settings.server.base_url).netloc} (server.base_url). Start again from "
                f"{self.settings.server.base_url.rstrip('/')}/portal/login.",
            )
        try:
            data = self.cookies.loads(raw, max_age=STATE_MAX_AGE)
        except BadSignature as exc:
            raise LoginFailure(400, "Sign-in state invalid", "The sign-in cookie is expired or was altered.") from exc
        return dict(data.get("flow") or {}), safe_return(data.get("return"))

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            # RFC 6749 §4.1.2.1: the user declined, or the IdP refused the request.
            description = params.get("error_description", "")[:300]
            raise LoginFailure(400, "The identity provider refused the sign-in", f"{params['error']}: {description}")
        flow, return_to = self._flow(request)
        state = params.get("state", "")
        key = f"_state_{CLIENT_NAME}_{state}"
        entry = flow.get(key) if state else None
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
            raise LoginFailure(400, "State mismatch", "The sign-in response does not belong to this browser.")
        if not self.used.redeem(state):
            raise LoginFailure(400, "Replay rejected", "This sign-in response was already used.")
        code = params.get("code", "")
        if not code:
            raise LoginFailure(400, "Missing code", "The identity provider sent no authorization code.")
        data = entry["data"]
        identity = await self._exchange(code, data)
        response = RedirectResponse(return_to or "/portal/", status_code=303)
        response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH, secure=self.sessions.secure, httponly=True)
        self.sessions.issue(response, Session(identity, new_csrf_token()))
        log.info("portal sign-in", extra={"auth_type": "oidc", "subject": identity.subject})
        return response

    async def _exchange(self, code: str, data: dict[str, Any]) -> PortalIdentity:
        try:
            token = await self.client.fetch_access_token(
                redirect_uri=data.get("redirect_uri"), code=code, code_verifier=data.get("code_verifier")
            )
        except Exception as exc:
            # The IdP's answer may carry secrets or markup: log the reason, never echo the body.
            log.warning("oidc code exchange failed", extra={"err": f"{type(exc).__name__}: {exc}"[:500]})
            raise LoginFailure(502, "Code exchange failed", "The identity provider did not issue tokens.") from exc
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            log.warning("oidc code exchange failed", extra={"err": "no id_token in the token response"})
            raise LoginFailure(502, "Code exchange failed", "The token response has no id_token.")
        if self.validator is None:
            raise LoginFailure(503, "OIDC validator not running", "The server has no OIDC validator.")
        try:
            claims = await self.validator.validate(id_token, audience=self.settings.oidc.client_id)
        except TokenError as exc:
            log.warning("oidc id_token validation failed", extra={"err": str(exc)})
            raise LoginFailure(401, "ID token validation failed", exc.description) from exc
        except Exception as exc:  # the JWKS could not be fetched
            log.warning("oidc id_token validation failed", extra={"err": f"{type(exc).__name__}: {exc}"})
            raise LoginFailure(502, "ID token validation failed", "The issuer's keys cannot be fetched.") from exc
        nonce = data.get("nonce")
        if nonce and not secrets.compare_digest(str(claims.get("nonce", "")), str(nonce)):
            log.warning("oidc id_token validation failed", extra={"err": "nonce mismatch"})
            raise LoginFailure(401, "ID token validation failed", "nonce mismatch")
        return identity_from_claims(claims, self.settings.oidc.scopes_claim)


def identity_from_claims(claims: dict[str, Any], scopes_claim: str = "scope") -> PortalIdentity:
    """The portal identity of an ID token; its scopes (``admin`` manages keys) come from ``scopes_claim``."""
    subject = next((v for v in (claims.get("sub"), claims.get("preferred_username")) if isinstance(v, str) and v), "")
    email = claims.get("email")
    name = claims.get("name") or claims.get("preferred_username") or ""
    return PortalIdentity(
        subject=subject if isinstance(subject, str) and subject else "oidc-subject-missing",
        auth_type="oidc",
        email=email if isinstance(email, str) else "",
        name=name if isinstance(name, str) else "",
        scopes=scopes_from(claims, scopes_claim),
        claims={k: v for k, v in claims.items() if k not in ("nonce", "at_hash", "c_hash")},
    )
