"""Why a request failed, for the audit row: :func:`note_failure` sets ``error_category`` and
``error_message`` in ``scope["state"]``, where the audit stage reads them when the request ends.

A leaf module (it imports nothing from the app), so endpoint modules can use it without an import cycle
through ``apitest.endpoints`` (whose package imports every group). ``apitest.pipeline`` re-exports it.
"""

from __future__ import annotations

from starlette.types import Scope


def note_failure(scope: Scope, category: str, message: str) -> None:
    """Tell the audit why this request failed (``error_category`` / ``error_message`` of its row)."""
    state = scope.setdefault("state", {})
    state["error_category"] = category
    state["error_message"] = message


DETAILS_KEY = "audit_details"  # the same as apitest.audit.capture.AUDIT_DETAILS_KEY (imported from there: a cycle)


def note_details(scope: Scope, **facts: object) -> None:
    """Add facts to this request's audit row (its ``details`` JSON)."""
    details = scope.setdefault("state", {}).setdefault(DETAILS_KEY, {})
    details.update(facts)
