"""Pagination group: one synthetic data set (ids 0..total-1) paged three ways: RFC 8288 Link header,
OData ``$top``/``$skip``, and an opaque cursor.

Links are absolute URLs built by :func:`apitest.forwarded.public_origin`: the request's scheme and Host
(what the gateway forwarded), or ``server.base_url`` with its port and path prefix when one is configured, or
``X-Forwarded-*`` from a trusted proxy.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.config import Settings
from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import non_negative_bounded, positive_bounded, query
from apitest.endpoints.seeded import item_value
from apitest.forwarded import public_origin
from apitest.http import INT64_MAX, ParamError, json_response, parse_int
from apitest.registry import INT, STR, Param, RouteSpec, bad_request, obj, ok

TOTAL_DEFAULT, TOTAL_MAX = 100, 10000
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 10, 1000

_CURSOR = re.compile(r"[A-Za-z0-9_-]*")


def items(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": i, "value": item_value(i)} for i in range(start, stop)]


def base_url(request: Request, settings: Settings) -> str:
    """The request's own URL without the query, as the client addressed it (see :mod:`apitest.forwarded`)."""
    return public_origin(request.scope, settings).url(request.scope["path"])


def total_of(request: Request) -> int:
    return positive_bounded(request, "total", TOTAL_DEFAULT, TOTAL_MAX)


@needs_deps
async def link(request: Request, *, deps: EndpointDeps) -> Response:
    page = positive_bounded(request, "page", 1, INT64_MAX)
    per_page = positive_bounded(request, "per_page", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
    total = total_of(request)
    last_page = -(-total // per_page)
    if page > last_page:
        raise ParamError(
            f"page {page} is past end of dataset (total={total}, per_page={per_page}, last_page={last_page})"
        )
    start = (page - 1) * per_page
    base = base_url(request, deps.settings)

    def entry(p: int, rel: str) -> str:
        return f'<{base}?page={p}&per_page={per_page}&total={total}>; rel="{rel}"'

    links = [entry(1, "first"), entry(last_page, "last")]
    if page > 1:
        links.append(entry(page - 1, "prev"))
    if page < last_page:
        links.append(entry(page + 1, "next"))
    body = {"items": items(start, min(start + per_page, total)), "page": page, "per_page": per_page, "total": total}
    return json_response(body, headers={"Link": ", ".join(links)})


@needs_deps
async def odata(request: Request, *, deps: EndpointDeps) -> Response:
    top = positive_bounded(request, "$top", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
    skip = non_negative_bounded(request, "$skip", 0, None)
    total = total_of(request)
    if skip >= total:
        raise ParamError(f"$skip {skip} is past end of dataset (total={total})")
    body: dict[str, Any] = {"value": items(skip, min(skip + top, total)), "@odata.count": total}
    if skip + top < total:
        body["@odata.nextLink"] = f"{base_url(request, deps.settings)}?$top={top}&$skip={skip + top}&total={total}"
    return json_response(body)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int | None:
    """Unpadded URL-safe base64 of a decimal offset ≥ 0; ``None`` for anything else."""
    if not _CURSOR.fullmatch(cursor) or len(cursor) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    try:
        offset = parse_int(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None
    return offset if offset is not None and offset >= 0 else None


async def cursor(request: Request) -> Response:
    limit = positive_bounded(request, "limit", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
    total = total_of(request)
    raw = query(request, "cursor")
    offset = 0 if raw == "" else decode_cursor(raw)
    if offset is None:
        raise ParamError("cursor is malformed")
    if offset >= total:
        raise ParamError(f"cursor offset {offset} is past end of dataset (total={total})")
    body: dict[str, Any] = {"items": items(offset, min(offset + limit, total))}
    if offset + limit < total:
        body["next_cursor"] = encode_cursor(offset + limit)
    return json_response(body)


ITEM = obj({"id": INT, "value": STR})
ITEMS = {"type": "array", "items": ITEM}
TOTAL = Param(
    "total", "integer", default=TOTAL_DEFAULT, minimum=1, maximum=TOTAL_MAX, description="Size of the data set."
)


def _size(name: str, what: str) -> Param:
    return Param(name, "integer", default=PAGE_SIZE_DEFAULT, minimum=1, maximum=PAGE_SIZE_MAX, description=what)


ROUTES = [
    RouteSpec(
        "pagination_link",
        "GET",
        "/v1/pagination/link",
        "pagination",
        "Page-numbered pages with an RFC 8288 Link header (first, last, prev, next).",
        link,
        params=(
            Param("page", "integer", default=1, minimum=1, description="1-based page number."),
            _size("per_page", "Items per page."),
            TOTAL,
        ),
        responses={
            200: ok(obj({"items": ITEMS, "page": INT, "per_page": INT, "total": INT}), headers=("Link",)),
            400: bad_request("A parameter out of range, or page past the last page."),
        },
    ),
    RouteSpec(
        "pagination_odata",
        "GET",
        "/v1/pagination/odata",
        "pagination",
        "OData v4 paging: $top and $skip, @odata.count and @odata.nextLink.",
        odata,
        params=(
            _size("$top", "Items per page."),
            Param("$skip", "integer", default=0, minimum=0, description="Items to skip."),
            TOTAL,
        ),
        responses={
            200: ok(
                obj(
                    {"value": ITEMS, "@odata.count": INT, "@odata.nextLink": STR},
                    required=["value", "@odata.count"],
                )
            ),
            400: bad_request("A parameter out of range, or $skip past the end."),
        },
    ),
    RouteSpec(
        "pagination_cursor",
        "GET",
        "/v1/pagination/cursor",
        "pagination",
        "Cursor paging: pass next_cursor back as cursor until it is absent.",
        cursor,
        params=(
            Param("cursor", description="Opaque cursor from the previous page's next_cursor; empty starts at 0."),
            _size("limit", "Items per page."),
            TOTAL,
        ),
        responses={
            200: ok(obj({"items": ITEMS, "next_cursor": STR}, required=["items"])),
            400: bad_request("A parameter out of range, a malformed cursor, or a cursor past the end."),
        },
    ),
]
