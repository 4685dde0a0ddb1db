"""The API keys page: list, create (the plaintext is shown once) and revoke database keys.

It works on the same :class:`~apitest.auth.keystore.KeyStore` and validation as the admin API
(:mod:`apitest.auth.admin`), so a key made here and one made with ``POST /api/v1/admin/keys`` are
the same thing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from apitest import logs
from apitest.auth.admin import creation_fields
from apitest.auth.keystore import KeyNameTaken
from apitest.db.models import utcnow
from apitest.endpoints.helpers import services_of
from apitest.portal.auth import context_of, page
from apitest.portal.core import portal_of
from apitest.portal.filters import FilterError, parse_time
from apitest.services import Services

log = logs.get("portal.keys")


async def keys_data(services: Services) -> dict[str, Any]:
    store = services.key_store
    if not services.settings.api_keys.db.enabled or store is None:
        return {"enabled": False, "keys": []}
    now = utcnow()
    return {"enabled": True, "keys": [k.to_json(now) for k in await store.list_keys()]}


def _render(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    response = portal_of(request).render(request, "keys.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@page
async def keys(request: Request) -> Response:
    services = services_of(request)
    if request.method == "GET":
        revoked = request.query_params.get("revoked", "")
        return _render(
            request, {**await keys_data(services), "created": None, "error": "", "revoked": revoked, "form": {}}
        )
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    store = services.key_store
    if store is None:
        return _render(
            request, {**await keys_data(services), "created": None, "error": "", "revoked": "", "form": {}}, 503
        )
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
        identity = context_of(request).identity
        assert identity is not None
        record, plaintext = await store.create(
            **fields, created_by=identity.email or identity.subject or identity.api_key_id or "portal"
        )
    except (KeyNameTaken, ValueError, FilterError) as exc:
        message = f"expires_at: {exc}" if isinstance(exc, FilterError) else str(exc)
        context = {**await keys_data(services), "created": None, "error": message, "revoked": "", "form": form}
        return _render(request, context)
    except SQLAlchemyError as exc:
        log.warning("api key store error", extra={"err": str(exc)})
        context = {
            **await keys_data(services),
            "created": None,
            "error": "api key store error",
            "revoked": "",
            "form": form,
        }
        return _render(request, context, 500)
    log.info("api key created", extra={"key_name": record.name, "prefix": record.prefix, "via": "portal"})
    created = {"key": record.to_json(utcnow()), "plaintext": plaintext}
    return _render(
        request, {**await keys_data(services), "created": created, "error": "", "revoked": "", "form": {}}, 201
    )


@page
async def revoke(request: Request) -> Response:
    services = services_of(request)
    name = request.path_params["name"]
    store = services.key_store
    if store is None:
        return _render(
            request, {**await keys_data(services), "created": None, "error": "", "revoked": "", "form": {}}, 503
        )
    if not await store.revoke(name):
        context = {
            **await keys_data(services),
            "created": None,
            "error": "api key not found",
            "revoked": "",
            "form": {},
        }
        return _render(request, context)
    log.info("api key revoked", extra={"key_name": name, "via": "portal"})
    target = request.app.url_path_for("portal:keys")
    return RedirectResponse(f"{target}?{urlencode({'revoked': name})}", status_code=303)
