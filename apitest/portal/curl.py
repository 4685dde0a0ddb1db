""" "Copy as curl": a shell command that repeats a captured request against this server.

Values the audit stored as ``[redacted]`` (credentials) are left out and named in a comment, so the
command never carries a fake credential; everything else is single-quoted for POSIX shells.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlencode

REDACTED = "[redacted]"
SKIPPED_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive", "te"})


def curl_command(
    base_url: str,
    method: str,
    path: str,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    body: str | None,
    body_is_binary: bool = False,
) -> str:
    omitted: list[str] = []
    pairs: list[tuple[str, str]] = []
    for name, values in (query or {}).items():
        if REDACTED in values:
            omitted.append(f"query {name}")
            continue
        pairs += [(name, v) for v in values]
    url = base_url.rstrip("/") + path + ("?" + urlencode(pairs) if pairs else "")
    head = ["curl", "-sS", "-i"]
    if method != "GET" or body:
        head += ["-X", shlex.quote(method)]
    head.append(shlex.quote(url))
    parts = [" ".join(head)]
    for name, values in sorted((headers or {}).items()):
        if name.lower() in SKIPPED_HEADERS:
            continue
        if REDACTED in values:
            omitted.append(f"header {name}")
            continue
        parts += [f"-H {shlex.quote(f'{name}: {value}')}" for value in values]
    if body:
        if body_is_binary:
            omitted.append("binary body (save it and add --data-binary @body.bin)")
        else:
            parts.append(f"--data-binary {shlex.quote(body)}")
    command = " \\\n  ".join(parts)
    if omitted:
        command = "# not included: " + "; ".join(omitted) + "\n" + command
    return command
