"""The stored form of the request as it arrived (see :mod:`apitest.wirehead` for how it is kept).

What is stored is bounded, storable and redacted: the value of a header or query parameter that carries a
credential (:mod:`apitest.sensitive`: ``audit.redact_keys``, the configured key names, ``Authorization``,
``Cookie``...) becomes ``[redacted]``, and so do credentials inside URL-valued headers (``Referer``...); in
``raw_target`` only the value is replaced, the rest of the target stays byte for byte. The target is cut at
:data:`MAX_TARGET` characters and the header list at :data:`MAX_HEADER_LIST` characters (names and values),
each with a truncation flag in the row's ``details`` (``raw_target_truncated``, ``header_list_truncated``).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from apitest.audit.redaction import REDACTED, Redactor, storable
from apitest.wirehead import header_pairs, redact_target, target_bytes, version_of

MAX_TARGET = 8 * 1024  # characters of raw_target kept
MAX_HEADER_LIST = 64 * 1024  # characters of names and values kept in header_list, in total
MAX_HOST = 1024
NAME_CACHE_SIZE = 1024
PAIR_CACHE_SIZE = 1024
PAIR_CACHE_BYTES = 256  # a header longer than this (name and value) is not kept in the pair cache


@dataclass
class RawRequest:
    raw_target: str
    http_version: str
    host: str | None
    header_list: list[list[str]]
    truncated: dict[str, bool]


class RawCapture:
    """Builds :class:`RawRequest` values. The redaction verdict per name is cached, and so is the stored form of
    each short header (name and value bytes -> the stored pair): a gateway or a load generator sends the same
    ``Host``, ``User-Agent`` and ``Accept`` on every request, and decoding, escaping and redacting them again
    was most of this capture's cost. A header whose value is redacted (a credential, or a URL holding one) is
    never kept, so the cache holds no secret. Both caches are emptied when a client floods them."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._secret: dict[str, bool] = {}
        self._pairs: dict[tuple[bytes, bytes], tuple[str, str]] = {}

    def secret(self, name: str) -> bool:
        found = self._secret.get(name)
        if found is None:
            found = self.redactor.sensitive.name(name)
            if len(self._secret) >= NAME_CACHE_SIZE:
                self._secret.clear()
            self._secret[name] = found
        return found

    def capture(self, scope: Scope, limit: int = MAX_HEADER_LIST) -> RawRequest:
        """``limit``: characters of header names and values kept (a request refused by auth keeps less); the
        raw bytes are cut before they are decoded, so a huge header costs no more than what is kept."""
        truncated: dict[str, bool] = {}
        raw_target = target_bytes(scope)
        if len(raw_target) > MAX_TARGET:
            raw_target, truncated["raw_target_truncated"] = raw_target[:MAX_TARGET], True
        target = redact_target(storable(raw_target.decode("latin-1")), self.secret)[:MAX_TARGET]
        host: str | None = None
        pairs: list[list[str]] = []
        room = min(limit, MAX_HEADER_LIST)
        cache = self._pairs
        for raw_name, raw_value in header_pairs(scope):
            known = cache.get((raw_name, raw_value))
            # A stored pair is reused only when the room left would cut neither part, as when it was stored.
            if known is not None and room >= len(raw_name) and room - len(known[0]) >= len(raw_value):
                name, value = known
            else:
                name = storable(raw_name[: max(room, 0) + 1].decode("latin-1"))
                clipped = raw_value[: max(room - len(name), 0) + 1]
                secret = self.secret(name)
                text = "" if secret else clipped.decode("utf-8", "replace")
                shown = REDACTED if secret else self.redactor.sensitive.value(name, text)
                value = shown if secret else storable(shown)
                uncut = len(raw_name) <= room and len(clipped) == len(raw_value)
                # Never a credential: a secret header's value, or one with a credential inside, is not kept.
                if uncut and not secret and shown == text and len(raw_name) + len(raw_value) <= PAIR_CACHE_BYTES:
                    if len(cache) >= PAIR_CACHE_SIZE:
                        cache.clear()
                    cache[(raw_name, raw_value)] = (name, value)
            if host is None and name.lower() == "host":
                host = storable(raw_value[:MAX_HOST].decode("utf-8", "replace"))[:MAX_HOST]
            room -= len(name) + len(value)
            if room < 0:
                truncated["header_list_truncated"] = True
                break
            pairs.append([name, value])
        return RawRequest(target, storable(version_of(scope)), host, pairs, truncated)
