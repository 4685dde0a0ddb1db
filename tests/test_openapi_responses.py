"""The OpenAPI document against real responses of the running app: every status, content type and
JSON body a route actually gives must be documented and validate against the documented schema."""

from __future__ import annotations

import httpx
import pytest

from apitest.openapi import openapi_path
from apitest.registry import RouteSpec
from apitest.services import Services
from tests.conftest import ClientFactory
from tests.test_openapi import KEYS_AND_BEARER, media_type, op, schema_validator

SAMPLE_PATH_VALUES = {"key": "abc", "code": "200"}
SKIP_GROUPS = {"lab"}  # failure-lab routes break connections or crash on purpose


def sweepable(r: RouteSpec) -> bool:
    return (
        r.group not in SKIP_GROUPS
        and not any(p.required for p in r.params if p.location != "path")
        and all(name in SAMPLE_PATH_VALUES for name in r.path_params)
    )


async def test_real_responses_match_the_documented_status_content_type_and_schema(client: httpx.AsyncClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    doc = services.openapi.data
    checked = []
    for r in filter(sweepable, services.routes):
        path = openapi_path(r.path)
        url = path.format(**SAMPLE_PATH_VALUES)
        resp = await client.request(r.method, url)
        documented = op(doc, r.method, path)["responses"]
        assert str(resp.status_code) in documented, (r.name, resp.status_code)
        content = documented[str(resp.status_code)].get("content")
        if r.method == "HEAD" or not content or not resp.content:
            continue
        by_type = {media_type(kind): kind for kind in content}
        assert media_type(resp.headers["content-type"]) in by_type, r.name
        declared = by_type[media_type(resp.headers["content-type"])]
        schema = content[declared].get("schema")
        if media_type(declared) == "application/json" and schema:
            schema_validator(doc, schema).validate(resp.json())
        checked.append(r.name)
    assert "whoami" in checked


async def test_whoami_body_validates_against_its_documented_schema(client: httpx.AsyncClient) -> None:
    doc = client.app.state.services.openapi.data  # type: ignore[attr-defined]
    schema = op(doc, "GET", "/v1/whoami")["responses"]["200"]["content"]["application/json"]["schema"]
    body = (await client.get("/v1/whoami")).json()
    schema_validator(doc, schema).validate(body)
    assert not schema_validator(doc, schema).is_valid({"subject": ""})  # auth_type is required


async def test_documented_401_matches_the_real_rejection_on_every_route(client_factory: ClientFactory) -> None:
    client = await client_factory(KEYS_AND_BEARER)
    services = client.app.state.services  # type: ignore[attr-defined]
    doc = services.openapi.data
    for r in services.routes:
        if (
            r.credential_optional or r.own_authorization
        ):  # authenticates callers itself (tests/endpoints/test_lab_webhooks.py)
            continue
        path = openapi_path(r.path)
        resp = await client.request(r.method, path.format(**dict.fromkeys(r.path_params, "401")))
        assert resp.status_code == 401, r.name
        assert resp.headers["www-authenticate"].startswith('Bearer realm="api-test"')
        documented = op(doc, r.method, path)["responses"]["401"]
        assert "WWW-Authenticate" in documented["headers"]
        if r.method != "HEAD":
            schema_validator(doc, documented["content"]["application/json"]["schema"]).validate(resp.json())


async def test_every_400_a_bad_parameter_causes_is_documented(client: httpx.AsyncClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    doc = services.openapi.data
    seen = 0
    for r in filter(sweepable, services.routes):
        path = openapi_path(r.path)
        for p in r.params:
            if p.location != "query" or p.type == "string":
                continue
            for bad in ("x", "1.5e999", str((p.maximum or 0) + 1) if p.maximum is not None else "-1"):
                resp = await client.request(r.method, path.format(**SAMPLE_PATH_VALUES), params={p.name: bad})
                if resp.status_code == 400:
                    seen += 1
                    documented = op(doc, r.method, path)["responses"]
                    assert "400" in documented, (r.name, p.name, bad)
                    schema_validator(doc, documented["400"]["content"]["application/json"]["schema"]).validate(
                        resp.json()
                    )
    if any(p.type != "string" for r in services.routes for p in r.params):
        assert seen


def scoped_routes(services: Services) -> list[RouteSpec]:
    return [r for r in services.routes if r.scope or r.scope_param]


async def test_scoped_route_rejections_are_documented(client_factory: ClientFactory) -> None:
    overrides = {**KEYS_AND_BEARER, "auth": {"allow_anonymous": True}}
    client = await client_factory(overrides)
    services = client.app.state.services  # type: ignore[attr-defined]
    routes = scoped_routes(services)
    if not routes:
        pytest.skip("no scoped route is registered yet")
    doc = services.openapi.data
    key = {"X-API-Key": KEYS_AND_BEARER["api_keys"]["file"][0]["key"]}
    for r in routes:
        path = openapi_path(r.path)
        url = path.format(**dict.fromkeys(r.path_params, "orders:write"))
        for headers, status in (({}, 401), (key, 403)):  # anonymous holds no scope; the key holds none either
            resp = await client.request(r.method, url, headers=headers)
            assert resp.status_code == status, (r.name, headers)
            documented = op(doc, r.method, path)["responses"][str(status)]
            assert "WWW-Authenticate" in documented["headers"]
            schema_validator(doc, documented["content"]["application/json"]["schema"]).validate(resp.json())


async def test_an_oversized_body_answer_is_documented(client_factory: ClientFactory) -> None:
    pytest.importorskip("apitest.middleware.body_limit", reason="the request body limit is not built yet")
    client = await client_factory({"server": {"max_body_bytes": 1024}})
    services = client.app.state.services  # type: ignore[attr-defined]
    routes = [r for r in services.routes if r.request_body is not None and not r.path_params]
    if not routes:
        pytest.skip("no route reading a body is registered yet")
    doc = services.openapi.data
    for r in routes:
        resp = await client.request(r.method, r.path, content=b"x" * 2048, headers={"Content-Type": "application/json"})
        assert resp.status_code == 413, r.name
        documented = op(doc, r.method, r.path)["responses"]["413"]
        schema_validator(doc, documented["content"]["application/json"]["schema"]).validate(resp.json())


async def test_rate_limited_answers_match_the_document(client_factory: ClientFactory) -> None:
    pytest.importorskip("apitest.ratelimit", reason="the rate limiter is not built yet")
    client = await client_factory({"rate_limit": {"enabled": True, "groups": {"identity": 1}}}, groups=["identity"])
    doc = client.app.state.services.openapi.data  # type: ignore[attr-defined]
    documented = op(doc, "GET", "/v1/whoami")["responses"]
    first, second = await client.get("/v1/whoami"), await client.get("/v1/whoami")
    assert (first.status_code, second.status_code) == (200, 429)
    for resp in (first, second):
        missing = {name for name in documented[str(resp.status_code)]["headers"] if name not in resp.headers}
        assert missing == set(), resp.status_code
    schema = documented["429"]["content"]["application/json"]["schema"]
    schema_validator(doc, schema).validate(second.json())
