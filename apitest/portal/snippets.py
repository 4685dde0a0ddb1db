"""Code that repeats a captured request against this server: curl, HTTPie, Python httpx and JavaScript fetch.

Every snippet sends the exact captured bytes. Values the audit stored as ``[redacted]`` (credentials) are
left out and named in a comment, so a snippet never carries a fake credential; add your own key or token.

- curl: a text body is one single-quoted ``--data-binary`` argument; a body a shell argument cannot carry
  exactly (binary, a NUL or another control character, a leading ``@`` that curl would read as a file name)
  is piped in as base64: ``printf '%s' '<base64>' | base64 -d | curl ... --data-binary @-``.
- HTTPie reads its body from standard input the same way (``printf ... | http ...``).
- Python gets the body as a ``bytes`` literal, JavaScript as a string or, for binary, a ``Uint8Array``
  decoded from base64.
- A body over :data:`INLINE_MAX` is not inlined (it would make the event page as large as the body): the
  snippet reads ``request-body.bin``, which the event page's Download link saves.

Shell words are quoted with :func:`shlex.quote`; Python literals with :func:`repr`; JavaScript strings with
:func:`json.dumps` (a JSON string is a JavaScript string literal).
"""

from __future__ import annotations

import base64
import json
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

REDACTED = "[redacted]"
INLINE_MAX = 64 * 1024
BODY_FILE = "request-body.bin"
SKIPPED_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive", "te"})
SAFE_PATH = "/:@!$&'()*+,;=-._~%"
NO_BODY_METHODS = frozenset({"GET", "HEAD"})
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass
class Captured:
    """A captured request with credentials taken out: what every snippet is built from."""

    url: str
    method: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    omitted: list[str] = field(default_factory=list)

    @property
    def inline(self) -> bool:
        return len(self.body) <= INLINE_MAX

    @property
    def shell_safe_text(self) -> str | None:
        """The body as text a single-quoted shell word carries exactly, or None."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if text.startswith("@") or any(c not in "\t\n" and unicodedata.category(c) in HIDDEN for c in text):
            return None  # control and format characters: the page shows them escaped, a copy would differ
        return text

    def comment(self, mark: str) -> str:
        return f"{mark} not included: " + "; ".join(self.omitted) + "\n" if self.omitted else ""


def captured(
    base_url: str,
    method: str,
    path: str,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    body: bytes | None,
) -> Captured:
    omitted: list[str] = []
    pairs: list[tuple[str, str]] = []
    for name, values in (query or {}).items():
        if REDACTED in values:
            omitted.append(f"query {name} (redacted)")
            continue
        pairs += [(name, v) for v in values]
    url = base_url.rstrip("/") + quote(path, safe=SAFE_PATH) + ("?" + urlencode(pairs) if pairs else "")
    kept: list[tuple[str, str]] = []
    for name, values in sorted((headers or {}).items()):
        if name.lower() in SKIPPED_HEADERS:
            continue
        if REDACTED in values:
            omitted.append(f"header {name} (redacted)")
            continue
        kept += [(name, value) for value in values]
    return Captured(url=url, method=method, headers=kept, body=body or b"", omitted=omitted)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _shell_body(c: Captured) -> tuple[str, str]:
    """(what goes before ``curl``/``http``, what curl adds at the end) for the body."""
    if not c.body:
        return "", ""
    if not c.inline:
        return f"cat {BODY_FILE} | ", "--data-binary @-"
    text = c.shell_safe_text
    if text is not None:
        return "", f"--data-binary {shlex.quote(text)}"
    return f"printf '%s' {shlex.quote(_b64(c.body))} | base64 -d | ", "--data-binary @-"


def curl(c: Captured) -> str:
    pipe, data = _shell_body(c)
    head = ["curl", "-sS", "-i"]
    if c.method != "GET" or c.body:
        head += ["-X", shlex.quote(c.method)]
    head.append(shlex.quote(c.url))
    parts = [" ".join(head)]
    parts += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in c.headers]
    if data:
        parts.append(data)
    return c.comment("#") + pipe + " \\\n  ".join(parts)


def httpie(c: Captured) -> str:
    pipe, _ = _shell_body(c)
    if c.body and c.inline and c.shell_safe_text is not None:
        pipe = f"printf '%s' {shlex.quote(c.shell_safe_text)} | "
    words = ["http", "--print=HhBb", shlex.quote(c.method), shlex.quote(c.url)]
    # ``Name:value``; an empty value needs ``Name;`` in HTTPie's item syntax.
    words += [shlex.quote(f"{name}:{value}" if value else f"{name};") for name, value in c.headers]
    if not c.body:
        words.insert(1, "--ignore-stdin")
    return c.comment("#") + pipe + " \\\n  ".join([" ".join(words[:4]), *words[4:]])


def python_httpx(c: Captured) -> str:
    lines = [c.comment("#").rstrip("\n")] if c.omitted else []
    lines += ["import httpx", ""]
    if c.body and not c.inline:
        lines += [f"with open({BODY_FILE!r}, 'rb') as f:", "    body = f.read()", ""]
    lines += ["response = httpx.request(", f"    {c.method!r},", f"    {c.url!r},"]
    if c.headers:
        lines.append("    headers=[")
        lines += [f"        ({name!r}, {value!r})," for name, value in c.headers]
        lines.append("    ],")
    if c.body:
        lines.append(f"    content={c.body!r}," if c.inline else "    content=body,")
    lines += [")", "print(response.status_code, response.headers)", "print(response.text)"]
    return "\n".join(lines)


def javascript_fetch(c: Captured) -> str:
    omitted = list(c.omitted)
    body = c.body
    if body and c.method in NO_BODY_METHODS:
        omitted.append(f"the body ({len(body)} bytes): fetch sends none with {c.method}")
        body = b""
    lines = ["// not included: " + "; ".join(omitted)] if omitted else []
    options = [f"  method: {json.dumps(c.method)},"]
    if c.headers:
        options.append("  headers: [")
        options += [f"    [{json.dumps(name)}, {json.dumps(value)}]," for name, value in c.headers]
        options.append("  ],")
    if body and len(body) > INLINE_MAX:
        lines.append(f"// body: the file {BODY_FILE} (Download on the event page), e.g. from an <input type=file>")
        options.append("  body: requestBody, // a Blob or ArrayBuffer holding " + BODY_FILE)
    elif body:
        try:
            options.append(f"  body: {json.dumps(body.decode('utf-8'))},")
        except UnicodeDecodeError:
            options.append(f"  body: Uint8Array.from(atob({json.dumps(_b64(body))}), (ch) => ch.charCodeAt(0)),")
    lines += [f"const response = await fetch({json.dumps(c.url)}, {{", *options, "});"]
    lines.append("console.log(response.status, await response.text());")
    return "\n".join(lines)


SNIPPETS: tuple[tuple[str, str, Callable[[Captured], str]], ...] = (
    ("curl", "curl", curl),
    ("httpie", "HTTPie", httpie),
    ("python", "Python httpx", python_httpx),
    ("fetch", "JavaScript fetch", javascript_fetch),
)


def all_snippets(c: Captured) -> list[dict[str, str]]:
    """``[{id, label, code}]`` in the order the event page shows them."""
    return [{"id": key, "label": label, "code": make(c)} for key, label, make in SNIPPETS]
