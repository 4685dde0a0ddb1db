"""The gateway recipes of docs/testing-a-gateway.md are complete (no gateway needed: part of `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.gateways import doc
from tests.gateways.harness import KINDS

RECIPES_TEST = Path(__file__).with_name("test_recipes.py")


def recipes_used_by_the_suite() -> tuple[set[str], set[str]]:
    """The recipe ids the suite passes to ``recipe_gateway`` (snippets) and ``results.check`` (tables)."""
    snippets, tables = set(), set()
    for node in ast.walk(ast.parse(RECIPES_TEST.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "recipe_gateway":
                snippets.add(node.args[0].value)
            elif name == "check":
                tables.add(node.args[0].value)
    return snippets, tables


def test_every_snippet_the_suite_uses_exists_for_every_gateway() -> None:
    used, _ = recipes_used_by_the_suite()
    found = doc.snippets()
    assert used, "the suite names no recipe"
    assert {(r, k) for r in used for k in KINDS} <= set(found)
    assert {r for r, _ in found} == used, "a snippet in the doc that no test runs"


def test_every_table_has_a_row_per_gateway_and_a_test() -> None:
    _, checked = recipes_used_by_the_suite()
    tables = doc.tables()
    assert set(tables) == checked
    for recipe, rows in tables.items():
        assert [row[doc.GATEWAY_COLUMN] for row in rows] == list(KINDS), recipe
        assert len({tuple(row) for row in rows}) == 1, f"{recipe}: rows with different columns"


def test_a_table_round_trips() -> None:
    rows = [{"Gateway": "nginx", "a": "1 2"}, {"Gateway": "caddy", "a": "-"}]
    assert doc.parse_table(doc.render_table(rows)) == rows
