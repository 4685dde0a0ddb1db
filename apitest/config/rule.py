"""One configuration rule: an id, a severity, a check over :class:`Settings`, and the fix to suggest.

Rules are declared once (:mod:`apitest.config.validate` holds the errors, :mod:`apitest.config.advice` the
warnings, :mod:`apitest.config.rules` the list of both) and read by three consumers:

- ``load_settings`` refuses a configuration with any ``error`` finding (the messages of
  :func:`apitest.config.validate.validate`, all reported together);
- ``apitest doctor`` lists the error findings under its ``config`` check and reports every finding under
  the check named by the rule's ``key`` (``portal.cookie_secret``, ``audit``, ...);
- the portal logs the ``warning`` findings of the ``portal.*`` rules when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from apitest.config.model import Settings

# error: the configuration is refused, the server does not start. warning: it starts and says so.
Severity = Literal["error", "warning"]
Check = Callable[["Settings", Mapping[str, str]], Iterable[str]]


@dataclass(frozen=True)
class Rule:
    id: str  # unique, e.g. "portal.cookie_secret.length"
    key: str  # the setting it is about; the doctor check it is reported under
    severity: Severity
    check: Check  # one message per problem found; nothing when the settings pass
    fix: str = ""  # what the doctor suggests ("" for the generic "edit the file" advice)
    breaks: bool = False  # a warning the doctor fails on: the server starts, but the feature cannot work

    def findings(self, settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
        return [Finding(self, message) for message in self.check(settings, environ)]


@dataclass(frozen=True)
class Finding:
    rule: Rule
    message: str

    @property
    def fails(self) -> bool:
        """Whether ``apitest doctor`` reports it as FAIL (else WARN)."""
        return self.rule.severity == "error" or self.rule.breaks


def error(key: str, name: str = "", *, fix: str = "") -> Callable[[Check], Rule]:
    """Decorator: an error rule about ``key`` (id ``key`` or ``key.name``) checked by the decorated function."""
    return lambda check: Rule(f"{key}.{name}" if name else key, key, "error", check, fix)


def warning(key: str, name: str = "", *, fix: str = "", breaks: bool = False) -> Callable[[Check], Rule]:
    """Decorator: a warning rule about ``key`` (id ``key`` or ``key.name``)."""
    return lambda check: Rule(f"{key}.{name}" if name else key, key, "warning", check, fix, breaks)


def at_least(key: str, minimum: float = 1) -> Rule:
    """An error rule: the number at dotted ``key`` is at least ``minimum``."""
    read = attrgetter(key)

    def check(s: Settings, environ: Mapping[str, str]) -> Iterable[str]:
        value: float = read(s)
        if value < minimum:
            yield f"{key} must be >= {minimum:g}, got {value:g}"

    return Rule(f"{key}.minimum", key, "error", check)
