"""``POST /v1/validate``: a small fixed order schema, checked field by field.

The same schema is the body of ``POST /v1/orders`` and, rendered by :func:`json_schema`, the request
body in the OpenAPI document, so the three cannot drift. Problems are reported in schema field order,
then unknown fields in name order; each is ``{"field", "problem", "detail"}`` with ``problem`` one of
:data:`PROBLEMS`. Integers must be JSON integers (``5.0`` is a wrong type); booleans are never numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.lab_support import InvalidJSON, read_json
from apitest.failures import note_failure
from apitest.http import json_response

PROBLEMS = (
    "invalid json",
    "missing",
    "wrong type",
    "out of range",
    "not allowed",
    "invalid format",
    "unknown field",
)
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
SKU = re.compile(r"[A-Z]{3}-[0-9]{4}")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # string | integer | number | boolean | array
    description: str
    required: bool = True
    minimum: int | None = None  # numbers: the value; strings: the length; arrays: the item count
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    format_hint: str = ""  # what a pattern mismatch says the value is not
    items: Field | None = None
    example: str | None = None  # an OpenAPI ``examples`` value (the portal's Try-It builds its example body from it)


ORDER_FIELDS: tuple[Field, ...] = (
    Field(
        "customer_email",
        "string",
        "Who ordered.",
        minimum=3,
        maximum=254,
        pattern=EMAIL,
        format_hint="an email",
        example="ada@example.com",
    ),
    Field("customer_name", "string", "Display name.", minimum=1, maximum=100),
    Field(
        "sku",
        "string",
        "Product code, three capitals, a dash, four digits.",
        pattern=SKU,
        format_hint="a SKU",
        example="ABC-1234",
    ),
    Field("quantity", "integer", "How many.", minimum=1, maximum=1000),
    Field("unit_price", "number", "Price of one unit.", minimum=0, maximum=100000),
    Field("currency", "string", "ISO 4217 code.", choices=("EUR", "GBP", "USD")),
    Field(
        "tags",
        "array",
        "Free labels.",
        required=False,
        minimum=0,
        maximum=10,
        items=Field("tag", "string", "A label.", minimum=1, maximum=32),
    ),
    Field("express", "boolean", "Express delivery.", required=False),
    Field("note", "string", "Free text.", required=False, maximum=500),
)
KNOWN = {f.name for f in ORDER_FIELDS}


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem, "detail": self.detail}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def type_matches(kind: str, value: Any) -> bool:
    found = json_type(value)
    return found == kind or (kind == "number" and found == "integer")


def _range(spec: Field, measured: float, what: str) -> Problem | None:
    low, high = spec.minimum, spec.maximum
    if (low is None or measured >= low) and (high is None or measured <= high):
        return None
    if low is not None and high is not None:
        detail = f"{what} is not in [{low}, {high}]"
    else:
        detail = f"{what} is above the maximum {high}" if high is not None else f"{what} is below the minimum {low}"
    return Problem(spec.name, "out of range", detail)


def check_value(spec: Field, value: Any) -> list[Problem]:
    if not type_matches(spec.kind, value):
        return [Problem(spec.name, "wrong type", f"expected {spec.kind}, got {json_type(value)}")]
    problem: Problem | None = None
    if spec.kind in ("integer", "number"):
        problem = _range(spec, value, str(value))
    elif spec.kind == "string":
        problem = _range(spec, len(value), f"length {len(value)}")
        if problem is None and spec.choices and value not in spec.choices:
            problem = Problem(spec.name, "not allowed", f"must be one of {', '.join(spec.choices)}")
        if problem is None and spec.pattern is not None and not spec.pattern.fullmatch(value):
            problem = Problem(spec.name, "invalid format", f"not {spec.format_hint}")
    elif spec.kind == "array":
        problem = _range(spec, len(value), f"{len(value)} items")
        if problem is None and spec.items is not None:
            return [p for i, item in enumerate(value) for p in check_item(spec, i, item)]
    return [] if problem is None else [problem]


def check_item(spec: Field, index: int, item: Any) -> list[Problem]:
    assert spec.items is not None
    return check_value(replace(spec.items, name=f"{spec.name}[{index}]"), item)


def check_order(value: Any) -> list[Problem]:
    """Every problem of ``value`` against the order schema (empty when valid)."""
    if not isinstance(value, dict):
        return [Problem("", "wrong type", f"expected object, got {json_type(value)}")]
    problems: list[Problem] = []
    for spec in ORDER_FIELDS:
        if spec.name not in value:
            if spec.required:
                problems.append(Problem(spec.name, "missing", "required field"))
            continue
        problems += check_value(spec, value[spec.name])
    problems += [Problem(name, "unknown field", "not part of the schema") for name in sorted(set(value) - KNOWN)]
    return problems


def validation_failed(request: Request, problems: list[Problem]) -> Response:
    summary = "; ".join(f"{p.field or 'body'} {p.problem}" for p in problems[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    note_failure(request.scope, "bad_request", f"validation failed: {summary}{more}")
    return json_response({"error": "validation failed", "problems": [p.as_dict() for p in problems]}, 400)


async def parse_order(request: Request) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The order in the request body, or the problems that stop it (415 is raised)."""
    try:
        value = await read_json(request)
    except InvalidJSON as exc:
        return None, [Problem("", "invalid json", str(exc))]
    problems = check_order(value)
    return (value if not problems else None), problems


async def validate(request: Request) -> Response:
    order, problems = await parse_order(request)
    if order is None:
        return validation_failed(request, problems)
    return json_response(order)


def field_schema(spec: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": spec.kind, "description": spec.description}
    limits = {
        "integer": ("minimum", "maximum"),
        "number": ("minimum", "maximum"),
        "string": ("minLength", "maxLength"),
        "array": ("minItems", "maxItems"),
    }.get(spec.kind)
    if limits:
        for key, bound in zip(limits, (spec.minimum, spec.maximum), strict=True):
            if bound is not None:
                schema[key] = bound
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.pattern is not None:
        schema["pattern"] = f"^{spec.pattern.pattern}$"
    if spec.items is not None:
        schema["items"] = field_schema(spec.items)
    if spec.example is not None:
        schema["examples"] = [spec.example]
    return schema


def json_schema() -> dict[str, Any]:
    """The order schema as JSON Schema (OpenAPI 3.1)."""
    return {
        "type": "object",
        "required": [f.name for f in ORDER_FIELDS if f.required],
        "properties": {f.name: field_schema(f) for f in ORDER_FIELDS},
        "additionalProperties": False,
    }


PROBLEMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "problems"],
    "properties": {
        "error": {"type": "string", "const": "validation failed"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "problem", "detail"],
                "properties": {
                    "field": {"type": "string", "description": "Field name, items as name[i]; empty for the body."},
                    "problem": {"type": "string", "enum": list(PROBLEMS)},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
