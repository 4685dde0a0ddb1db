"""The audit list page's view of its URL: the canonical query, hidden fields, removable chips and the compare
selection that travels with the list across pages.

A list URL carries only non-empty parameters: a form submission with empty fields, or a ``search``
expression, is redirected (303) to the same view spelled with the filter parameters, so a shared link is
short and every filter shows as a chip that can be removed on its own. Filters without a field in the form
(``group``, ``category``, ``path_exact``, ``user``, ``session``, ``header``) ride along as hidden fields, so
"Apply" never drops them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from apitest.audit.filter_registry import ALIASES, BY_PARAM
from apitest.audit.filters import ParsedFilters
from apitest.audit.records import REJECTED_CATEGORIES
from apitest.audit.search_syntax import compile_search, to_search

KEPT = ("next", "limit", "a", "b")  # not filters, but part of what the list shows
SELECTION = ("a", "b")
_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def canonical_query(items: Sequence[tuple[str, str]]) -> str | None:
    """The query string this list URL should have, or ``None`` when it already has it.

    Empty values are dropped; a ``search`` expression that compiles cleanly is replaced by its parameters
    (explicit parameters win). A ``search`` with errors stays, so the page can show them next to the text."""
    text = next((v for k, v in items if k == "search"), "").strip()
    nonempty = [(k, v) for k, v in items if v.strip()]
    changed = len(nonempty) != len(items)
    kept = [(k, v) for k, v in nonempty if k != "search"]
    if text:
        compiled = compile_search(text)
        if compiled.errors:
            return urlencode(nonempty) if changed else None
        present = {ALIASES.get(k, k) for k, _ in kept}
        kept += [(k, v) for k, v in compiled.params.items() if k not in present]
        changed = True
    return urlencode(kept) if changed else None


def selection(query: Mapping[str, str]) -> dict[str, str]:
    """The compare picks (``a``, ``b``) carried in the URL, when they look like event ids."""
    return {k: query[k].lower() for k in SELECTION if _ID.match(query.get(k, ""))}


def list_view(parsed: ParsedFilters, query: Mapping[str, str], shown_ids: Sequence[str]) -> dict[str, Any]:
    """What the template needs beyond the data: hidden fields, chips with their removal links, the search text,
    and which compare picks are on another page."""
    picks = selection(query)
    params = parsed.params
    hidden = [(k, v) for k, v in params.items() if k in BY_PARAM and not BY_PARAM[k].form]
    chips = [
        {"param": p, "text": text, "remove": {**{k: v for k, v in params.items() if k != p}, **picks}}
        for p, text in parsed.chips
    ]
    elsewhere = [(k, v) for k, v in picks.items() if v not in shown_ids]
    search_text = query.get("search", "").strip() or to_search(params)
    return {
        "hidden": hidden,
        "chips": chips,
        "picks": picks,
        "picks_elsewhere": elsewhere,
        "search": search_text,
        "rejected_categories": sorted(REJECTED_CATEGORIES),
    }


def caller_label(event: Mapping[str, Any]) -> str:
    """Who sent a row, in the words every page uses: the identity's email, key or subject; "anonymous" for a
    request let in by anonymous mode; "none (rejected)" for one the inbound chain refused; else "none"."""
    who = event.get("user_email") or event.get("api_key_name") or event.get("user_subject")
    if who:
        return str(who)
    if event.get("auth_type") == "anonymous":
        return "anonymous"
    return "none (rejected)" if event.get("error_category") in REJECTED_CATEGORIES else "none"


WARN_CATEGORIES = frozenset({"client_disconnected"})


def outcome(event: Mapping[str, Any]) -> dict[str, str]:
    """The status badge: its CSS class and tooltip. A failed request whose status says success (a fault that
    cut the body short, an aborted stream) is red, or amber when the client went away, never green."""
    status = int(event.get("status") or 0)
    category = str(event.get("error_category") or "")
    failed = event.get("success") is False or event.get("client_complete") is False
    if failed and status < 400:
        css = (
            "warn" if category in WARN_CATEGORIES or (not category and event.get("client_complete") is False) else "bad"
        )
        reason = category or "the response did not reach the client complete"
        return {"css": css, "title": f"{status} sent, but the request failed: {reason}", "mark": "!"}
    return {"css": f"s{str(status)[:1]}", "title": f"status {status}", "mark": ""}
