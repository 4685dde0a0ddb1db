"""Why a request failed, for the audit row: :func:`note_failure` sets ``error_category`` and
``error_message`` in the request's :class:`~apitest.outcome.RequestOutcome`, where the audit stage reads
them when the request ends;
:func:`note_detail` adds one fact to the row's ``details`` object.

On the leaves' floor (it imports only :mod:`apitest.outcome`, a floor below): every ``/v1`` stage that
can refuse or fail a request (auth, rate limit, handlers, the pipeline) records why through it, and the
audit stage reads it.
"""

from __future__ import annotations

from starlette.types import Scope

from apitest.outcome import ErrorCategory, outcome_of


def note_failure(scope: Scope, category: ErrorCategory, message: str) -> None:
    """Tell the audit why this request failed (``error_category`` / ``error_message`` of its row)."""
    outcome_of(scope).fail(category, message)


AUDIT_DETAILS_KEY = "audit_details"  # a dict of facts for the audit row's ``details`` column


def note_detail(scope: Scope, key: str, value: object) -> None:
    """Add one fact to this request's audit ``details`` (the audit stage makes it storable and bounded)."""
    scope.setdefault("state", {}).setdefault(AUDIT_DETAILS_KEY, {})[key] = value
