"""Helpers shared by the failure-lab handlers: JSON request bodies and disconnect-aware pauses."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from apitest.http import ParamError

JSON_MEDIA = "application/json"


class UnsupportedMediaType(ParamError):
    def __init__(self, content_type: str) -> None:
        got = f'"{content_type}"' if content_type else "none"
        super().__init__(f"Content-Type must be application/json (got {got})", 415, {"Accept-Post": JSON_MEDIA})


class InvalidJSON(Exception):
    """The body is not one JSON value (the message says where)."""


def is_json_media(content_type: str) -> bool:
    """``application/json`` or any ``+json`` type, parameters (``; charset=utf-8``) ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_MEDIA or (media.startswith("application/") and media.endswith("+json"))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request) -> Any:
    """The request body as one JSON value: 415 (:class:`UnsupportedMediaType`) for a non-JSON content type,
    :class:`InvalidJSON` for a body that does not parse (``NaN``/``Infinity`` included)."""
    content_type = request.headers.get("content-type", "")
    if not is_json_media(content_type):
        raise UnsupportedMediaType(content_type)
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(str(exc) or type(exc).__name__) from exc
