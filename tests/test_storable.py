from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apitest.storable import decode, needs_escape, storable, storable_value


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\\x00b"),
        ("X\ud800", "X\\ud800"),
        ("\udfff\x00\udc80", "\\udfff\\x00\\udc80"),
        ("é \ufffd \U0001f600 \u2028 \x01", "é \ufffd \U0001f600 \u2028 \x01"),  # storable as they are
    ],
)
def test_nul_and_lone_surrogates_become_visible_escapes(text: str, stored: str) -> None:
    assert storable(text) == stored
    assert needs_escape(text) is (text != stored)


def test_text_that_needs_nothing_is_returned_as_is() -> None:
    text = "é" * 100
    assert storable(text) is text


def test_bytes_from_the_wire_keep_invalid_utf8_visible() -> None:
    assert decode(b"ok \xc3\xa9") == "ok é"
    assert decode(b"a\xffb\x00") == "a\\xffb\\x00"


def test_values_are_walked_keys_included_and_bounded() -> None:
    value = {"k\x00": ["\ud800", {"n": float("nan"), "i": float("inf"), "ok": 1.5}], "deep": [[[[1]]]]}
    assert storable_value(value) == {
        "k\\x00": ["\\ud800", {"n": "nan", "i": "inf", "ok": 1.5}],
        "deep": [[[[1]]]],
    }
    nested: list[object] = []
    for _ in range(100):
        nested = [nested]
    json.dumps(storable_value(nested))  # deeper than MAX_DEPTH becomes text


@given(st.text())
def test_every_text_becomes_encodable_and_nul_free(text: str) -> None:
    stored = storable(text)
    stored.encode("utf-8")
    assert "\x00" not in stored
    if not needs_escape(text):
        assert stored == text


@given(st.binary())
def test_every_byte_string_decodes_to_storable_text(raw: bytes) -> None:
    text = decode(raw)
    text.encode("utf-8")
    assert "\x00" not in text


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_every_json_like_value_becomes_storable_json(value: object) -> None:
    stored = storable_value(value)
    text = json.dumps(stored, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert "\\u0000" not in text and "\x00" not in text
    if isinstance(stored, float):
        assert math.isfinite(stored)
