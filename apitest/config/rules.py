"""Every configuration rule, declared once, and the questions its three readers ask.

- :func:`apitest.config.validate.validate` (through ``load_settings``): the messages of the error rules;
- ``apitest doctor``: :func:`findings` under the check named by each rule's ``key``;
- the portal at boot: :func:`boot_warnings`, the warnings of the ``portal.*`` rules.

To add a rule: write a small check in :mod:`apitest.config.validate` (an error: the configuration is
refused) or :mod:`apitest.config.advice` (a warning), add it to ``ERRORS`` or ``WARNINGS``, and give it a
good and a bad case in ``tests/config/test_rules.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from apitest.config.advice import WARNINGS
from apitest.config.rule import Finding, Rule, Severity
from apitest.config.validate import ERRORS

if TYPE_CHECKING:
    from apitest.config.model import Settings

RULES: tuple[Rule, ...] = ERRORS + WARNINGS
NO_ENVIRONMENT: Mapping[str, str] = MappingProxyType({})
PORTAL = "portal."


def findings(
    settings: Settings, environ: Mapping[str, str] = NO_ENVIRONMENT, *, severity: Severity | None = None
) -> list[Finding]:
    """What every rule (or every rule of one severity) finds, in rule order."""
    return [
        found
        for rule in RULES
        if severity is None or rule.severity == severity
        for found in rule.findings(settings, environ)
    ]


def boot_warnings(settings: Settings) -> list[Finding]:
    """The warnings the portal logs when it is built (warning rules read only the settings)."""
    return [f for f in findings(settings, severity="warning") if f.rule.key.startswith(PORTAL)]


__all__ = ["RULES", "Finding", "Rule", "Severity", "boot_warnings", "findings"]
