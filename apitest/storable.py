"""Text every store can hold: the one escaping rule for values that reach the audit log, a page or a log line.

PostgreSQL TEXT and JSONB cannot hold NUL, and no UTF-8 store can hold a lone surrogate (``"\\ud800"``, which
Python produces from JSON such as ``{"alg":"X\\ud800"}`` or from ``surrogateescape`` decoding). A value
carrying one would make the driver or the database refuse the whole row. So each such code point is replaced
by a visible escape, the way Python's ``repr`` spells it, never dropped:

- NUL (U+0000) becomes the four characters ``\\x00``;
- a lone surrogate U+D800..U+DFFF becomes ``\\udXXX`` (lowercase hex), e.g. ``\\ud800``.

Everything else is kept as is (U+FFFD, other control characters and non-characters are storable). Text that
needs no escape is returned unchanged and costs one scan (``isascii`` or a UTF-8 encode, both in C).
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH = 32  # deepest nesting :func:`storable_value` walks; deeper containers become their storable repr


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\x00" if char == "\x00" else f"\\u{ord(char):04x}"


def needs_escape(text: str) -> bool:
    if text.isascii():
        return "\x00" in text
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates escaped visibly (``\\x00``, ``\\ud800``)."""
    return _UNSTORABLE.sub(_escape, text) if needs_escape(text) else text


def storable_opt(text: str | None) -> str | None:
    return None if text is None else storable(text)


def decode(raw: bytes) -> str:
    """Bytes from the wire as storable text: UTF-8, invalid bytes shown as ``\\xff`` (never dropped)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return storable(raw.decode("utf-8", "backslashreplace"))
    return storable(text) if "\x00" in text else text


def storable_value(value: Any, depth: int = 0) -> Any:
    """A JSON-like value (claims, details) with every string, key included, made storable; floats that JSON
    cannot spell (NaN, infinities) become strings, and containers nested deeper than :data:`MAX_DEPTH`
    become their text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, str):
        return storable(value)
    if depth >= MAX_DEPTH:
        return storable(repr(value))
    if isinstance(value, dict):
        return {storable(str(k)): storable_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(v, depth + 1) for v in value]
    return storable(str(value))
