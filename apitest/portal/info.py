"""The data behind the non-audit pages (endpoints, API keys, config, discovery, about) and the small JSON
documents (``me``, ``server``, ``wellknown``): one function per page, returning JSON-ready dicts."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from starlette.requests import Request

from apitest import __version__
from apitest.auth.wellknown import WellKnown
from apitest.config import Settings, flatten, masked_dict, source_of
from apitest.portal.core import Portal, portal_of
from apitest.portal.data import DataError
from apitest.registry import RouteSpec
from apitest.services import Services
from apitest.tls.serving import discovery as tls_lab_discovery

REPO_ROOT = Path(__file__).resolve().parents[2]


def route_json(spec: RouteSpec, settings: Settings) -> dict[str, Any]:
    anonymous = settings.auth.allow_anonymous
    return {
        "name": spec.name,
        "group": spec.group,
        "method": spec.method,
        "path": spec.path,
        "description": spec.description,
        "auth_required": not anonymous or bool(spec.scope or spec.scope_param),
        "required_scope": spec.scope or (f"{{{spec.scope_param}}}" if spec.scope_param else None),
        "path_params": spec.path_params,
        "params": [
            {
                "name": p.name,
                "in": p.location,
                "type": p.type,
                "required": p.required or p.location == "path",
                "description": p.description,
                "default": p.default,
                "minimum": p.minimum,
                "maximum": p.maximum,
            }
            for p in spec.params
        ],
        "has_body": spec.request_body is not None or spec.method in ("POST", "PUT", "PATCH"),
        "audited": spec.audited,
    }


def endpoints(services: Services) -> dict[str, Any]:
    """Every enabled route in registration order, grouped for the page."""
    routes = [route_json(r, services.settings) for r in services.routes]
    groups: dict[str, int] = {}
    for r in routes:
        groups[r["group"]] = groups.get(r["group"], 0) + 1
    return {"endpoints": routes, "groups": [{"name": g, "count": n} for g, n in groups.items()]}


def find_endpoint(services: Services, name: str) -> RouteSpec:
    for spec in services.routes:
        if spec.name == name:
            return spec
    raise DataError(f'endpoint "{name}" not found', 404)


def endpoint(services: Services, name: str) -> dict[str, Any]:
    return route_json(find_endpoint(services, name), services.settings)


def config(settings: Settings) -> dict[str, Any]:
    """The effective settings, secrets masked, each value with where it came from."""
    rows = []
    for key, value in flatten(masked_dict(settings)):
        source = source_of(settings, key)
        rows.append({"key": key, "value": value, "source": source, "section": key.split(".", 1)[0].split("[")[0]})
    return {"path": settings.meta.path, "unset_vars": settings.meta.unset_vars, "settings": rows}


def wellknown(settings: Settings) -> dict[str, Any]:
    base = settings.server.base_url.rstrip("/")
    return {
        "protected_resource_url": base + "/.well-known/oauth-protected-resource",
        "authorization_server": settings.oidc.issuer if settings.oidc.enabled else "",
        "oidc_enabled": settings.oidc.enabled,
        "audience": settings.oidc.audience,
        "api_endpoint": base + "/v1/",
    }


async def wellknown_documents(request: Request) -> dict[str, Any]:
    """The well-known documents exactly as this server serves them (the same :class:`WellKnown` data)."""
    services = portal_of(request).services
    return WellKnown(services.settings, services.routes).documents()


def openapi_summary(services: Services) -> dict[str, Any]:
    document = services.openapi.data if services.openapi is not None else {}
    info = document.get("info", {})
    return {
        "openapi": document.get("openapi", ""),
        "title": info.get("title", ""),
        "version": info.get("version", ""),
        "paths": len(document.get("paths", {})),
        "security_schemes": sorted(document.get("components", {}).get("securitySchemes", {})),
    }


def auth_modes(settings: Settings) -> list[dict[str, Any]]:
    """How a client may authenticate to ``/v1``: one entry per enabled mode, with its header names."""
    keys = settings.api_keys
    modes: list[dict[str, Any]] = []
    if settings.auth.allow_anonymous:
        modes.append({"type": "anonymous", "how": "send no credential at all"})
    if keys.file or keys.db.enabled:
        modes.append(
            {
                "type": "apikey",
                "how": f"header {keys.header_name}: <key> (or query parameter {keys.query_param_name}=<key>)",
                "header": keys.header_name,
                "query_param": keys.query_param_name,
                "file_keys": [k.name for k in keys.file],
                "database_keys": keys.db.enabled,
            }
        )
    if settings.bearer.tokens:
        modes.append(
            {
                "type": "bearer",
                "how": "header Authorization: Bearer <token>",
                "tokens": [t.name for t in settings.bearer.tokens],
            }
        )
    if settings.oidc.enabled:
        modes.append(
            {
                "type": "oidc",
                "how": "header Authorization: Bearer <JWT from the issuer>",
                "issuer": settings.oidc.issuer,
                "audience": settings.oidc.audience,
                "discovery": settings.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                "allowed_clients": settings.oidc.allowed_clients,
            }
        )
    return modes


async def discovery(request: Request) -> dict[str, Any]:
    """What a gateway connection needs: base URL, auth modes and their header names, the documents."""
    services = portal_of(request).services
    settings = services.settings
    base = settings.server.base_url.rstrip("/")
    modes = auth_modes(settings)
    return {
        "base_url": base,
        "api_endpoint": base + "/v1/",
        "auth_modes": modes,
        "documents": {
            "openapi_json": base + "/openapi.json",
            "openapi_yaml": base + "/openapi.yaml",
            "docs": base + "/docs",
            "protected_resource": base + "/.well-known/oauth-protected-resource",
            "healthz": base + "/healthz",
            "readyz": base + "/readyz",
            "metrics": base + "/metrics" if settings.metrics.enabled else "",
        },
        "headers": {
            "request_id": "X-Request-Id",
            "api_key": settings.api_keys.header_name,
            "try_it_marker": "X-Plexara-Try-It",
            "replay_marker": "X-Plexara-Replay-From",
        },
        "wellknown": wellknown(settings),
        "wellknown_documents": await wellknown_documents(request),
        "openapi": openapi_summary(services),
        "tls_lab": tls_lab_discovery(settings),
    }


def build_info() -> dict[str, str]:
    """Version and build: ``APITEST_BUILD_COMMIT`` / ``APITEST_BUILD_DATE`` (set by image builds), else the
    checkout's git HEAD when running from source."""
    commit = os.environ.get("APITEST_BUILD_COMMIT", "")
    date = os.environ.get("APITEST_BUILD_DATE", "")
    if not commit:
        commit = _git_head(REPO_ROOT / ".git")
    return {"version": __version__, "commit": commit or "unknown", "date": date or "unknown"}


def _git_head(git_dir: Path) -> str:
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git_dir / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()[:12]
            for line in (git_dir / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0][:12]
            return ""
        return head[:12]
    except OSError:
        return ""


def server(services: Services) -> dict[str, Any]:
    return {**build_info(), "config": masked_dict(services.settings)}


async def about(portal: Portal) -> dict[str, Any]:
    from apitest.db.engine import head_revision

    services, database = portal.services, portal.database
    revision = await database.revision() if database is not None else None
    uptime = services.lifecycle.uptime_seconds()
    return {
        **build_info(),
        "name": services.settings.server.name,
        "description": services.settings.server.description,
        "started_at": datetime.fromtimestamp(services.lifecycle.started_at, UTC).isoformat().replace("+00:00", "Z"),
        "uptime_seconds": round(uptime, 1),
        "python": platform.python_version(),
        "starlette": metadata.version("starlette"),
        "database": {
            "backend": database.dialect if database is not None else None,
            "url": database.display_url if database is not None else None,
            "revision": revision,
            "head_revision": head_revision() if database is not None else None,
        },
        "config_path": services.settings.meta.path,
        "endpoints": len(services.routes),
        "groups": services.settings.enabled_groups(),
    }
