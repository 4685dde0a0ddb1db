"""HTTP caching of the httpbin group: ``/cache``, ``/cache/{n}`` and ``/etag/{etag}``, plus the
conditional-request evaluation (RFC 9110 §13) that ``/range`` shares.

References: RFC 9110 §8.8.3 (ETag, weak and strong comparison), §13.1 (If-Match, If-None-Match,
If-Modified-Since, If-Unmodified-Since, If-Range), §13.2.2 (evaluation order).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import query
from apitest.endpoints.httpbin_support import request_summary
from apitest.http import ParamError, json_response, parse_int

_ETAGC = re.compile(r"[\x21\x23-\x7e]+")
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """``[(weak, opaque-tag), ...]`` of an If-Match / If-None-Match list; ``[]`` for ``*``; None when malformed."""
    if header.strip() == "*":
        return []
    tags = []
    for member in header.split(","):
        if not member.strip():
            continue  # RFC 9110 §5.6.1: empty list elements are ignored
        match = _ENTITY_TAG.fullmatch(member)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
    return tags


def tag_matches(header: str, etag: str, *, strong: bool, weak_etag: bool = False) -> bool:
    """Whether ``etag`` (unquoted; weak when ``weak_etag``) is in the list; ``*`` always matches.

    Strong comparison needs both tags strong; weak comparison only equal opaque tags (RFC 9110 §8.8.3.2).
    """
    tags = entity_tags(header)
    if tags is None:
        return False
    if not tags:
        return True
    return any(tag == etag and not (strong and (weak or weak_etag)) for weak, tag in tags)


def precondition_status(
    request: Request, etag: str, last_modified: datetime | None = None, *, weak_etag: bool = False
) -> int | None:
    """412, 304 or None (go on), in RFC 9110 §13.2.2 order, for a resource with entity tag ``etag``."""
    headers = request.headers
    if "if-match" in headers:
        if not tag_matches(headers["if-match"], etag, strong=True, weak_etag=weak_etag):
            return 412
    elif "if-unmodified-since" in headers and last_modified is not None:
        since = parse_http_date(headers["if-unmodified-since"])
        if since is not None and last_modified > since:
            return 412
    safe = request.method in ("GET", "HEAD")
    if "if-none-match" in headers:
        if tag_matches(headers["if-none-match"], etag, strong=False):
            return 304 if safe else 412
    elif "if-modified-since" in headers and last_modified is not None and safe:
        since = parse_http_date(headers["if-modified-since"])
        if since is not None and last_modified <= since:
            return 304
    return None


def quoted(etag: str) -> str:
    return f'"{etag}"'


@needs_deps
async def cache(request: Request, *, deps: EndpointDeps) -> Response:
    if "if-modified-since" in request.headers or "if-none-match" in request.headers:
        return Response(status_code=304)
    last_modified = http_date(datetime.now(UTC))
    etag = quoted(hashlib.sha1(last_modified.encode(), usedforsecurity=False).hexdigest())
    return json_response(
        request_summary(request, deps.sensitive), headers={"Last-Modified": last_modified, "ETag": etag}
    )


@needs_deps
async def cache_control(request: Request, *, deps: EndpointDeps) -> Response:
    seconds = parse_int(request.path_params["seconds"])
    if seconds is None or seconds < 0:
        raise ParamError("invalid seconds: must be an integer in [0, 9223372036854775807]")
    return json_response(
        request_summary(request, deps.sensitive), headers={"Cache-Control": f"public, max-age={seconds}"}
    )


@needs_deps
async def etag(request: Request, *, deps: EndpointDeps) -> Response:
    tag = request.path_params["etag"]
    if not _ETAGC.fullmatch(tag):
        raise ParamError("invalid etag: use printable ASCII without spaces or double quotes")
    weak = query(request, "weak").lower() == "true"
    headers = {"ETag": ("W/" if weak else "") + quoted(tag)}
    status = precondition_status(request, tag, weak_etag=weak)
    if status == 304:
        return Response(status_code=304, headers=headers)
    if status == 412:
        return json_response({"error": "precondition failed: If-Match does not match the ETag"}, 412, headers)
    return json_response(request_summary(request, deps.sensitive), headers=headers)
