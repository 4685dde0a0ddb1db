"""Sample content and request inspection: ``/html``, ``/xml``, ``/image``, ``/uuid``, ``/base64``,
``/deny``, ``/robots.txt``, ``/get`` and ``/anything``.

The samples are files under ``apitest/static/httpbin/``, read once. ``/anything`` echoes the request in
go-httpbin's shape, through the echo group's helpers (body capped at 1 MiB, credentials redacted).
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid as uuidlib
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.echo import _MISSING, BODY_CAP, parse_json, read_capped
from apitest.endpoints.helpers import query
from apitest.endpoints.httpbin_support import MAX_BODY, request_summary
from apitest.endpoints.seeded import pcg_bytes, seeded_rng
from apitest.http import ParamError, error_response, json_response

TEXT = "text/plain; charset=utf-8"
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"}
ROBOTS = b"User-agent: *\nDisallow: /v1/deny\n"
DENY = b"YOU SHOULDN'T BE HERE\n"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@functools.cache
def asset(name: str) -> bytes:
    return resources.files("apitest").joinpath("static", "httpbin", name).read_bytes()


async def html(request: Request) -> Response:
    return Response(asset("page.html"), media_type="text/html; charset=utf-8")


async def xml(request: Request) -> Response:
    return Response(asset("sample.xml"), media_type="application/xml")


async def robots(request: Request) -> Response:
    return Response(ROBOTS, media_type=TEXT)


async def deny(request: Request) -> Response:
    return Response(DENY, media_type=TEXT)


def image_response(kind: str, headers: dict[str, str] | None = None) -> Response:
    return Response(asset(f"image.{kind}"), media_type=IMAGE_TYPES[kind], headers=headers)


def accepted_image(accept: str) -> str | None:
    """go-httpbin's order: none, ``image/*``, ``*/*`` or png → png; then webp, svg, jpeg; else None."""
    if accept == "" or any(t in accept for t in ("image/*", "*/*", "image/png")):
        return "png"
    return next((kind for kind in ("webp", "svg", "jpeg") if IMAGE_TYPES[kind] in accept), None)


async def image(request: Request) -> Response:
    kind = accepted_image(request.headers.get("accept", ""))
    if kind is None:
        supported = ", ".join(IMAGE_TYPES.values())
        return error_response(f"not acceptable: Accept one of {supported} or image/*", 406, {"Vary": "Accept"})
    return image_response(kind, {"Vary": "Accept"})


async def image_of(request: Request) -> Response:
    kind = request.path_params["format"]
    if kind not in IMAGE_TYPES:
        return error_response(f"no such image format: use one of {', '.join(IMAGE_TYPES)}", 404)
    return image_response(kind)


async def uuid(request: Request) -> Response:
    seed = query(request, "seed")
    value = uuidlib.UUID(bytes=pcg_bytes(seeded_rng(seed), 16), version=4) if seed else uuidlib.uuid4()
    return json_response({"uuid": str(value)})


def b64decode(data: str) -> bytes:
    """URL-safe alphabet first, then the standard one, both padded and strict (as go-httpbin)."""
    for altchars in (b"-_", b"+/"):
        try:
            return base64.b64decode(data, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise ParamError("base64 decode failed: not padded base64 (URL-safe or standard alphabet)")


async def base64_value(request: Request) -> Response:
    operation = request.path_params.get("operation", "decode")
    data = request.path_params["value"]
    if len(data) > MAX_BODY:
        raise ParamError(f"input data exceeds max length of {MAX_BODY}")
    if operation == "encode":
        result = base64.urlsafe_b64encode(data.encode())
    elif operation == "decode":
        result = b64decode(data)
    else:
        raise ParamError(f"invalid operation: {operation[:32]!r} (encode or decode)")
    return Response(result, media_type=TEXT, headers=NOSNIFF)


def form_of(body: bytes) -> dict[str, list[str]]:
    return {k: v for k, v in sorted(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items())}


@needs_deps
async def anything(request: Request, *, deps: EndpointDeps) -> Response:
    summary = request_summary(request, deps.sensitive)
    out: dict[str, Any] = {"args": summary["args"], "data": "", "files": {}, "form": {}}
    out |= {"headers": summary["headers"], "json": None}
    body = b"" if request.method == "HEAD" else await read_capped(request, BODY_CAP)  # GET may carry one too
    if body:
        out["data"] = body.decode("utf-8", "replace")
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            out["form"] = form_of(body)
        elif kind == "application/json" and (parsed := parse_json(body)) is not _MISSING:
            out["json"] = parsed
    out |= {"method": summary["method"], "origin": summary["origin"], "url": summary["url"]}
    return json_response(out)
