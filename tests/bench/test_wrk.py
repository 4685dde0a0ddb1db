"""The wrk script that cycles through several requests of one server (the saturation scenario's mix)."""

from __future__ import annotations

from bench.wrk import Target, lua_string, mix_script


def test_mix_script_formats_each_request_once_and_cycles() -> None:
    script = mix_script(
        [
            Target(8080, "/v1/whoami", headers={"X-API-Key": "k"}),
            Target(8080, "/v1/echo", "POST", {"Content-Type": "application/json"}, b'{"a":1}'),
        ]
    )
    assert (
        f"reqs[1] = wrk.format({lua_string('GET')}, {lua_string('/v1/whoami')}, {{[{lua_string('X-API-Key')}]" in script
    )
    body = lua_string(b'{"a":1}')
    assert body + ")" in script
    assert "i = i % #reqs + 1" in script
    assert script.count("wrk.format(") == 2
