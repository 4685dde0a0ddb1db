"""Parsing untrusted JSON without a 500: bounded depth, finite numbers, and (for tokens) unique keys.

``json.loads`` raises ``RecursionError`` on deeply nested input (an 8 KB ``[[[[...`` body), accepts ``NaN``,
``Infinity`` and ``1e400`` (which becomes ``inf``) and keeps the last of duplicate object keys. Every parse of
untrusted JSON goes through :func:`loads`, which turns all of these into :class:`JSONError`, a ``ValueError``
whose message is the reason shown to the client (400 for a body, 401 for a token).

References: RFC 8259 §4 (names SHOULD be unique), RFC 7515 §5.2 and RFC 7519 §4 (a JOSE header or claims set
with duplicate member names must be rejected or the last one used; tokens here are rejected), RFC 8725 §3.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # deepest array/object nesting accepted (legitimate bodies and tokens stay far below)


class JSONError(ValueError):
    """Untrusted JSON refused; ``str(exc)`` is the reason, safe to show (it never quotes the input)."""


def _no_constant(name: str) -> Any:
    raise JSONError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONError("number out of range")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONError("duplicate key in JSON object")
        out[key] = value
    return out


def depth_of(value: Any, limit: int) -> int:
    """Nesting depth of ``value`` (a scalar is 0), counted iteratively; stops once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, unique_keys: bool = False) -> Any:
    """Strict JSON from an untrusted source; raises :class:`JSONError` (a ``ValueError``) with the reason."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as exc:
        raise JSONError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            object_pairs_hook=_unique if unique_keys else None,
        )
    except JSONError:
        raise
    except RecursionError:
        raise JSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JSONError(f"invalid JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)) from None
    if depth_of(value, max_depth) > max_depth:
        raise JSONError(f"nested deeper than {max_depth} levels")
    return value
