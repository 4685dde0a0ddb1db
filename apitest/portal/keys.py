"""The API keys page: list, create (the plaintext is shown once) and revoke database keys.

It works on the same :class:`~apitest.auth.keystore.KeyStore`, validation and rules as the admin API
(:mod:`apitest.auth.admin`), so a key made here and one made with ``POST /api/v1/admin/keys`` are the
same thing: managing keys needs the ``admin`` scope, a new key's scopes are a subset of the signer's,
and a name used by a file key, a bearer token or an active database key is refused.

Without the ``admin`` scope (anonymous portal users included) the page lists nothing and says how to
sign in with an admin identity; its forms answer 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest import logs
from apitest.audit.filters import FilterError, parse_time
from apitest.auth.admin import ADMIN_SCOPE, creation_fields, ungrantable
from apitest.auth.keystore import KeyNameTaken
from apitest.db.models import utcnow
from apitest.portal.auth import context_of
from apitest.portal.core import Portal, page, portal_of
from apitest.portal.session import PortalIdentity

log = logs.get("portal.keys")


def is_admin(identity: PortalIdentity | None) -> bool:
    return identity is not None and identity.auth_type != "anonymous" and ADMIN_SCOPE in identity.scopes


async def keys_data(portal: Portal, identity: PortalIdentity | None) -> dict[str, Any]:
    store = portal.key_store
    admin = is_admin(identity)
    base = {"admin": admin, "admin_scope": ADMIN_SCOPE, "held_scopes": list(identity.scopes) if identity else []}
    if not portal.settings.api_keys.db.enabled or store is None:
        return {**base, "enabled": False, "keys": []}
    if not admin:
        return {**base, "enabled": True, "keys": []}
    now = utcnow()
    return {**base, "enabled": True, "keys": [k.to_json(now) for k in await store.list_keys()]}


async def _render(
    request: Request,
    status: int = 200,
    *,
    created: dict[str, Any] | None = None,
    error: str = "",
    revoked: str = "",
    form: dict[str, str] | None = None,
) -> Response:
    portal = portal_of(request)
    context = {
        **await keys_data(portal, context_of(request).identity),
        "created": created,
        "error": error,
        "revoked": revoked,
        "form": form or {},
    }
    response = portal_of(request).render(request, "keys.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@page
async def keys(request: Request) -> Response:
    portal = portal_of(request)
    identity = context_of(request).identity
    if request.method == "GET":
        return await _render(request, revoked=request.query_params.get("revoked", ""))
    if not is_admin(identity):
        return await _render(request, 403, error=f"Creating keys needs the {ADMIN_SCOPE} scope.")
    assert identity is not None
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    store = portal.key_store
    if store is None:
        return await _render(request, 503)
    try:
        expires = form.get("expires_at", "").strip()
        fields = creation_fields(
            {
                "name": form.get("name", ""),
                "description": form.get("description", "").strip() or None,
                "scopes": form.get("scopes", "").replace(",", " ").split(),
                "expires_at": parse_time(expires).isoformat() if expires else None,
            }
        )
        beyond = ungrantable(identity.to_identity(), fields["scopes"])
        if beyond:
            raise ValueError(f"cannot grant scopes you do not hold: {', '.join(beyond)}")
        record, plaintext = await store.create(
            **fields, created_by=identity.email or identity.subject or identity.api_key_id or "portal"
        )
    except (KeyNameTaken, ValueError, FilterError) as exc:
        message = f"expires_at: {exc}" if isinstance(exc, FilterError) else str(exc)
        return await _render(request, error=message, form=form)
    except SQLAlchemyError as exc:
        log.warning("api key store error", extra={"err": str(exc)})
        return await _render(request, 500, error="api key store error", form=form)
    log.info("api key created", extra={"key_name": record.name, "prefix": record.prefix, "via": "portal"})
    created = {"key": record.to_json(utcnow()), "plaintext": plaintext}
    return await _render(request, 201, created=created)


@page
async def revoke(request: Request) -> Response:
    portal = portal_of(request)
    name = request.path_params["name"]
    if not is_admin(context_of(request).identity):
        return await _render(request, 403, error=f"Revoking keys needs the {ADMIN_SCOPE} scope.")
    store = portal.key_store
    if store is None:
        return await _render(request, 503)
    if not await store.revoke(name):
        return await _render(request, error="api key not found")
    log.info("api key revoked", extra={"key_name": name, "via": "portal"})
    target = request.app.url_path_for("portal:keys")
    return RedirectResponse(f"{target}?{urlencode({'revoked': name})}", status_code=303)
