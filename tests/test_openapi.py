"""The OpenAPI document: built from the registry, valid OpenAPI 3.1, accurate about content types,
parameters, bodies and error answers, and checked against the registry at app creation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.requests import Request
from starlette.responses import Response

from apitest import __version__
from apitest.endpoints import ROUTES_BY_GROUP, enabled_routes
from apitest.openapi import (
    OpenAPIDocument,
    OpenAPISelfCheckError,
    build_openapi,
    documented_operations,
    openapi_path,
    self_check,
)
from apitest.registry import (
    CSV,
    INT,
    NDJSON,
    PLAIN,
    SSE,
    STR,
    Param,
    Reply,
    RouteSpec,
    bad_request,
    obj,
    ok,
)
from tests.support import make_app, make_settings

KEYS_AND_BEARER: dict[str, Any] = {
    "auth": {"allow_anonymous": False},
    "api_keys": {"file": [{"name": "devkey", "key": "dev-key-0123456789"}]},
    "bearer": {"tokens": [{"name": "devbearer", "token": "dev-bearer-0123456789"}]},
}
OIDC: dict[str, Any] = {
    "auth": {"allow_anonymous": False},
    "oidc": {"enabled": True, "issuer": "https://idp.example.test/realms/api-test", "audience": "api-test"},
}

CONFIGS: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "all groups, anonymous": ({}, None),
    "keys and bearer": (KEYS_AND_BEARER, None),
    "oidc": (OIDC, None),
    "oidc, keys, anonymous, rate limits": (
        {
            "auth": {"allow_anonymous": True},
            "oidc": OIDC["oidc"],
            "api_keys": KEYS_AND_BEARER["api_keys"],
            "rate_limit": {"enabled": True, "groups": {"identity": 10, "lab": 120}},
        },
        None,
    ),
    "identity only": ({}, ["identity"]),
    "no groups": ({}, []),
}


async def noop(request: Request) -> Response:
    return Response()


def spec(name: str, method: str = "GET", path: str | None = None, group: str = "identity", **kw: Any) -> RouteSpec:
    return RouteSpec(name, method, path or f"/v1/{name}", group, f"{name} route", noop, **kw)


def build(
    overrides: dict[str, Any] | None = None, groups: list[str] | None = None, routes: list[RouteSpec] | None = None
) -> OpenAPIDocument:
    settings = make_settings(overrides, groups=groups)
    return build_openapi(settings, enabled_routes(settings.enabled_groups()) if routes is None else routes)


def op(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][path][method.lower()]
    return found


def media_type(value: str) -> str:
    return value.split(";")[0].strip().lower()


def schema_validator(doc: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    """Validate against ``schema`` with the document's components in reach of ``#/components/...``."""
    return OAS31Validator({"allOf": [schema], "components": doc["components"]})


@pytest.mark.parametrize("name", CONFIGS)
def test_document_is_valid_openapi_31_and_lists_exactly_the_enabled_routes(name: str) -> None:
    overrides, groups = CONFIGS[name]
    settings = make_settings(overrides, groups=groups)
    routes = enabled_routes(settings.enabled_groups())
    doc = build_openapi(settings, routes).data
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert sorted(documented_operations(doc)) == sorted((r.method, openapi_path(r.path)) for r in routes)
    assert [t["name"] for t in doc["tags"]] == sorted(settings.enabled_groups())
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert sorted(ids) == sorted(r.name for r in routes)
    for r in routes:
        assert op(doc, r.method, openapi_path(r.path))["tags"] == [r.group]


def test_top_level_structure() -> None:
    doc = build(
        {"server": {"name": "gw-fixture", "description": "Line one.\n\nLine two.", "base_url": "https://f.test/"}}
    )
    data = doc.data
    assert list(data) == ["openapi", "info", "servers", "paths", "components", "tags"]
    assert data["openapi"] == "3.1.0"
    assert data["info"] == {"title": "gw-fixture", "description": "Line one.\n\nLine two.", "version": __version__}
    assert data["servers"] == [{"url": "https://f.test"}]
    assert data["components"]["schemas"]["Error"] == {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    }
    assert "security" not in data


def test_a_disabled_group_is_absent() -> None:
    doc = build(groups=["identity"]).data
    assert all(path.startswith("/v1/") for path in doc["paths"])
    assert {tag for item in doc["paths"].values() for o in item.values() for tag in o["tags"]} <= {"identity"}
    assert [t["name"] for t in doc["tags"]] == ["identity"]


def test_renderings_json_and_yaml_agree() -> None:
    doc = build({"server": {"description": "Multi-line — with “unicode”.\nSecond line."}})
    assert not doc.json.endswith(b"\n")
    assert doc.json.startswith(b'{\n  "openapi": "3.1.0",\n  "info": {\n    "title"')
    assert json.loads(doc.json) == doc.data
    assert yaml.safe_load(doc.yaml) == doc.data
    assert b"&id" not in doc.yaml and b"*id" not in doc.yaml  # no anchors for shared schema objects
    assert "“unicode”".encode() in doc.yaml and "“unicode”".encode() in doc.json


# Routes of the original's groups whose documented content type is not JSON, or that read a body.
KNOWN_ROUTES = [
    ("identity", "whoami", "GET", "/v1/whoami", "application/json"),
    ("identity", "headers", "GET", "/v1/headers", "application/json"),
    ("data", "fixed", "GET", "/v1/fixed/{key}", "application/json"),
    ("failure", "status", "GET", "/v1/status/{code}", "application/json"),
    ("echo", "echo_post", "POST", "/v1/echo", "application/json"),
    ("streaming", "streaming_chunked", "GET", "/v1/streaming/chunked", "text/plain"),
    ("streaming", "streaming_sse", "GET", "/v1/streaming/sse", "text/event-stream"),
    ("streaming", "streaming_ndjson", "GET", "/v1/streaming/ndjson", "application/x-ndjson"),
    ("methods", "method_options", "OPTIONS", "/v1/method/echo", "application/json"),
    ("export", "export_csv", "GET", "/v1/export/csv", "text/csv"),
]


@pytest.mark.parametrize(("group", "name", "method", "path", "content_type"), KNOWN_ROUTES)
def test_known_routes_are_documented_with_their_real_content_type(
    group: str, name: str, method: str, path: str, content_type: str
) -> None:
    if group not in ROUTES_BY_GROUP:
        pytest.skip(f"group {group} is not registered yet")
    doc = build().data
    operation = op(doc, method, path)
    assert operation["operationId"] == name
    assert [media_type(k) for k in operation["responses"]["200"]["content"]] == [content_type]
    for p in operation.get("parameters", []):
        if p["in"] == "path":
            assert p["required"] is True


def test_echo_documents_a_request_body() -> None:
    if "echo" not in ROUTES_BY_GROUP:
        pytest.skip("group echo is not registered yet")
    doc = build().data
    for method in ("POST", "PUT", "PATCH"):
        assert op(doc, method, "/v1/echo")["requestBody"]["content"], method


def test_documented_content_types_follow_the_registry() -> None:
    settings = make_settings()
    routes = enabled_routes(settings.enabled_groups())
    doc = build_openapi(settings, routes).data
    for r in routes:
        documented = op(doc, r.method, openapi_path(r.path))["responses"]
        for status, reply in r.responses.items():
            content = documented[str(status)].get("content", {})
            assert list(content) == ([reply.content_type, *reply.also] if reply.content_type else []), (r.name, status)


# Synthetic routes cover every translation rule, whatever the endpoint groups register.
SYNTHETIC = [
    spec(
        "items",
        params=(
            Param("limit", "integer", description="Page size.", default=10, minimum=1, maximum=1000),
            Param("seed"),
            Param("bytes", "integer", required=True),
            Param("tag", repeated=True),
            Param("X-Trace", location="header"),
        ),
        responses={200: ok(obj({"n": INT})), 400: bad_request("Bad limit.")},
    ),
    spec("item", path="/v1/items/{id:int}", responses={200: ok(obj({"id": INT}))}),
    spec(
        "fixed_key",
        path="/v1/keys/{key}",
        params=(Param("key", required=True, location="path", description="Any segment."),),
        responses={200: ok(obj({"key": STR}))},
    ),
    spec("chunks", responses={200: ok({"type": "string"}, content_type=PLAIN)}),
    spec("events", responses={200: Reply("SSE events.", SSE)}),
    spec("lines", responses={200: Reply("NDJSON lines.", NDJSON, obj({"index": INT, "word": STR}))}),
    spec("table", responses={200: Reply("CSV rows.", CSV), 400: bad_request()}),
    spec(
        "echo_post",
        "POST",
        "/v1/echo",
        request_body={"content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}},
        responses={200: ok(obj({"method": STR}))},
    ),
    spec("echo_head", "HEAD", "/v1/echo", responses={200: Reply("Headers only.", None)}),
    spec("method_options", "OPTIONS", "/v1/method/echo", responses={200: ok(obj({}), headers=("Allow",))}),
    spec("nothing"),
    spec("counted", params=(Param("count", "integer"), Param("seed")), responses={200: ok(obj({}))}),
    spec("scoped", path="/v1/scoped/{scope}", scope_param="scope", responses={200: ok(obj({"scope": STR}))}),
    spec("admin", scope="admin:read", responses={200: ok(obj({}))}),
    spec("limited", group="lab", responses={200: ok(obj({}))}),
]


def synthetic(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = build(overrides, routes=SYNTHETIC).data
    validate(doc, cls=OpenAPIV31SpecValidator)
    return doc


def test_synthetic_routes_make_a_valid_document_in_every_config() -> None:
    for overrides, _ in CONFIGS.values():
        synthetic(overrides)


def test_parameters_optional_required_and_typed() -> None:
    params = {p["name"]: p for p in op(synthetic(), "GET", "/v1/items")["parameters"]}
    assert params["limit"] == {
        "name": "limit",
        "in": "query",
        "description": "Page size.",
        "required": False,
        "schema": {"type": "integer", "default": 10, "minimum": 1, "maximum": 1000},
    }
    assert params["seed"]["required"] is False
    assert params["bytes"]["required"] is True
    assert params["tag"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert (params["tag"]["style"], params["tag"]["explode"]) == ("form", True)
    assert params["X-Trace"]["in"] == "header"


def test_path_parameters_are_required_and_converters_dropped() -> None:
    doc = synthetic()
    assert "/v1/items/{id}" in doc["paths"]
    (param,) = op(doc, "GET", "/v1/items/{id}")["parameters"]
    assert param == {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    (declared,) = op(doc, "GET", "/v1/keys/{key}")["parameters"]
    assert (declared["required"], declared["description"]) == (True, "Any segment.")


@pytest.mark.parametrize(
    ("path", "content_type", "schema"),
    [
        ("/v1/chunks", PLAIN, {"type": "string"}),
        ("/v1/events", SSE, {"type": "string"}),
        ("/v1/lines", NDJSON, obj({"index": INT, "word": STR})),
        ("/v1/table", CSV, {"type": "string"}),
    ],
)
def test_streaming_and_csv_content_types(path: str, content_type: str, schema: dict[str, Any]) -> None:
    content = op(synthetic(), "GET", path)["responses"]["200"]["content"]
    assert content == {content_type: {"schema": schema}}


def test_request_body_head_and_options_operations() -> None:
    doc = synthetic()
    assert op(doc, "POST", "/v1/echo")["requestBody"]["content"]["text/plain"] == {"schema": {"type": "string"}}
    too_large = op(doc, "POST", "/v1/echo")["responses"]["413"]
    assert too_large["description"] == "The request body is larger than server.max_body_bytes (10485760 bytes)."
    assert too_large["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert "requestBody" not in op(doc, "HEAD", "/v1/echo")
    assert "413" not in op(doc, "HEAD", "/v1/echo")["responses"]
    assert op(doc, "HEAD", "/v1/echo")["responses"]["200"] == {"description": "Headers only."}
    assert list(op(doc, "OPTIONS", "/v1/method/echo")["responses"]["200"]["headers"]) == ["Allow"]
    assert op(doc, "GET", "/v1/nothing")["responses"] == {"200": {"description": "Success"}}


def test_400_is_documented_where_a_parameter_can_be_rejected() -> None:
    doc = synthetic()
    declared = op(doc, "GET", "/v1/items")["responses"]["400"]
    assert declared == {
        "description": "Bad limit.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    generated = op(doc, "GET", "/v1/counted")["responses"]["400"]
    assert generated["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert "400" not in op(doc, "GET", "/v1/chunks")["responses"]
    assert "400" not in op(doc, "GET", "/v1/items/{id}")["responses"]
    assert "400" not in op(doc, "GET", "/v1/keys/{key}")["responses"]  # a required path parameter is no 400


def test_responses_are_sorted_by_status() -> None:
    doc = synthetic(KEYS_AND_BEARER | {"rate_limit": {"groups": {"lab": 5}}})
    for item in doc["paths"].values():
        for operation in item.values():
            codes = list(operation["responses"])
            assert codes == sorted(codes, key=int)


def test_rate_limited_groups_document_429_and_limit_headers() -> None:
    doc = synthetic({"rate_limit": {"enabled": True, "groups": {"lab": 120}}})
    responses = op(doc, "GET", "/v1/limited")["responses"]
    assert responses["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RateLimited"}
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
        responses["429"]["headers"]
    )
    assert {"RateLimit-Limit", "RateLimit-Policy", "X-RateLimit-Remaining"} <= set(responses["200"]["headers"])
    keyed = synthetic({**KEYS_AND_BEARER, "rate_limit": {"enabled": True, "groups": {"lab": 120}}})
    assert "RateLimit-Limit" not in op(keyed, "GET", "/v1/limited")["responses"]["401"]["headers"]  # auth runs first
    assert "429" not in op(doc, "GET", "/v1/items")["responses"]
    off = synthetic({"rate_limit": {"enabled": False, "groups": {"lab": 120}}})
    assert "429" not in op(off, "GET", "/v1/limited")["responses"]


def test_error_schemas_validate_real_error_bodies() -> None:
    doc = synthetic({**KEYS_AND_BEARER, "rate_limit": {"groups": {"lab": 1}}})
    error = op(doc, "GET", "/v1/items")["responses"]["400"]["content"]["application/json"]["schema"]
    schema_validator(doc, error).validate({"error": "limit must be a positive integer"})
    assert not schema_validator(doc, error).is_valid({"message": "x"})
    scope = op(doc, "GET", "/v1/admin")["responses"]["403"]["content"]["application/json"]["schema"]
    schema_validator(doc, scope).validate({"error": "insufficient_scope", "required_scope": "admin:read"})
    limited = op(doc, "GET", "/v1/limited")["responses"]["429"]["content"]["application/json"]["schema"]
    schema_validator(doc, limited).validate({"error": "rate_limited", "retry_after": 30})


# The self-check: the document must describe exactly the registry.


def test_self_check_passes_for_the_real_registry() -> None:
    settings = make_settings()
    routes = enabled_routes(settings.enabled_groups())
    self_check(build_openapi(settings, routes).data, routes)


def test_self_check_reports_a_route_missing_from_the_document() -> None:
    doc = build(routes=SYNTHETIC).data
    del doc["paths"]["/v1/echo"]["head"]
    with pytest.raises(OpenAPISelfCheckError, match=r"^openapi self-check: HEAD /v1/echo is registered but not doc"):
        self_check(doc, SYNTHETIC)


def test_self_check_reports_a_documented_operation_that_is_not_registered() -> None:
    doc = build(routes=SYNTHETIC).data
    with pytest.raises(OpenAPISelfCheckError, match="GET /v1/nothing is documented but not registered"):
        self_check(doc, [r for r in SYNTHETIC if r.name != "nothing"])


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([spec("dav", "PROPFIND", "/v1/dav")], "PROPFIND /v1/dav is registered but not documented"),
        ([spec("a", path="/v1/x/{id}"), spec("b", path="/v1/x/{id:int}")], "GET /v1/x/{id} is registered 2 times"),
        ([spec("same", path="/v1/one"), spec("same", path="/v1/two")], "operationId 'same' is used by 2 routes"),
        ([spec("p", params=(Param("id", location="path"),))], "p: path parameter(s) id not in /v1/p"),
    ],
)
def test_self_check_fails_app_creation_on_a_bad_registry(
    monkeypatch: pytest.MonkeyPatch, routes: list[RouteSpec], message: str
) -> None:
    monkeypatch.setitem(ROUTES_BY_GROUP, "identity", routes)
    with pytest.raises(OpenAPISelfCheckError, match="^openapi self-check: .*" + re.escape(message)):
        make_app(groups=["identity"])
