"""The rate-limit vocabulary shared by the rate-limit stage (:mod:`apitest.ratelimit`) and the
``/v1/limited`` handler: a :class:`Limit`, the :class:`Decision` the stage leaves in the request state,
its headers, and the explicit limit of ``/v1/limited``.

The ``/v1/limited`` operation (lab group) owns its explicit limit; the stage, a floor above the endpoints,
reads it from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from apitest.http import positive_bounded_in

EXPLICIT_ROUTE = "limited"  # operationId of /v1/limited
LIMIT_DEFAULT, LIMIT_MAX = 10, 10000
WINDOW_DEFAULT, WINDOW_MAX = 60, 3600
STATE_KEY = "rate_limit"  # scope["state"][STATE_KEY] holds the Decision of a limited request


@dataclass(frozen=True)
class Limit:
    bucket: str  # "group:<name>" or "limited:<limit>/<window>"
    limit: int
    window_s: int


@dataclass(frozen=True)
class Decision:
    limit: int
    window_s: int
    count: int  # requests in the window, this one included
    reset_at_ms: int  # epoch ms when the window ends
    now_ms: int

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the window ends, rounded up (at least 1 while the window is open)."""
        return max(1, math.ceil((self.reset_at_ms - self.now_ms) / 1000))

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at_ms / 1000)),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_seconds)
        return out


def explicit_limit(params: QueryParams) -> Limit:
    """The limit of ``/v1/limited``: ``limit`` (default 10, max 10000) per ``window_s`` (default 60, max 3600)."""
    limit = positive_bounded_in(params, "limit", LIMIT_DEFAULT, LIMIT_MAX)
    window = positive_bounded_in(params, "window_s", WINDOW_DEFAULT, WINDOW_MAX)
    return Limit(f"limited:{limit}/{window}", limit, window)
