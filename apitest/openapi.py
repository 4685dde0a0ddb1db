"""The OpenAPI 3.1 document, built from the same route registry the router uses.

The document is built once at app creation, checked against the registry (same ``METHOD path``
pairs, unique operationIds) and rendered to fixed JSON and YAML bytes. It states what the routes do:
real content types, the 400/401/403/429 answers a route can give, a
request body where one is read, optional parameters marked optional, and security requirements that
match the configured auth (see :mod:`apitest.openapi_security`).

References: OpenAPI 3.1.0 (https://spec.openapis.org/oas/v3.1.0).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import yaml

from apitest import __version__
from apitest.config import Settings
from apitest.openapi_security import AuthModel, auth_responses, rate_limit_headers, rate_limit_response
from apitest.registry import ERROR_SCHEMA, Param, Reply, RouteSpec

try:
    from yaml import CSafeDumper as _SafeDumper
except ImportError:  # PyYAML built without libyaml: same output, about 3x slower
    from yaml import SafeDumper as _SafeDumper  # type: ignore[assignment]

OPENAPI_VERSION = "3.1.0"
ERROR_REF = "#/components/schemas/Error"
# Methods an OpenAPI 3.1 Path Item can hold; a route with any other method cannot be documented.
PATH_ITEM_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_CONVERTER = re.compile(r"{([^}:]+):[^}]*}")
_TEXT_PREFIXES = ("text/",)

HEADER_DESCRIPTIONS = {
    "Allow": "Methods this path answers, comma-separated.",
    "Connection": "close: the rest of the request body is not read.",
    "Link": 'RFC 8288 links: rel="first", "last", "prev" and "next".',
    "Retry-After": "Seconds to wait before retrying.",
    "Idempotent-Replayed": "true when this response is a replay of an earlier request with the same Idempotency-Key.",
}


class OpenAPISelfCheckError(ValueError):
    """The document does not describe exactly the enabled routes; raised at app creation."""


@dataclass(frozen=True)
class OpenAPIDocument:
    """The document as data plus its two fixed renderings."""

    data: dict[str, Any]
    json: bytes  # 2-space indent, no trailing newline
    yaml: bytes


def openapi_path(path: str) -> str:
    """The OpenAPI form of a Starlette path: ``/v1/x/{id:int}`` → ``/v1/x/{id}``."""
    return _CONVERTER.sub(r"{\1}", path)


def build_openapi(settings: Settings, routes: list[RouteSpec]) -> OpenAPIDocument:
    """Build, self-check and render the document for ``routes`` (the enabled registry)."""
    data = plain(build_document(settings, routes))
    self_check(data, routes)
    rendered_json = json.dumps(data, indent=2, ensure_ascii=False).encode()
    return OpenAPIDocument(data=data, json=rendered_json, yaml=render_yaml(rendered_json))


@functools.lru_cache(maxsize=16)
def render_yaml(rendered_json: bytes) -> bytes:
    """The YAML form of a JSON rendering. Cached: YAML is the slow half of app creation, and tests build
    many apps with the same document."""
    return yaml.dump(json.loads(rendered_json), Dumper=_YAMLDumper, sort_keys=False, allow_unicode=True).encode()


class _YAMLDumper(_SafeDumper):
    """Safe YAML (libyaml's emitter when available) with multi-line strings as literal blocks."""


def _represent_str(dumper: _SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_YAMLDumper.add_representer(str, _represent_str)


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with no shared sub-objects (YAML would emit anchors for them); fails on non-JSON values."""
    copied = json.loads(json.dumps(data, allow_nan=False))
    assert isinstance(copied, dict)
    return copied


def build_document(settings: Settings, routes: list[RouteSpec]) -> dict[str, Any]:
    auth = AuthModel.from_settings(settings)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        method = route.method.lower()
        if method not in PATH_ITEM_METHODS:
            continue  # reported by self_check
        paths.setdefault(openapi_path(route.path), {})[method] = operation(route, settings, auth)
    components: dict[str, Any] = {}
    if auth.schemes:
        components["securitySchemes"] = auth.schemes
    components["schemas"] = auth.schemas({"Error": ERROR_SCHEMA})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": settings.server.name, "description": settings.server.description, "version": __version__},
        "servers": [{"url": settings.server.base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": components,
        "tags": [{"name": group} for group in sorted(settings.enabled_groups())],
    }


def operation(route: RouteSpec, settings: Settings, auth: AuthModel) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.description,
        "description": route.description,
        "tags": [route.group],
    }
    params = parameters(route)
    if params:
        op["parameters"] = params
    if route.request_body is not None:
        op["requestBody"] = route.request_body
    op["responses"] = responses(route, settings, auth)
    op["security"] = auth.requirements(route)
    return op


def parameters(route: RouteSpec) -> list[dict[str, Any]]:
    declared = {p.name: p for p in route.params if p.location == "path"}
    out = [path_parameter(name, declared.get(name)) for name in route.path_params]
    out += [parameter(p) for p in route.params if p.location != "path"]
    return out


def path_parameter(name: str, declared: Param | None) -> dict[str, Any]:
    if declared is None:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    return parameter(declared) | {"required": True}


def parameter(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    for key, value in (("default", p.default), ("minimum", p.minimum), ("maximum", p.maximum)):
        if value is not None:
            schema[key] = value
    if p.repeated:
        schema = {"type": "array", "items": schema}
    out: dict[str, Any] = {"name": p.name, "in": p.location}
    if p.description:
        out["description"] = p.description
    out["required"] = p.required or p.location == "path"
    out["schema"] = schema
    if p.repeated:
        out["style"], out["explode"] = "form", True
    return out


def can_reject_parameters(route: RouteSpec) -> bool:
    """Strictly parsed (non-string), bounded or required query/header parameters make a route able to answer 400.

    A path parameter is required only in the sense that the path does not match without it (404).
    """
    return any(
        (p.required and p.location != "path") or p.type != "string" or p.minimum is not None or p.maximum is not None
        for p in route.params
    )


def responses(route: RouteSpec, settings: Settings, auth: AuthModel) -> dict[str, Any]:
    limited = settings.rate_limit.enabled and route.group in settings.rate_limit.groups
    # The limiter runs after auth, so every answer but auth's own carries the rate-limit headers.
    extra = rate_limit_headers() if limited else {}
    declared = route.responses or {200: Reply("Success", None)}
    out = {status: response(reply, extra) for status, reply in declared.items()}
    if 400 not in out and can_reject_parameters(route):
        out[400] = response(Reply("Invalid parameter.", schema=ERROR_SCHEMA), extra)
    if 413 not in out and route.request_body is not None:
        limit = settings.server.max_body_bytes
        too_large = Reply(
            f"The request body is larger than server.max_body_bytes ({limit} bytes).", schema=ERROR_SCHEMA
        )
        out[413] = response(too_large, {"Connection": header("Connection")} | extra)
    generated = auth_responses(route, auth) | ({429: rate_limit_response()} if limited else {})
    for status, answer in generated.items():
        out[status] = merge_responses(out[status], answer) if status in out else answer
    return {str(status): out[status] for status in sorted(out)}


def merge_responses(declared: dict[str, Any], generated: dict[str, Any]) -> dict[str, Any]:
    """One status, two causes (``/v1/status/401`` answers 401 itself, and auth may too): either body."""
    out: dict[str, Any] = {"description": f"{declared['description']} Or: {generated['description']}"}
    headers = declared.get("headers", {}) | generated.get("headers", {})
    if headers:
        out["headers"] = headers
    content: dict[str, Any] = {}
    for kind in [*declared.get("content", {}), *generated.get("content", {})]:
        ours, theirs = declared.get("content", {}).get(kind), generated.get("content", {}).get(kind)
        if ours and theirs and ours != theirs:
            content[kind] = {"schema": {"anyOf": [ours.get("schema", {}), theirs.get("schema", {})]}}
        else:
            content[kind] = ours or theirs
    if content:
        out["content"] = content
    return out


def response(reply: Reply, extra_headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description or "Response"}
    headers = {name: header(name) for name in reply.headers} | (extra_headers or {})
    if headers:
        out["headers"] = headers
    if reply.content_type is not None:
        out["content"] = {kind: media(reply) for kind in (reply.content_type, *reply.also)}
    return out


def header(name: str) -> dict[str, Any]:
    described = HEADER_DESCRIPTIONS.get(name)
    return ({"description": described} if described else {}) | {"schema": {"type": "string"}}


def media(reply: Reply) -> dict[str, Any]:
    if reply.schema is None:
        text = reply.content_type is not None and reply.content_type.startswith(_TEXT_PREFIXES)
        return {"schema": {"type": "string"}} if text else {}
    if reply.schema == ERROR_SCHEMA:
        return {"schema": {"$ref": ERROR_REF}}
    return {"schema": reply.schema}


def documented_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """``(METHOD, path)`` of every operation in ``document``."""
    return [
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in PATH_ITEM_METHODS
    ]


def self_check(document: dict[str, Any], routes: list[RouteSpec]) -> None:
    """Raise :class:`OpenAPISelfCheckError` unless ``document`` describes exactly ``routes``."""
    problems: list[str] = []
    wanted = [(r.method.upper(), openapi_path(r.path)) for r in routes]
    documented = documented_operations(document)
    problems += [f"{m} {p} is registered {n} times" for (m, p), n in Counter(wanted).items() if n > 1]
    problems += [f"{m} {p} is registered but not documented" for m, p in sorted(set(wanted) - set(documented))]
    problems += [f"{m} {p} is documented but not registered" for m, p in sorted(set(documented) - set(wanted))]
    names = Counter(r.name for r in routes)
    problems += [f"operationId {name!r} is used by {n} routes" for name, n in names.items() if n > 1]
    for r in routes:
        stray = [p.name for p in r.params if p.location == "path" and p.name not in r.path_params]
        if stray:
            problems.append(f"{r.name}: path parameter(s) {', '.join(stray)} not in {r.path}")
    if problems:
        raise OpenAPISelfCheckError("openapi self-check: " + "; ".join(problems))
