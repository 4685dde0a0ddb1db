"""``/api/v1/admin/keys``: list, create and revoke database API keys.

- ``GET /api/v1/admin/keys``: 200 ``{"keys": [...]}``, newest first, revoked keys included (``status``).
- ``POST /api/v1/admin/keys`` with ``{name, description?, scopes?, expires_at?}``: 201
  ``{"key": {...}, "plaintext": "at_..."}``.
- ``DELETE /api/v1/admin/keys/{name}``: 204; 400 ``api key not found`` when no active key has that name.

Every route answers 401 ``{"error":"unauthorized"}`` without an accepted credential and 403
``{"error":"insufficient_scope","required_scope":"admin"}`` when the caller lacks the ``admin`` scope
(both checked first), then 503 ``api keys store not enabled`` when ``api_keys.db.enabled`` is off. A
caller grants only scopes it holds (403 naming the others), and a name taken by a file key, a bearer
token or an active database key is a 409 naming that source. These routes sit outside ``/v1``: they are
not audited.

Who may call them is decided by :class:`AdminAuth`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apitest import logs, safejson
from apitest.auth.base import AuthBackendError, Invalid, describe
from apitest.auth.chain import AuthChain
from apitest.auth.credentials import read_credentials
from apitest.auth.keystore import KeyNameTaken, KeyStore, check_scopes
from apitest.config import Settings
from apitest.db.models import utcnow
from apitest.http import error_response, json_response
from apitest.identity import Identity
from apitest.outcome import outcome_of

log = logs.get("auth.admin")

MAX_BODY_BYTES = 8192
PORTAL_REALM = "api-test-portal"
ADMIN_SCOPE = "admin"  # needed to list, create and revoke keys (and for every other admin route)

# An extra way in (the portal's session cookie, with its CSRF check on unsafe methods): an Identity
# accepts the request, a Response refuses it, None means "not mine, ask the next".
AdminCheck = Callable[[Request], Awaitable[Identity | Response | None]]


class AdminAuth:
    """Who may manage keys: each ``extra`` check first, then the inbound chain over the wire credential.

    The chain sees only the configured API-key header and ``Authorization: Bearer``, never the query
    parameter (a key in a URL ends up in logs), and an anonymous result is refused.
    """

    def __init__(self, settings: Settings, chain: AuthChain, extra: Sequence[AdminCheck] = ()) -> None:
        self.settings = settings
        self.extra = list(extra)
        self.chain = chain

    async def __call__(self, request: Request) -> Identity | Response:
        """The caller's identity when it holds the ``admin`` scope, else the 401 or 403 to answer."""
        outcome = await self.identify(request)
        if isinstance(outcome, Identity) and ADMIN_SCOPE not in outcome.scopes:
            log.info(
                "admin api: admin scope missing",
                extra={"subject": outcome.subject, "auth_type": outcome.auth_type, "path": request.url.path},
            )
            return insufficient_scope()
        return outcome

    async def identify(self, request: Request) -> Identity | Response:
        for check in self.extra:
            outcome = await check(request)
            if outcome is not None:
                return outcome
        settings = self.settings
        presented = read_credentials(
            request.scope, header_name=settings.api_keys.header_name, query_name="", read_query=False
        )
        if not presented.any:
            return unauthorized()
        try:
            result = await self.chain.resolve(presented)
        except AuthBackendError as exc:
            log.warning("auth chain error", extra={"err": str(exc), "path": request.url.path})
            return error_response("auth error", 500)
        if not isinstance(result, Identity) or result.auth_type == "anonymous":
            reason = result.message if isinstance(result, Invalid) else "no credential"
            log.info("admin api: credential refused", extra={"reason": reason, "path": request.url.path})
            return unauthorized()
        outcome_of(request.scope).identity = result
        return result


def unauthorized() -> Response:
    return error_response("unauthorized", 401, {"WWW-Authenticate": f'Bearer realm="{PORTAL_REALM}"'})


def insufficient_scope() -> Response:
    challenge = f'Bearer realm="{PORTAL_REALM}", error="insufficient_scope", scope="{ADMIN_SCOPE}"'
    body = {"error": "insufficient_scope", "required_scope": ADMIN_SCOPE}
    return json_response(body, 403, {"WWW-Authenticate": challenge})


def ungrantable(identity: Identity, scopes: Sequence[str]) -> list[str]:
    """The requested scopes the creator does not hold itself (nobody hands out more than they have)."""
    return [s for s in scopes if s not in identity.scopes]


def creator_of(identity: Identity) -> str:
    return identity.email or identity.subject or identity.key_name


def store_disabled() -> Response:
    return error_response("api keys store not enabled", 503)


def parse_expiry(value: Any) -> datetime | None:
    """``expires_at``: absent or null, else an RFC 3339 timestamp with an offset (a past one is allowed,
    to make keys that test a gateway's handling of ``expired key``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expires_at: must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expires_at: {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError("expires_at: needs a time zone offset (e.g. Z or +02:00)")
    return parsed


async def read_json_body(request: Request) -> Any:
    """The JSON body, at most :data:`MAX_BODY_BYTES`; raises ``ValueError`` with the client message."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OverflowError(f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return safejson.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid JSON body") from None


def creation_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name required")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise ValueError("description: must be a string")
    scopes = body.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValueError("scopes: must be a list of strings")
    return {
        "name": name,
        "description": description,
        "scopes": check_scopes(scopes),
        "expires_at": parse_expiry(body.get("expires_at")),
    }


class KeysAPI:
    def __init__(self, settings: Settings, key_store: KeyStore | None, auth: AdminAuth) -> None:
        self.settings = settings
        self.key_store = key_store  # None when api_keys.db.enabled is off: the routes answer 503
        self.auth = auth

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/admin/keys", self.keys, methods=["GET", "POST"], name="admin_keys"),
            Route("/api/v1/admin/keys/{name}", self.revoke, methods=["DELETE"], name="admin_key"),
        ]

    async def _gate(self, request: Request) -> tuple[Identity, KeyStore] | Response:
        identity = await self.auth(request)
        if isinstance(identity, Response):
            return identity
        store = self.key_store
        if store is None:
            return store_disabled()
        return identity, store

    async def keys(self, request: Request) -> Response:
        gate = await self._gate(request)
        if isinstance(gate, Response):
            return gate
        identity, store = gate
        try:
            if request.method == "POST":
                return await self._create(request, identity, store)
            now = utcnow()
            return json_response({"keys": [k.to_json(now) for k in await store.list_keys()]})
        except (SQLAlchemyError, OSError) as exc:
            return store_failed(request, exc)

    async def _create(self, request: Request, identity: Identity, store: KeyStore) -> Response:
        try:
            fields = creation_fields(await read_json_body(request))
            beyond = ungrantable(identity, fields["scopes"])
            if beyond:
                return error_response(f"cannot grant scopes you do not hold: {', '.join(beyond)}", 403)
            record, plaintext = await store.create(**fields, created_by=creator_of(identity))
        except OverflowError as exc:
            return error_response(str(exc), 413)
        except KeyNameTaken as exc:
            return error_response(str(exc), 409)
        except ValueError as exc:
            return error_response(str(exc), 400)
        log.info("api key created", extra={"key_name": record.name, "prefix": record.prefix, "by": identity.subject})
        body = {"key": record.to_json(utcnow()), "plaintext": plaintext}
        return json_response(body, 201, {"Cache-Control": "no-store"})

    async def revoke(self, request: Request) -> Response:
        gate = await self._gate(request)
        if isinstance(gate, Response):
            return gate
        identity, store = gate
        name = request.path_params["name"]
        try:
            revoked = await store.revoke(name)
        except (SQLAlchemyError, OSError) as exc:
            return store_failed(request, exc)
        if not revoked:
            return error_response("api key not found", 400)
        log.info("api key revoked", extra={"key_name": name, "by": identity.subject})
        return Response(status_code=204)


def store_failed(request: Request, exc: Exception) -> Response:
    log.warning("api key store error", extra={"err": describe(exc), "path": request.url.path})
    return error_response("api key store error", 500)
