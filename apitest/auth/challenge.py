"""The answers of the auth stage on ``/v1``: 401 (missing or invalid credential), 403 (missing scope)
and 500 (backend failure).

- No credential: 401 ``{"error":"missing credential"}`` with
  ``WWW-Authenticate: Bearer realm="api-test", resource_metadata="<base_url>/.well-known/oauth-protected-resource"``.
- Bad credential: 401 ``{"error":"invalid credential"}`` with
  ``Bearer realm="api-test", error="invalid_token", error_description="<why>", resource_metadata="…"``.
- Valid credential without the route's scope: 403 ``{"error":"insufficient_scope","required_scope":"<s>"}``
  with ``Bearer realm="api-test", error="insufficient_scope", scope="<s>"``.
- Backend failure: 500 ``{"error":"auth error"}``, no challenge.

An anonymous caller on a scoped route gets the "no credential" 401 with ``scope="…"`` added: sending a
credential that holds the scope is what would help.

References: RFC 6750 §3 (the Bearer challenge and its error codes), RFC 9728 §5.1 (resource_metadata),
RFC 6749 §3.3 (scope-token syntax).
"""

from __future__ import annotations

import re

from starlette.responses import Response

from apitest.auth.base import Invalid
from apitest.config import Settings
from apitest.http import error_response, json_response

REALM = "api-test"
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")  # error_description: printable ASCII except " and \


def resource_metadata_url(settings: Settings) -> str:
    return settings.server.base_url.rstrip("/") + WELL_KNOWN_PATH


def is_scope_token(value: str) -> bool:
    return _SCOPE_TOKEN.fullmatch(value) is not None


def _quoted(value: str) -> str:
    return '"' + _UNSAFE.sub("?", value) + '"'


class Challenges:
    def __init__(self, settings: Settings) -> None:
        self.resource_metadata = _quoted(resource_metadata_url(settings))

    def _header(self, *params: tuple[str, str]) -> dict[str, str]:
        pairs = [("realm", _quoted(REALM)), *((k, _quoted(v)) for k, v in params)]
        pairs.append(("resource_metadata", self.resource_metadata))
        return {"WWW-Authenticate": "Bearer " + ", ".join(f"{k}={v}" for k, v in pairs)}

    def missing(self, required_scope: str | None = None) -> Response:
        params = [("scope", required_scope)] if required_scope and is_scope_token(required_scope) else []
        return error_response("missing credential", 401, self._header(*params))

    def invalid(self, invalid: Invalid) -> Response:
        params = (("error", "invalid_token"), ("error_description", invalid.description))
        return error_response("invalid credential", 401, self._header(*params))

    def insufficient_scope(self, required_scope: str) -> Response:
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope"'
        if is_scope_token(required_scope):
            challenge += f', scope="{required_scope}"'
        body = {"error": "insufficient_scope", "required_scope": required_scope}
        return json_response(body, 403, {"WWW-Authenticate": challenge})

    @staticmethod
    def backend_error() -> Response:
        return error_response("auth error", 500)
