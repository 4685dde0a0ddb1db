"""``X-Request-Id``: keep a well-formed client id, otherwise generate a UUIDv4 (:func:`apitest.ids.random_uuid4`);
set it on every response (:class:`apitest.middleware.edge.Edge` applies the rule)."""

from __future__ import annotations

HEADER = "x-request-id"
MAX_LENGTH = 128


def acceptable(value: str) -> bool:
    """1 to 128 printable ASCII characters: anything else could forge log lines or break headers."""
    return 0 < len(value) <= MAX_LENGTH and all(0x20 <= ord(c) < 0x7F for c in value)
