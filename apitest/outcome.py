"""What one request's stages tell each other: a typed :class:`RequestOutcome` under one scope key.

The stages of a request (request id, the inbound chain, the rate limit, the handler, the portal's dispatch)
write what they learned here, and the response observer, the access log, the metrics and the audit read it
when the response ends. It replaces the untyped ``scope["state"]`` keys these stages used (``identity``,
``error_category``, ``preset_identity``, ``dispatch_source``...).

The error categories of the audit rows are the :data:`ErrorCategory` literal type, declared here once:
:data:`ERROR_CATEGORIES` and :data:`REJECTED_CATEGORIES` are derived from it.

Its own floor below the leaves: it imports nothing from the app but :mod:`apitest.identity` (the floor
below it), so every other module may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from starlette.requests import HTTPConnection
from starlette.types import Scope

from apitest.identity import ANONYMOUS, Identity

OUTCOME_KEY = "apitest.outcome"

ErrorCategory = Literal[
    "missing_credential",
    "invalid_credential",
    "insufficient_scope",
    "auth_error",
    "bad_request",
    "not_found",
    "no_route",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "internal_error",
    "server_error",
    "upstream_error",
    "client_disconnected",
    "fault_injected",
]
ERROR_CATEGORIES: tuple[ErrorCategory, ...] = get_args(ErrorCategory)
# Categories of a request the inbound chain refused; ``audit.include_rejected: false`` leaves them out.
REJECTED_CATEGORIES: frozenset[str] = frozenset({"missing_credential", "invalid_credential", "insufficient_scope"})

DispatchSource = Literal["wire", "tryit", "replay"]
SOURCES: tuple[DispatchSource, ...] = get_args(DispatchSource)


@dataclass(slots=True)
class RequestOutcome:
    """One request as its stages saw it. Created by the first stage that needs it (:func:`outcome_of`)."""

    request_id: str = ""
    # The inbound chain: who (also on a 403, so the row says who lacked the scope) and what was presented.
    identity: Identity | None = None
    credentials: list[dict[str, Any]] | None = None  # the credential evidence (apitest.auth.evidence)
    # Why the request failed, for the audit row (the audit derives a category from the status otherwise).
    error_category: ErrorCategory | None = None
    error_message: str | None = None
    # The portal's Try-It and replay: the row's source, the replayed event, the signed-in identity to use.
    dispatch_source: DispatchSource = "wire"
    replayed_from: str | None = None
    preset_identity: Identity | None = None
    audit_event_id: str = ""  # set by the audit stage, so the portal can link to the row it caused
    # The response as the outermost observer saw it.
    status: int = 0
    bytes_out: int = 0
    started: float = 0.0  # time.perf_counter() at arrival
    marks: dict[str, float] = field(default_factory=dict)  # named time.perf_counter() marks (stages, wire)

    def fail(self, category: ErrorCategory, message: str) -> None:
        self.error_category = category
        self.error_message = message

    def as_state(self) -> dict[str, Any]:
        """The stage facts that are set, under the names the untyped ``scope["state"]`` keys had (for logs,
        debugging and tests that compare whole states)."""
        names = ("request_id", "identity", "credentials", "error_category", "error_message", "replayed_from")
        found: dict[str, Any] = {name: getattr(self, name) for name in names if getattr(self, name) not in (None, "")}
        if self.preset_identity is not None:
            found["preset_identity"] = self.preset_identity
        if self.dispatch_source != "wire":
            found["dispatch_source"] = self.dispatch_source
        if self.audit_event_id:
            found["audit_event_id"] = self.audit_event_id
        return found


def outcome_of(scope: Scope) -> RequestOutcome:
    """This request's outcome, created on first use."""
    found = scope.get(OUTCOME_KEY)
    if found is None:
        found = scope[OUTCOME_KEY] = RequestOutcome()
    assert isinstance(found, RequestOutcome)
    return found


def peek(scope: Scope) -> RequestOutcome | None:
    """The outcome when a stage already made one (readers that must not create it)."""
    found = scope.get(OUTCOME_KEY)
    return found if isinstance(found, RequestOutcome) else None


def identity_of(conn: HTTPConnection) -> Identity:
    """The identity the inbound chain attached, or anonymous when none ran."""
    found = peek(conn.scope)
    return found.identity if found is not None and found.identity is not None else ANONYMOUS
