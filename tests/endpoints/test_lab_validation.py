from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from apitest.endpoints.lab_validation import check_order, json_schema
from tests.wire import StateRecorder, recorded_client

VALID: dict[str, Any] = {
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "sku": "ABC-1234",
    "quantity": 2,
    "unit_price": 19.99,
    "currency": "EUR",
}
FULL = VALID | {"tags": ["gift", "fragile"], "express": True, "note": "leave at the door"}
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture
async def lab() -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    async with recorded_client() as pair:
        yield pair


def with_(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in (VALID | changes).items() if v is not ...}


def p(field: str, problem: str, detail: str) -> dict[str, str]:
    return {"field": field, "problem": problem, "detail": detail}


PROBLEM_CASES: list[tuple[str, Any, list[dict[str, str]]]] = [
    (
        "empty object",
        {},
        [p(f, "missing", "required field") for f in ("customer_email", "customer_name", "sku", "quantity")]
        + [p(f, "missing", "required field") for f in ("unit_price", "currency")],
    ),
    ("quantity below", with_(quantity=0), [p("quantity", "out of range", "0 is not in [1, 1000]")]),
    ("quantity above", with_(quantity=1001), [p("quantity", "out of range", "1001 is not in [1, 1000]")]),
    ("quantity string", with_(quantity="2"), [p("quantity", "wrong type", "expected integer, got string")]),
    ("quantity float", with_(quantity=2.0), [p("quantity", "wrong type", "expected integer, got number")]),
    ("quantity bool", with_(quantity=True), [p("quantity", "wrong type", "expected integer, got boolean")]),
    ("quantity null", with_(quantity=None), [p("quantity", "wrong type", "expected integer, got null")]),
    ("price negative", with_(unit_price=-0.01), [p("unit_price", "out of range", "-0.01 is not in [0, 100000]")]),
    ("price above", with_(unit_price=100000.5), [p("unit_price", "out of range", "100000.5 is not in [0, 100000]")]),
    ("price string", with_(unit_price="1"), [p("unit_price", "wrong type", "expected number, got string")]),
    ("currency unknown", with_(currency="XXX"), [p("currency", "not allowed", "must be one of EUR, GBP, USD")]),
    ("currency case", with_(currency="eur"), [p("currency", "not allowed", "must be one of EUR, GBP, USD")]),
    ("email no at", with_(customer_email="nope"), [p("customer_email", "invalid format", "not an email")]),
    ("email no dot", with_(customer_email="a@b"), [p("customer_email", "invalid format", "not an email")]),
    ("email empty", with_(customer_email=""), [p("customer_email", "out of range", "length 0 is not in [3, 254]")]),
    ("name empty", with_(customer_name=""), [p("customer_name", "out of range", "length 0 is not in [1, 100]")]),
    (
        "name long",
        with_(customer_name="n" * 101),
        [p("customer_name", "out of range", "length 101 is not in [1, 100]")],
    ),
    ("sku lower", with_(sku="abc-1234"), [p("sku", "invalid format", "not a SKU")]),
    ("sku array", with_(sku=["ABC-1234"]), [p("sku", "wrong type", "expected string, got array")]),
    ("tags string", with_(tags="gift"), [p("tags", "wrong type", "expected array, got string")]),
    ("tags many", with_(tags=["t"] * 11), [p("tags", "out of range", "11 items is not in [0, 10]")]),
    (
        "tag items",
        with_(tags=["", 3, "ok", "x" * 33]),
        [
            p("tags[0]", "out of range", "length 0 is not in [1, 32]"),
            p("tags[1]", "wrong type", "expected string, got integer"),
            p("tags[3]", "out of range", "length 33 is not in [1, 32]"),
        ],
    ),
    ("express string", with_(express="yes"), [p("express", "wrong type", "expected boolean, got string")]),
    ("note long", with_(note="n" * 501), [p("note", "out of range", "length 501 is above the maximum 500")]),
    (
        "unknown fields sorted",
        with_(zzz=1, aaa={}),
        [p("aaa", "unknown field", "not part of the schema"), p("zzz", "unknown field", "not part of the schema")],
    ),
    (
        "several at once",
        with_(quantity=0, currency="XXX", customer_name=..., extra=1),
        [
            p("customer_name", "missing", "required field"),
            p("quantity", "out of range", "0 is not in [1, 1000]"),
            p("currency", "not allowed", "must be one of EUR, GBP, USD"),
            p("extra", "unknown field", "not part of the schema"),
        ],
    ),
    ("array body", [VALID], [p("", "wrong type", "expected object, got array")]),
    ("string body", "order", [p("", "wrong type", "expected object, got string")]),
]


@pytest.mark.parametrize(("name", "body", "problems"), PROBLEM_CASES, ids=[c[0] for c in PROBLEM_CASES])
async def test_problems(
    lab: tuple[httpx.AsyncClient, StateRecorder], name: str, body: Any, problems: list[dict[str, str]]
) -> None:
    client, recorder = lab
    r = await client.post("/v1/validate", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "validation failed", "problems": problems}
    assert recorder.states[-1]["error_category"] == "bad_request"
    assert recorder.states[-1]["error_message"].startswith("validation failed: ")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b'{"a": 1} trailing', "Extra data: line 1 column 10 (char 9)"),
        (b'{"quantity": NaN}', "NaN is not valid JSON"),
        (b'{"quantity": -Infinity}', "-Infinity is not valid JSON"),
        (b"\xff{}", "body is not UTF-8: invalid start byte at byte 0"),
        (b"[" * 100000, "maximum recursion depth exceeded while decoding a JSON array from a unicode string"),
    ],
)
async def test_invalid_json(lab: tuple[httpx.AsyncClient, StateRecorder], raw: bytes, detail: str) -> None:
    client, recorder = lab
    r = await client.post("/v1/validate", content=raw, headers=JSON_HEADERS)
    assert r.status_code == 400
    assert r.json() == {"error": "validation failed", "problems": [p("", "invalid json", detail)]}
    assert recorder.states[-1]["error_message"] == "validation failed: body invalid json"


async def test_audit_message_summarises_at_most_five(lab: tuple[httpx.AsyncClient, StateRecorder]) -> None:
    client, recorder = lab
    r = await client.post("/v1/validate", json={"a": 1, "b": 2})
    assert len(r.json()["problems"]) == 8
    assert recorder.states[-1]["error_message"] == (
        "validation failed: customer_email missing; customer_name missing; sku missing; quantity missing; "
        "unit_price missing (+3 more)"
    )


@pytest.mark.parametrize(
    "body",
    [VALID, FULL, with_(quantity=1), with_(quantity=1000), with_(unit_price=0), with_(unit_price=5), with_(tags=[])],
)
async def test_valid_order_is_echoed(lab: tuple[httpx.AsyncClient, StateRecorder], body: dict[str, Any]) -> None:
    client, recorder = lab
    r = await client.post("/v1/validate", json=body)
    assert r.status_code == 200
    assert r.json() == body
    assert "error_category" not in recorder.states[-1]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
async def test_json_content_types_accepted(lab: tuple[httpx.AsyncClient, StateRecorder], content_type: str) -> None:
    client, _ = lab
    r = await client.post("/v1/validate", content=json.dumps(VALID), headers={"content-type": content_type})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        (None, "none"),
        ("text/plain", '"text/plain"'),
        ("application/x-www-form-urlencoded", '"application/x-www-form-urlencoded"'),
        ("application/jsonx", '"application/jsonx"'),
        ("text/json+xml", '"text/json+xml"'),
    ],
)
async def test_non_json_content_type_is_415(
    lab: tuple[httpx.AsyncClient, StateRecorder], content_type: str | None, shown: str
) -> None:
    client, recorder = lab
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post("/v1/validate", content=json.dumps(VALID).encode(), headers=headers)
    assert r.status_code == 415
    assert r.json() == {"error": f"Content-Type must be application/json (got {shown})"}
    assert r.headers["accept-post"] == "application/json"
    assert recorder.states[-1]["error_category"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [c[1] for c in PROBLEM_CASES if c[0] != "quantity float"] + [VALID, FULL],
)
def test_openapi_schema_agrees_with_the_checker(body: Any) -> None:
    """The documented JSON Schema accepts exactly what the handler accepts (except 2.0 as an integer,
    which JSON Schema calls an integer and this endpoint does not)."""
    valid = jsonschema.Draft202012Validator(json_schema()).is_valid(body)
    assert valid == (check_order(body) == [])
