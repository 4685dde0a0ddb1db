from __future__ import annotations

from apitest.portal.diff import diff_bodies, diff_maps, diff_values


def test_key_order_is_ignored() -> None:
    rows = diff_values({"a": 1, "b": {"c": [1, 2]}}, {"b": {"c": [1, 2]}, "a": 1})
    assert {r.kind for r in rows} == {"same"}


def test_changes_additions_and_removals_have_paths() -> None:
    rows = diff_values({"a": 1, "gone": True, "list": [1, {"x": 1}]}, {"a": 2, "new": "n", "list": [1, {"x": 2}, 3]})
    kinds = {r.path: r.kind for r in rows}
    assert kinds == {
        "$.a": "changed",
        "$.gone": "removed",
        "$.list[0]": "same",
        "$.list[1].x": "changed",
        "$.list[2]": "added",
        "$.new": "added",
    }


def test_header_maps_compare_value_lists() -> None:
    rows = diff_maps({"Accept": ["*/*"], "X-A": ["1"]}, {"Accept": ["*/*"], "X-A": ["2"]})
    assert [(r.path, r.kind, r.a, r.b) for r in rows] == [
        ("Accept", "same", "*/*", "*/*"),
        ("X-A", "changed", "1", "2"),
    ]


def test_json_bodies_structurally() -> None:
    d = diff_bodies('{"a": 1, "b": 2}', '{"b":2,"a":1}')
    assert d.mode == "json" and d.equal


def test_text_bodies_line_by_line() -> None:
    d = diff_bodies("one\ntwo\nthree", "one\nTWO\nthree\nfour")
    assert d.mode == "text" and not d.equal
    assert [(r.kind, r.a, r.b) for r in d.rows if r.kind != "same"] == [
        ("changed", "two", "TWO"),
        ("added", "", "four"),
    ]


def test_no_bodies() -> None:
    assert diff_bodies(None, "").mode == "empty"
