"""The event page's body inspector and the markup that keeps hostile strings harmless and readable.

Captured text is attacker-controlled. Everything here escapes first (``markupsafe.escape``) and only then
adds markup, so the result is safe to insert with ``|safe``-free Jinja (it returns ``Markup``):

- :func:`visible`: a value isolated from the surrounding text (``<bdi>``, so a right-to-left override in a
  path cannot reorder the heading around it) with every control and format character (Unicode Cc, Cf, Zl,
  Zp: U+202E, U+200B, NUL, ...) shown as a marked ``\\u202e`` escape instead of acting on the text; a value
  longer than ``limit`` shows its beginning and an expander (``<details>``) with the rest.
- :func:`body_view`: how one body is shown: a JSON tree (nested ``<details>``, collapsible without script)
  and Pygments-highlighted pretty JSON, other text highlighted by content type, form-urlencoded and
  multipart bodies decoded into tables, binary bodies as a hex dump. Bodies over :data:`INLINE_MAX` are not
  put in the page at all: the page links to the body route, which the browser loads on demand.

The JSON tree is built here rather than with a script so that it works with script off and under the
portal's CSP; Pygments (a kept library) does the highlighting.
"""

from __future__ import annotations

import json
import unicodedata
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_mimetype
from pygments.lexers.data import JsonLexer
from pygments.util import ClassNotFound

from apitest import safejson
from apitest.storable import storable, storable_value

INLINE_MAX = 64 * 1024  # bodies above this load on demand
HIGHLIGHT_MAX = 32 * 1024  # highlighting multiplies the HTML size; bigger bodies are shown plain
TREE_MAX_NODES = 1500
HEX_MAX = 4096  # bytes shown in the hex view; the download has them all
LONG_VALUE = 300  # characters shown before an expander
CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


def _is_control(ch: str, keep_newlines: bool) -> bool:
    if keep_newlines and ch in "\n\t":
        return False
    return unicodedata.category(ch) in CONTROL_CATEGORIES


def mark_controls(html: str, keep_newlines: bool = False) -> str:
    """Replace control and format characters in already-escaped HTML with a visible, marked escape."""
    if not any(_is_control(ch, keep_newlines) for ch in html):
        return html
    out: list[str] = []
    for ch in html:
        if _is_control(ch, keep_newlines):
            code = f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
            name = unicodedata.name(ch, "control character")
            out.append(f'<span class="ctl" title="U+{ord(ch):04X} {escape(name)}">{code}</span>')
        else:
            out.append(ch)
    return "".join(out)


def visible(value: Any, limit: int = LONG_VALUE) -> Markup:
    """A captured value, bidi-isolated, control characters visible, long values behind an expander."""
    text = storable("" if value is None else str(value))
    if len(text) <= limit:
        return Markup(  # noqa: S704 - captured text went through escape() first
            f'<bdi class="v">{mark_controls(str(escape(text)))}</bdi>'
        )
    head, rest = text[:limit], text[limit:]
    return Markup(  # noqa: S704 - captured text went through escape() first
        f'<bdi class="v">{mark_controls(str(escape(head)))}</bdi>'
        f'<details class="long"><summary>… show all {len(text):,} characters</summary>'
        f'<bdi class="v">{mark_controls(str(escape(rest)))}</bdi></details>'
    )


def visible_block(value: Any) -> Markup:
    """A multi-line captured text (a body): newlines and tabs kept, other control characters marked."""
    text = storable("" if value is None else str(value))
    return Markup(  # noqa: S704 - captured text went through escape() first
        f'<bdi class="v">{mark_controls(str(escape(text)), keep_newlines=True)}</bdi>'
    )


def highlighted(text: str, content_type: str) -> Markup | None:
    """Pygments HTML for a text body by its content type, or None when no lexer fits or it is too big."""
    if len(text) > HIGHLIGHT_MAX:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    try:
        lexer = JsonLexer() if mime.endswith("json") else get_lexer_for_mimetype(mime)
    except ClassNotFound:
        return None
    return Markup(  # noqa: S704 - captured text went through escape() first
        mark_controls(highlight(text, lexer, FORMATTER), keep_newlines=True)
    )


# JSON tree -----------------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return f'<span class="j-str">{mark_controls(str(escape(json.dumps(value, ensure_ascii=False))))}</span>'
    if value is None or isinstance(value, bool):
        return f'<span class="j-lit">{json.dumps(value)}</span>'
    return f'<span class="j-num">{escape(json.dumps(value))}</span>'


def _count(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_count(v) for v in value)
    return 1


def _node(label: str, value: Any, depth: int) -> str:
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        brackets = "{}" if isinstance(value, dict) else "[]"
        noun = ("key" if brackets == "{}" else "item") + ("" if len(items) == 1 else "s")
        summary = f'{label}{brackets[0]} <span class="muted">{len(items)} {noun}</span>'
        children = "".join(f"<li>{_node(_key(k, isinstance(value, dict)), v, depth + 1)}</li>" for k, v in items)
        opened = " open" if depth < 3 else ""
        return f"<details{opened}><summary>{summary}</summary><ul>{children}</ul>{brackets[1]}</details>"
    return f"{label}{_scalar(value)}"


def _key(key: Any, named: bool) -> str:
    if named:
        quoted = mark_controls(str(escape(json.dumps(str(key), ensure_ascii=False))))
        return f'<span class="j-key">{quoted}</span>: '
    return f'<span class="j-idx">{key}</span>: '


def json_tree(value: Any) -> Markup | None:
    """Nested ``<details>`` for a parsed JSON value, or None when it has too many nodes to be useful."""
    try:
        if _count(value) > TREE_MAX_NODES:
            return None
        tree = _node("", value, 0)
    except RecursionError:
        return None
    return Markup(  # noqa: S704 - captured text went through escape() first
        f'<div class="json-tree">{tree}</div>'
    )


# Decoded forms, multipart and hex ---------------------------------------------------------------------------


def form_fields(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)


def multipart_parts(body: bytes, content_type: str) -> list[dict[str, Any]] | None:
    """The parts of a ``multipart/*`` body: name, filename, content type, size and a text preview."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    parts: list[dict[str, Any]] = []
    for part in message.iter_parts():
        data = part.get_payload(decode=True)
        raw = data if isinstance(data, bytes) else b""
        try:
            preview = raw[:2000].decode("utf-8")
        except UnicodeDecodeError:
            preview = ""
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition") or "",
                "filename": part.get_filename() or "",
                "content_type": part.get_content_type(),
                "size": len(raw),
                "preview": preview,
                "binary": bool(raw) and not preview,
            }
        )
    return parts


def hex_dump(data: bytes, limit: int = HEX_MAX) -> str:
    """``offset  16 hex bytes  |ascii|`` lines, as ``hexdump -C`` prints them."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<49} |{text}|")
    return "\n".join(lines)


# One body -----------------------------------------------------------------------------------------------------


def body_view(payload: dict[str, Any], side: str, raw: bytes) -> dict[str, Any]:
    """How the event page shows the request or response body (``raw`` is its captured bytes).

    ``kind``: empty, deferred (over :data:`INLINE_MAX`: loaded on demand), binary (hex), or text;
    ``size`` is what the application read or sent, ``captured`` what the audit kept."""
    content_type = str(payload.get(f"{side}_content_type") or "")
    size = int(payload.get(f"{side}_size_bytes") or 0)
    view: dict[str, Any] = {
        "side": side,
        "content_type": content_type,
        "size": size,
        "captured": len(raw),
        "truncated": bool(payload.get(f"{side}_truncated")),
        "kind": "empty",
        "text": "",
        "tree": None,
        "highlighted": None,
        "form": None,
        "multipart": None,
        "hex": "",
    }
    mime = content_type.split(";", 1)[0].strip().lower()
    if not raw:
        return view
    if len(raw) > INLINE_MAX:
        view["kind"] = "deferred"
        return view
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if mime.startswith("multipart/"):
        try:
            view["multipart"] = multipart_parts(raw, content_type)
        except (ValueError, LookupError, TypeError):
            view["multipart"] = None
    if text is None:
        view["kind"] = "binary"
        view["hex"] = hex_dump(raw)
        return view
    view["kind"] = "text"
    view["text"] = text
    if mime == "application/x-www-form-urlencoded":
        view["form"] = form_fields(text)
    try:
        parsed = storable_value(safejson.loads(text))  # a lone surrogate (\ud800) cannot reach the page
    except (ValueError, RecursionError):
        view["highlighted"] = highlighted(text, content_type) if mime and mime != "text/plain" else None
        return view
    pretty = json.dumps(parsed, indent=2, ensure_ascii=False)
    view["json"] = True
    view["tree"] = json_tree(parsed)
    view["highlighted"] = highlighted(pretty, "application/json")
    view["text"] = pretty
    return view
