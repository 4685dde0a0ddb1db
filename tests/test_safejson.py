from __future__ import annotations

import pytest

from apitest.safejson import MAX_DEPTH, JSONError, depth_of, loads


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 8192, "nested deeper"),
        (b"[" * 100 + b"]" * 100, "nested deeper"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested deeper"),
        (b"NaN", "NaN is not valid JSON"),
        (b"[Infinity]", "Infinity is not valid JSON"),
        (b"1e400", "number out of range"),
        (b"-1e400", "number out of range"),
        (b"1" * 5000, "Exceeds the limit"),
        (b"\xff", "not UTF-8"),
        (b"{", "invalid JSON"),
    ],
)
def test_hostile_json_is_a_value_error_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(JSONError, match=reason):
        loads(raw)
    assert issubclass(JSONError, ValueError)


def test_duplicate_keys_are_refused_only_when_asked() -> None:
    assert loads(b'{"a":1,"a":2}') == {"a": 2}
    with pytest.raises(JSONError, match="duplicate key"):
        loads(b'{"a":1,"b":{"c":1,"c":2}}', unique_keys=True)


def test_ordinary_json_parses() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested) is not None
    assert loads(b'{"a":[1,2.5,"x",null,true]}') == {"a": [1, 2.5, "x", None, True]}
    assert depth_of({"a": [1, {"b": []}]}, 10) == 4
    assert depth_of(1, 10) == 0
