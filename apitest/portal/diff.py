"""Structural comparison of two captured requests (the Compare page).

Mappings are compared key by key with key order ignored; lists position by position; JSON bodies are
parsed first, so ``{"a":1,"b":2}`` and ``{"b": 2, "a": 1}`` are equal. Bodies that are not JSON are
compared as text, line by line.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from apitest import safejson
from apitest.storable import storable_value

MAX_ROWS = 500


@dataclass
class DiffRow:
    path: str  # "$.items[2].name", or a header name
    kind: str  # same | changed | added | removed
    a: str  # rendered value on the left ("" when absent)
    b: str


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)  # a header's or query parameter's values
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def diff_values(a: Any, b: Any, path: str = "$", rows: list[DiffRow] | None = None) -> list[DiffRow]:
    rows = [] if rows is None else rows
    if len(rows) >= MAX_ROWS:
        return rows
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in b:
                rows.append(DiffRow(child, "removed", _show(a[key]), ""))
            elif key not in a:
                rows.append(DiffRow(child, "added", "", _show(b[key])))
            else:
                diff_values(a[key], b[key], child, rows)
    elif isinstance(a, list) and isinstance(b, list) and not all(isinstance(v, str) for v in a + b):
        for i in range(max(len(a), len(b))):
            child = f"{path}[{i}]"
            if i >= len(b):
                rows.append(DiffRow(child, "removed", _show(a[i]), ""))
            elif i >= len(a):
                rows.append(DiffRow(child, "added", "", _show(b[i])))
            else:
                diff_values(a[i], b[i], child, rows)
    else:
        rows.append(DiffRow(path, "same" if a == b else "changed", _show(a), _show(b)))
    return rows


def diff_maps(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[DiffRow]:
    """Headers or query: one row per name, ``same`` rows included so the table reads side by side."""
    return diff_values(a or {}, b or {}, "")


def parse_json(text: str | None) -> tuple[bool, Any]:
    if text is None or not text.strip():
        return False, None
    try:
        return True, storable_value(safejson.loads(text))  # a lone surrogate cannot reach the page
    except ValueError:
        return False, None


@dataclass
class BodyDiff:
    mode: str  # json | text | empty
    rows: list[DiffRow]
    equal: bool


def diff_bodies(a: str | None, b: str | None) -> BodyDiff:
    a_json, a_value = parse_json(a)
    b_json, b_value = parse_json(b)
    if a_json and b_json:
        rows = diff_values(a_value, b_value)
        return BodyDiff("json", rows, all(r.kind == "same" for r in rows))
    if not (a or b):
        return BodyDiff("empty", [], True)
    rows = []
    matcher = difflib.SequenceMatcher(None, (a or "").splitlines(), (b or "").splitlines(), autojunk=False)
    a_lines, b_lines = (a or "").splitlines(), (b or "").splitlines()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [DiffRow(f"line {i + 1}", "same", a_lines[i], b_lines[j1 + k]) for k, i in enumerate(range(i1, i2))]
        else:
            left, right = a_lines[i1:i2], b_lines[j1:j2]
            for k in range(max(len(left), len(right))):
                kind = "changed" if k < len(left) and k < len(right) else "removed" if k < len(left) else "added"
                rows.append(
                    DiffRow(
                        f"line {i1 + k + 1}" if k < len(left) else f"line {j1 + k + 1} (b)",
                        kind,
                        left[k] if k < len(left) else "",
                        right[k] if k < len(right) else "",
                    )
                )
        if len(rows) >= MAX_ROWS:
            break
    return BodyDiff("text", rows[:MAX_ROWS], a == b)
