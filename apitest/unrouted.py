"""``/v1`` requests no operation takes, answered inside the audit stage so they leave a row.

A gateway that rewrites a path wrongly causes a 404 (or a 405 for the wrong method) that must be as visible
in the audit as any other request: :class:`NoRoute` answers ``404 {"error":"no such endpoint"}`` with the
category ``no_route``, :class:`NotAllowed` ``405 {"error":"method not allowed"}`` with the path's sorted
``Allow`` and the category ``method_not_allowed``. The row's ``route_name`` is null. Auth does not run for
them: the answer is the same for every caller, as it is for paths outside ``/v1``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from apitest.failures import note_failure
from apitest.http import error_response


class NoRoute:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_failure(scope, "no_route", f"no route for {scope['method']} {scope['path']!r}")
        await error_response("no such endpoint", 404)(scope, receive, send)


class NotAllowed:
    def __init__(self, methods: Iterable[str]) -> None:
        allowed = set(methods)
        if "GET" in allowed:
            allowed.add("HEAD")
        self.allow = ", ".join(sorted(allowed))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_failure(scope, "method_not_allowed", f"{scope['method']} not allowed (allowed: {self.allow})")
        await error_response("method not allowed", 405, {"Allow": self.allow})(scope, receive, send)
