"""Random identifiers for the hot path: request ids and audit event ids, one of each per request."""

from __future__ import annotations

import os
from typing import Any

_POOL_IDS = 256  # ids per os.urandom call
_pool: list[Any] = [b"", 0]  # random bytes, and the offset of the first unused one
_VERSION_MASK = ~(0xF << 76) & ~(0xC << 60)  # the version nibble and the variant's two bits cleared
_VERSION_BITS = (4 << 76) | (0x8 << 60)  # version 4, variant RFC 9562 (10xx)


def random_uuid4() -> str:
    """A random UUIDv4 in its usual text form, as ``str(uuid.uuid4())`` makes it, with the random bytes taken
    from a pool filled 4 KiB at a time (one ``os.urandom`` call for 256 ids rather than one each: a request
    id is a correlation id, not a secret)."""
    pool, offset = _pool
    if offset >= len(pool):
        pool, offset = os.urandom(16 * _POOL_IDS), 0
        _pool[0] = pool
    _pool[1] = offset + 16
    value = (int.from_bytes(pool[offset : offset + 16]) & _VERSION_MASK) | _VERSION_BITS
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
