"""Jinja2 rendering for the portal pages, and the security headers every portal response carries.

Autoescaping is on for every template (captured requests are attacker-controlled text), undefined
variables are errors, and URLs are built from route names (``url_for``), never by concatenation.
Pages load only same-origin scripts and styles, so the Content-Security-Policy forbids inline script
and inline style outright.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import markupsafe
from starlette.requests import Request
from starlette.responses import HTMLResponse

from apitest.middleware.prefix import PREFIX_KEY
from apitest.portal import listing
from apitest.portal.inspect import visible, visible_block

# The repository's top-level templates/ (an image links it next to the installed package);
# APITEST_TEMPLATES_DIR points elsewhere.
TEMPLATES_DIR = Path(os.environ.get("APITEST_TEMPLATES_DIR") or Path(__file__).resolve().parents[2] / "templates")
STATIC_DIR = Path(__file__).resolve().parents[1] / "static" / "portal"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: datetime | str | None, precise: bool = True) -> str:
    """``2026-11-21 10:42:07.123`` (UTC; the pages say so in their headings), from a datetime or RFC 3339."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    value = moment.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond // 1000:03d}" if precise else "")


def when_tag(value: datetime | str | None, precise: bool = True) -> markupsafe.Markup:
    """:func:`when` inside ``<time datetime="...">``, so the page script can show it in local time."""
    text = when(value, precise)
    if not text or text == value:
        return markupsafe.Markup("{}").format(text)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    assert moment is not None
    stamp = iso(moment)
    return markupsafe.Markup('<time datetime="{}" data-precise="{}">{}</time>').format(
        stamp, "1" if precise else "0", text
    )


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def number(n: int | float | None) -> str:
    if n is None:
        return ""
    return f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"


def duration(ms: float | None) -> str:
    """``12.345 ms``: the audit keeps durations to the microsecond, so the page shows them to the microsecond."""
    if ms is None:
        return ""
    return f"{ms:,.3f} ms"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@cache
def asset_version(name: str) -> str:
    path = STATIC_DIR / name
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "0"


def make_environment(directory: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(outcome=listing.outcome, caller_label=listing.caller_label)
    env.filters.update(
        when=when_tag, when_text=when, iso=iso, bytes=human_bytes, number=number, pretty_json=pretty_json
    )
    env.filters.update(visible=visible, visible_block=visible_block, duration=duration)
    return env


class Renderer:
    def __init__(self, globals: Mapping[str, Any], directory: Path = TEMPLATES_DIR) -> None:
        self.env = make_environment(directory)
        self.env.globals.update(globals)

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        app = request.app

        prefix = str(request.scope.get(PREFIX_KEY, ""))  # behind a gateway's path prefix (middleware/prefix.py)

        def url_for(name: str, /, query: Mapping[str, Any] | None = None, **path_params: Any) -> str:
            path = prefix + str(app.url_path_for(name, **{k: str(v) for k, v in path_params.items()}))
            clean = {k: v for k, v in (query or {}).items() if v not in (None, "")}
            return path + ("?" + urlencode(clean, doseq=True) if clean else "")

        def static(name: str) -> str:
            return url_for("portal:static", path=name) + f"?v={asset_version(name)}"

        html = self.env.get_template(template).render(
            {"request": request, "url_for": url_for, "static": static, "current": prefix + request.url.path, **context}
        )
        return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})
