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


@dataclass
class RawRequest:
    raw_target: str
    http_version: str
    host: str | None
    header_list: list[list[str]]
    truncated: dict[str, bool]


class RawCapture:
    """Builds :class:`RawRequest` values; the redaction verdict per name is cached (the set of names a fixture
    sees is small; the cache is emptied if a client floods it)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._secret: dict[str, bool] = {}

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
        for raw_name, raw_value in header_pairs(scope):
            name = storable(raw_name[: max(room, 0) + 1].decode("latin-1"))
            if host is None and name.lower() == "host":
                host = storable(raw_value[:MAX_HOST].decode("utf-8", "replace"))[:MAX_HOST]
            clipped = raw_value[: max(room - len(name), 0) + 1]
            value = (
                REDACTED
                if self.secret(name)
                else storable(self.redactor.sensitive.value(name, clipped.decode("utf-8", "replace")))
            )
            room -= len(name) + len(value)
            if room < 0:
                truncated["header_list_truncated"] = True
                break
            pairs.append([name, value])
        return RawRequest(target, storable(version_of(scope)), host, pairs, truncated)
