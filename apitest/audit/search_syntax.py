"""The audit list's query box: a small search syntax compiled to the filter parameters.

``status:5xx method:POST route:echo_post header:x-foo=bar duration>500 fp:sha256:0123456789ab timeout``
is the same view as ``?status=5xx&method=POST&route_name=echo_post&header=x-foo%3Dbar&duration_min=500&
fp=sha256:0123456789ab&q=timeout``. A term is ``key:value`` (the keys are the ``search_key`` of each
filter in :mod:`apitest.audit.filter_registry`), ``duration>N`` / ``duration<N`` (milliseconds; ``>=`` and
``<=`` read the same), or a free word; free words (and ``"quoted phrases"``) together are the text search
``q``. A value with spaces is quoted: ``path:"/v1/a b"``. A word that looks like ``key:value`` with an
unknown key is an error (quote it to search for it as text), as is a key given twice. Values are checked
by the filters themselves, so ``status:9xx`` reports the same message as ``?status=9xx``.

Hand-written rather than a parser library: the grammar is one regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apitest.audit.filter_registry import FILTERS

_TERM = re.compile(
    r'\s*(?:(?P<key>[A-Za-z_]+)(?P<op>:|>=|<=|>|<)(?:"(?P<qv>[^"]*)"|(?P<v>\S*))|"(?P<phrase>[^"]*)"|(?P<word>\S+))'
)
KEYS: dict[str, str] = {
    s.search_key: s.param for s in FILTERS if s.search_key and not s.search_key.endswith((">", "<"))
}
DURATION = {">": "duration_min", ">=": "duration_min", "<": "duration_max", "<=": "duration_max"}
HELP = " ".join([*(f"{k}:…" for k in KEYS), "duration>N", "duration<N", "free words"])


@dataclass
class Compiled:
    params: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _param_of(key: str, op: str) -> str | None:
    if key.lower() == "duration" and op in DURATION:
        return DURATION[op]
    return KEYS.get(key.lower()) if op == ":" else None


def compile_search(text: str) -> Compiled:
    """The filter parameters ``text`` stands for, and what in it could not be understood."""
    out = Compiled()
    words: list[str] = []
    for m in _TERM.finditer(text):
        if m.group("phrase") is not None or m.group("word") is not None:
            words.append(m.group("phrase") if m.group("phrase") is not None else m.group("word"))
            continue
        key, op = m.group("key"), m.group("op")
        value = m.group("qv") if m.group("qv") is not None else m.group("v") or ""
        param = _param_of(key, op)
        if param is None:
            out.errors.append(f"unknown key {key}{op} (known: {HELP}; quote a word to search for it as text)")
        elif not value:
            out.errors.append(f"{key}{op} needs a value")
        elif param in out.params:
            out.errors.append(f"{key} given twice")
        else:
            out.params[param] = value
    phrase = " ".join(w for w in words if w)
    if phrase:
        out.params["q"] = phrase
    return out


def _quoted(value: str) -> str:
    return f'"{value}"' if (not value or any(c.isspace() for c in value)) and '"' not in value else value


def to_search(params: dict[str, str]) -> str:
    """The search expression of accepted filter parameters (the query box shows the current view)."""
    terms: list[str] = []
    by_param = {param: key for key, param in KEYS.items()}
    for param, value in params.items():
        if param == "duration_min":
            terms.append(f"duration>={value}")
        elif param == "duration_max":
            terms.append(f"duration<={value}")
        elif param in by_param:
            terms.append(f"{by_param[param]}:{_quoted(value)}")
    if params.get("q"):
        q = params["q"]
        terms.append(f'"{q}"' if ":" in q and '"' not in q else q)
    return " ".join(terms)
