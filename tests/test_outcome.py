"""The typed request outcome: created once per scope, one vocabulary of error categories."""

from __future__ import annotations

from typing import Any

from apitest.audit import records
from apitest.failures import note_failure
from apitest.identity import Identity
from apitest.outcome import ERROR_CATEGORIES, OUTCOME_KEY, REJECTED_CATEGORIES, outcome_of, peek


def test_one_outcome_per_scope_and_failures_land_in_it() -> None:
    scope: dict[str, Any] = {"type": "http"}
    assert peek(scope) is None
    outcome = outcome_of(scope)
    assert outcome_of(scope) is outcome and scope[OUTCOME_KEY] is outcome
    note_failure(scope, "rate_limited", "slow down")
    assert (outcome.error_category, outcome.error_message) == ("rate_limited", "slow down")


def test_as_state_names_only_what_was_set() -> None:
    scope: dict[str, Any] = {}
    outcome = outcome_of(scope)
    assert outcome.as_state() == {}
    who = Identity(subject="s", auth_type="apikey")
    outcome.identity, outcome.request_id, outcome.dispatch_source = who, "r1", "tryit"
    assert outcome.as_state() == {"identity": who, "request_id": "r1", "dispatch_source": "tryit"}


def test_the_audit_vocabulary_is_the_outcome_literal() -> None:
    assert records.ERROR_CATEGORIES == ERROR_CATEGORIES
    assert REJECTED_CATEGORIES <= set(ERROR_CATEGORIES)
    assert records.SOURCES == ("wire", "tryit", "replay")
