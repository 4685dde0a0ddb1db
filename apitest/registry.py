"""The route vocabulary: one :class:`RouteSpec` per ``/v1`` operation (shared by the router, the OpenAPI
document and the portal's endpoint list and Try-It) and :data:`GROUPS`, the endpoint groups in
registration order.

A leaf module: it imports nothing from the package. Each group is one module under
:mod:`apitest.endpoints` named after it, exposing ``ROUTES: list[RouteSpec]``;
:func:`apitest.endpoints.enabled_routes` returns the routes of the enabled groups. The settings model
derives ``endpoints.<group>.enabled`` from :data:`GROUPS`, and the tests and docs read the names here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Group:
    """An endpoint group: ``endpoints.<name>.enabled`` in the configuration, module ``apitest.endpoints.<name>``."""

    name: str
    title: str  # how the configuration reference names it ("The <title> endpoint group.")


GROUPS: tuple[Group, ...] = (
    Group("identity", "identity"),
    Group("data", "data"),
    Group("failure", "failure"),
    Group("echo", "echo"),
    Group("streaming", "streaming"),
    Group("pagination", "pagination"),
    Group("methods", "methods"),
    Group("security", "security"),
    Group("export", "export"),
    Group("lab", "failure lab"),
    Group("httpbin", "httpbin (go-httpbin parity)"),
)
GROUP_NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)

JSON = "application/json"
PLAIN = "text/plain; charset=utf-8"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


@dataclass(frozen=True)
class Param:
    """A query, path or header parameter as OpenAPI describes it."""

    name: str
    type: str = "string"  # integer | number | string | boolean
    required: bool = False
    description: str = ""
    location: str = "query"  # query | path | header
    default: Any = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    repeated: bool = False  # may appear several times (array of values)


@dataclass(frozen=True)
class Reply:
    """One documented response."""

    description: str
    content_type: str | None = JSON
    schema: dict[str, Any] | None = None
    headers: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # further content types the same reply may carry (content negotiation)


@dataclass(frozen=True)
class RouteSpec:
    name: str  # operationId, unique
    method: str
    path: str
    group: str
    description: str
    handler: Handler
    params: tuple[Param, ...] = ()
    responses: dict[int, Reply] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None  # OpenAPI requestBody object
    scope: str | None = None  # required scope, static
    scope_param: str | None = None  # path parameter whose value is the required scope (/v1/scoped/{scope})
    audited: bool = True
    credential_optional: bool = False  # the handler authenticates callers itself (webhook signatures): none needed
    # The route reads Authorization itself (Basic, Digest challenges) and needs no apitest credential either.
    own_authorization: bool = False

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}:]+)(?::[^}]*)?}", self.path)


ROUTE_KEY = "apitest.route"  # scope key: the RouteSpec of a /v1 request (set by apitest.pipeline.RouteDispatch)


def route_of(scope: Scope) -> RouteSpec:
    spec = scope.get(ROUTE_KEY)
    assert isinstance(spec, RouteSpec), "the /v1 pipeline runs only behind RouteDispatch"
    return spec


def bad_request(description: str = "Invalid parameter.") -> Reply:
    return Reply(description, JSON, ERROR_SCHEMA)


def ok(
    schema: dict[str, Any], description: str = "Success", content_type: str = JSON, headers: tuple[str, ...] = ()
) -> Reply:
    return Reply(description, content_type, schema, headers)


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A JSON object schema; every property is required unless ``required`` says otherwise."""
    return {"type": "object", "required": list(props) if required is None else required, "properties": props}


STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
STR_LIST_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "array", "items": STR}}
