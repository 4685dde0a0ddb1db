"""The gateway snippets and result tables of ``docs/testing-a-gateway.md``, read and rewritten by the suite.

A snippet is the fenced block after ``<!-- gateway: <recipe> <kind> -->``; a result table sits between
``<!-- results: <recipe> -->`` and ``<!-- /results -->``, one row per gateway. The suite configures each
gateway from its snippet and compares what it observed with the table; ``make gateways-docs``
(``APITEST_GATEWAY_DOCS=write``) rewrites the tables from a run instead.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-a-gateway.md"
SNIPPET = re.compile(r"<!-- gateway: (?P<recipe>[\w-]+) (?P<kind>\w+) -->\n```\w*\n(?P<body>.*?)```", re.S)
RESULTS = re.compile(r"(<!-- results: (?P<recipe>[\w-]+) -->\n)(?P<table>.*?)(<!-- /results -->)", re.S)
GATEWAY_COLUMN = "Gateway"

Row = dict[str, str]


def text() -> str:
    return DOC.read_text()


def snippets(source: str | None = None) -> dict[tuple[str, str], str]:
    return {(m["recipe"], m["kind"]): m["body"] for m in SNIPPET.finditer(source or text())}


def snippet(recipe: str, kind: str) -> str:
    found = snippets().get((recipe, kind))
    if found is None:
        raise LookupError(f"{DOC.name} has no <!-- gateway: {recipe} {kind} --> block")
    return found


def parse_table(table: str) -> list[Row]:
    lines = [line.strip() for line in table.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return []
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header = cells[0]
    return [dict(zip(header, row, strict=True)) for row in cells[2:]]


def tables(source: str | None = None) -> dict[str, list[Row]]:
    return {m["recipe"]: parse_table(m["table"]) for m in RESULTS.finditer(source or text())}


def documented(recipe: str, kind: str) -> Row | None:
    for row in tables().get(recipe, []):
        if row.get(GATEWAY_COLUMN) == kind:
            return row
    return None


def render_table(rows: list[Row]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row[c] for c in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def rewrite(observed: dict[str, list[Row]]) -> None:
    """Replace the tables of the recipes in ``observed`` (rows in the given order)."""

    def replace(match: re.Match[str]) -> str:
        rows = observed.get(match["recipe"])
        if not rows:
            return match[0]
        return match[1] + render_table(rows) + match[4]

    DOC.write_text(RESULTS.sub(replace, text()))
