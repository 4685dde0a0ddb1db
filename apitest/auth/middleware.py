"""Inbound auth stage of the ``/v1`` pipeline: authenticate, then enforce the route's scope.

Every outcome is left in the request's :class:`~apitest.outcome.RequestOutcome` for the audit:
``identity`` on success (and on a 403, so the row says who lacked the scope), or ``error_category`` /
``error_message`` through :func:`~apitest.pipeline.note_failure` (``missing_credential``, ``invalid_credential``,
``insufficient_scope``, ``auth_error``). The reason never contains the credential.

Pre-set identity (portal Try-It and replay): when the request outcome's ``preset_identity`` holds an
:class:`Identity` and the request carries no wire credential (the configured API-key header or query
parameter, or ``Authorization: Bearer``), it is used without running the chain. A wire credential
wins: the chain runs and its answer stands.

A route flagged ``own_authorization`` (the httpbin Basic and Digest challenges) reads ``Authorization``
itself: there a non-Bearer scheme is not presented to the chain (the audit details note the ignored
scheme), so the request is anonymous or is authenticated by an API key sent alongside.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest import logs
from apitest.auth.base import AuthBackendError, Invalid
from apitest.auth.chain import AuthChain, Missing
from apitest.auth.challenge import Challenges
from apitest.auth.credentials import read_credentials
from apitest.auth.evidence import EvidenceReader, Fingerprinter, settle
from apitest.config import Settings
from apitest.failures import note_detail, note_failure
from apitest.identity import ANONYMOUS, Identity
from apitest.outcome import outcome_of
from apitest.registry import ROUTE_KEY, RouteSpec

log = logs.get("auth")


def credential_optional(scope: Scope) -> bool:
    """Routes that authenticate callers themselves (webhook signatures, Basic/Digest challenges) need no
    apitest credential: a missing one is anonymous there (a presented bad one is still a 401)."""
    spec = scope.get(ROUTE_KEY)
    return isinstance(spec, RouteSpec) and (spec.credential_optional or spec.own_authorization)


def required_scope(scope: Scope) -> str | None:
    """The scope the matched route requires: static, or the value of its scope path parameter."""
    spec = scope.get(ROUTE_KEY)
    if not isinstance(spec, RouteSpec):
        return None
    if spec.scope:
        return spec.scope
    if spec.scope_param:
        value = scope.get("path_params", {}).get(spec.scope_param)
        return str(value) if value else None
    return None


class AuthMiddleware:
    def __init__(
        self, app: ASGIApp, *, settings: Settings, chain: AuthChain, fingerprints: Fingerprinter | None = None
    ) -> None:
        self.app = app
        self.chain = chain
        self.challenges = Challenges(settings)
        keys = settings.api_keys
        self.header_name = keys.header_name
        self.query_name = keys.query_param_name
        self.evidence = EvidenceReader(
            fingerprints or Fingerprinter(), header_name=self.header_name, query_name=self.query_name
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = await self._authorize(scope)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    async def _authorize(self, scope: Scope) -> Response | None:
        """``None`` when the request may proceed, else the rejection to send."""
        outcome = outcome_of(scope)
        presented = read_credentials(scope, header_name=self.header_name, query_name=self.query_name)
        if presented.ignored_scheme:
            note_detail(scope, "authorization_ignored", presented.ignored_scheme)
        evidence = outcome.credentials = self.evidence.read(scope.get("headers", []), scope.get("query_string", b""))
        preset = outcome.preset_identity
        try:
            if preset is not None and not presented.any:
                result: Identity | Invalid | Missing = preset
            else:
                result = await self.chain.resolve(presented)
        except AuthBackendError as exc:
            log.warning(
                "auth chain error",
                extra={"err": str(exc), "path": scope["path"], "request_id": outcome.request_id},
            )
            note_failure(scope, "auth_error", str(exc))
            return self.challenges.backend_error()
        settle(evidence, presented, result)
        if isinstance(result, Invalid):
            note_failure(scope, "invalid_credential", result.message)
            return self.challenges.invalid(result)
        if isinstance(result, Missing) and credential_optional(scope):
            outcome.identity = ANONYMOUS  # e.g. /v1/webhooks/receive: the signature is checked by the handler
            return None
        if isinstance(result, Missing):
            note_failure(scope, "missing_credential", result.reason)
            return self.challenges.missing()
        outcome.identity = result
        return self._check_scope(scope, result)

    def _check_scope(self, scope: Scope, identity: Identity) -> Response | None:
        needed = required_scope(scope)
        if needed is None or needed in identity.scopes:
            return None
        if identity.auth_type == "anonymous":
            note_failure(scope, "missing_credential", f"route requires scope {needed!r}; anonymous has no scopes")
            return self.challenges.missing(needed)
        held = ", ".join(identity.scopes) or "none"
        who = f"{identity.auth_type} {identity.key_name or identity.subject}"
        note_failure(scope, "insufficient_scope", f"{who} lacks scope {needed!r} (has: {held})")
        return self.challenges.insufficient_scope(needed)
