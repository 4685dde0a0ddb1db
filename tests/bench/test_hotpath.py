"""bench.hotpath: the request headers each layer presents and the table's comparisons."""

from __future__ import annotations

from starlette.applications import Starlette

from bench.hotpath import FILE_KEY_LAYER, HEADERS, KEY, Layer, layers, report, request_headers


def never() -> Starlette:
    raise AssertionError("not built in these tests")


def test_the_key_header_carries_the_layer_key_or_is_left_out() -> None:
    assert dict(request_headers("at_other"))[b"x-api-key"] == b"at_other"
    assert [name for name, _ in request_headers("")] == [name for name, _ in HEADERS if name != b"x-api-key"]
    assert request_headers(KEY) == HEADERS


def test_each_layer_is_compared_with_its_base_or_the_one_before() -> None:
    results = [
        (Layer("bare", never, False, ""), 20e-6),
        (Layer(FILE_KEY_LAYER, never, True, KEY), 50e-6),
        (Layer("database key instead", never, True, "at_x", base=FILE_KEY_LAYER), 54e-6),
        (Layer("+ audit", never, True, KEY, base=FILE_KEY_LAYER), 110e-6),
        (Layer("+ payloads", never, True, KEY), 135e-6),
    ]
    rows = report(results).splitlines()[2:]
    assert rows == [
        "| bare | 20 µs |  |",
        f"| {FILE_KEY_LAYER} | 50 µs | +30 µs |",
        "| database key instead | 54 µs | +4 µs (vs API key auth (file key)) |",
        "| + audit | 110 µs | +60 µs (vs API key auth (file key)) |",
        "| + payloads | 135 µs | +25 µs |",
    ]


def test_optional_layers_appear_only_with_what_they_need() -> None:
    plain = [layer.label for layer in layers("")]
    assert plain[-1] == FILE_KEY_LAYER
    keyed = layers("", ("sqlite+aiosqlite:///keys.db", "at_key"))
    assert keyed[-1].key == "at_key" and keyed[-1].base == FILE_KEY_LAYER
    audited = layers("postgresql://db", ("sqlite+aiosqlite:///keys.db", "at_key"))
    assert [layer.base for layer in audited[-2:]] == [FILE_KEY_LAYER, ""]
