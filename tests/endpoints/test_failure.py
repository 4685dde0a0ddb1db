from __future__ import annotations

import math
import statistics
import time

import httpx
import pytest

from apitest.endpoints import failure
from apitest.endpoints.chance import LogNormal, Uniform, choose_status, parse_go_float, parse_status_spec
from apitest.endpoints.seeded import call_rng
from tests.endpoints.conftest import Live

# --- /v1/status/{code} -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("200", 200, "OK"),
        ("201", 201, "Created"),
        ("299", 299, ""),
        ("404", 404, "Not Found"),
        ("413", 413, "Request Entity Too Large"),
        ("414", 414, "Request URI Too Long"),
        ("416", 416, "Requested Range Not Satisfiable"),
        ("418", 418, "I'm a teapot"),
        ("420", 420, ""),
        ("422", 422, "Unprocessable Entity"),
        ("429", 429, "Too Many Requests"),
        ("503", 503, "Service Unavailable"),
        ("599", 599, ""),
        ("%2B200", 200, "OK"),
        ("0200", 200, "OK"),
    ],
)
async def test_status_answers_the_requested_code(
    client: httpx.AsyncClient, code: str, status: int, message: str
) -> None:
    r = await client.get(f"/v1/status/{code}")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": status, "message": message}
    assert list(r.json()) == ["status", "message"]
    assert r.content.endswith(b"\n")


@pytest.mark.parametrize("code", [204, 304])
async def test_status_without_body(client: httpx.AsyncClient, code: int) -> None:
    r = await client.get(f"/v1/status/{code}")
    assert r.status_code == code
    assert r.content == b""
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "code", ["100", "101", "199", "600", "0", "-200", "abc", "2e2", "200.0", "99999999999999999999", "%20200"]
)
async def test_status_rejects_codes_outside_200_599(client: httpx.AsyncClient, code: str) -> None:
    r = await client.get(f"/v1/status/{code}")
    assert r.status_code == 400
    assert r.content == b'{"error":"code must be an integer in [200, 599]"}\n'


async def test_status_head(client: httpx.AsyncClient) -> None:
    r = await client.head("/v1/status/503")
    assert (r.status_code, r.content) == (503, b"")


# --- weighted status spec ----------------------------------------------------------------------


async def test_weighted_status_is_deterministic_with_seed_and_call_id(client: httpx.AsyncClient) -> None:
    spec = [(200, 0.8), (503, 0.2)]
    for call_id in range(20):
        roll = call_rng("s", call_id).float64()
        r = await client.get(f"/v1/status/200:0.8,503:0.2?seed=s&call_id={call_id}")
        expected = 200 if roll < 0.8 else 503
        assert r.status_code == expected == choose_status(spec, roll)
        assert r.json()["roll"] == roll
        again = await client.get(f"/v1/status/200:0.8,503:0.2?seed=s&call_id={call_id}")
        assert again.content == r.content


async def test_weighted_status_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/status/429:1?seed=x")
    assert r.status_code == 429
    assert list(r.json()) == ["status", "message", "roll"]
    assert r.json()["message"] == "Too Many Requests"


async def test_weighted_status_follows_the_weights(client: httpx.AsyncClient) -> None:
    codes = [(await client.get(f"/v1/status/200:0.8,503:0.2?seed=w&call_id={i}")).status_code for i in range(200)]
    assert 0.7 < codes.count(200) / len(codes) < 0.9
    assert set(codes) == {200, 503}


async def test_weighted_status_without_seed_is_random(client: httpx.AsyncClient) -> None:
    codes = {(await client.get("/v1/status/200,503")).status_code for _ in range(40)}
    assert codes == {200, 503}  # unweighted entries weigh 1 each; all-equal has probability 2**-39


async def test_weighted_status_no_body_codes(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/status/204:1,")
    assert r.status_code == 400
    r = await client.get("/v1/status/204:1?seed=a")
    assert (r.status_code, r.content) == (204, b"")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("200:0.5,", 'status spec "200:0.5," has an empty entry'),
        (",200", 'status spec ",200" has an empty entry'),
        ("200:x", 'status spec entry "200:x": weight must be a positive finite number'),
        ("200:", 'status spec entry "200:": weight must be a positive finite number'),
        ("200:0", 'status spec entry "200:0": weight must be a positive finite number'),
        ("200:-1", 'status spec entry "200:-1": weight must be a positive finite number'),
        ("200:inf", 'status spec entry "200:inf": weight must be a positive finite number'),
        ("200:nan", 'status spec entry "200:nan": weight must be a positive finite number'),
        ("200:1e999", 'status spec entry "200:1e999": weight must be a positive finite number'),
        ("200:0x1p0", 'status spec entry "200:0x1p0": weight must be a positive finite number'),
        ("abc:1", 'status spec entry "abc:1": code must be an integer in [200, 599]'),
        ("100:1,200:1", 'status spec entry "100:1": code must be an integer in [200, 599]'),
        ("200:1,600:1", 'status spec entry "600:1": code must be an integer in [200, 599]'),
        (":1", 'status spec entry ":1": code must be an integer in [200, 599]'),
        ("200:1,200:2", "status spec lists code 200 more than once"),
        ("200:1e308,503:1e308", 'status spec "200:1e308,503:1e308": the weights add up to infinity'),
    ],
)
async def test_weighted_status_errors(client: httpx.AsyncClient, spec: str, message: str) -> None:
    r = await client.get(f"/v1/status/{spec}")
    assert (r.status_code, r.json()) == (400, {"error": message})


def test_status_spec_parsing() -> None:
    assert parse_status_spec("200:0.8,503:.2") == [(200, 0.8), (503, 0.2)]
    assert parse_status_spec("200,503:3,429:2e-1") == [(200, 1.0), (503, 3.0), (429, 0.2)]
    assert choose_status([(200, 1.0), (503, 3.0)], 0.0) == 200
    assert choose_status([(200, 1.0), (503, 3.0)], 0.2499) == 200
    assert choose_status([(200, 1.0), (503, 3.0)], 0.25) == 503
    assert choose_status([(200, 1.0), (503, 3.0)], 0.9999999999999999) == 503


# --- /v1/slow ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "requested"),
    [("", 0), ("?ms=", 0), ("?ms=abc", 0), ("?ms=-5", 0), ("?ms=1.5", 0), ("?ms=0", 0), ("?ms=30", 30)],
)
async def test_slow_plain(client: httpx.AsyncClient, query: str, requested: int) -> None:
    started = time.monotonic()
    r = await client.get(f"/v1/slow{query}")
    assert r.status_code == 200
    assert list(r.json()) == ["slept_ms", "requested_ms"]
    assert r.json()["requested_ms"] == requested
    assert r.json()["slept_ms"] >= requested
    assert time.monotonic() - started >= requested / 1000


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?ms=60001", "ms 60001 exceeds max 60000"),
        ("?ms=99999999999999999999", "ms 9223372036854775807 exceeds max 60000"),
        ("?dist=normal", "dist must be uniform or lognormal"),
        ("?dist=uniform", "max_ms is required with dist=uniform"),
        ("?dist=uniform&min_ms=5", "max_ms is required with dist=uniform"),
        ("?dist=uniform&max_ms=abc", "max_ms must be a non-negative integer"),
        ("?dist=uniform&max_ms=-1", "max_ms must be a non-negative integer"),
        ("?dist=uniform&max_ms=60001", "max_ms 60001 exceeds max 60000"),
        ("?dist=uniform&min_ms=-1&max_ms=5", "min_ms must be a non-negative integer"),
        ("?dist=uniform&min_ms=60001&max_ms=5", "min_ms 60001 exceeds max 60000"),
        ("?dist=uniform&min_ms=10&max_ms=5", "min_ms 10 is greater than max_ms 5"),
        ("?dist=uniform&max_ms=5&ms=3", "ms cannot be combined with dist"),
        ("?dist=uniform&max_ms=5&median_ms=3", "median_ms needs dist=lognormal"),
        ("?dist=uniform&max_ms=5&sigma=1", "sigma needs dist=lognormal"),
        ("?dist=lognormal", "median_ms is required with dist=lognormal"),
        ("?dist=lognormal&median_ms=0", "median_ms must be a positive integer"),
        ("?dist=lognormal&median_ms=x", "median_ms must be a positive integer"),
        ("?dist=lognormal&median_ms=60001", "median_ms 60001 exceeds max 60000"),
        ("?dist=lognormal&median_ms=5&sigma=-1", "sigma must be a number in [0, 4]"),
        ("?dist=lognormal&median_ms=5&sigma=4.5", "sigma must be a number in [0, 4]"),
        ("?dist=lognormal&median_ms=5&sigma=abc", "sigma must be a number in [0, 4]"),
        ("?dist=lognormal&median_ms=5&sigma=nan", "sigma must be a number in [0, 4]"),
        ("?dist=lognormal&median_ms=5&min_ms=1", "min_ms needs dist=uniform"),
        ("?min_ms=5", "min_ms needs dist=uniform"),
        ("?max_ms=5", "max_ms needs dist=uniform"),
        ("?median_ms=5", "median_ms needs dist=lognormal"),
        ("?ms=5&sigma=1", "sigma needs dist=lognormal"),
    ],
)
async def test_slow_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/slow{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_slow_uniform_is_seeded(client: httpx.AsyncClient) -> None:
    for call_id in range(3):
        expected = Uniform(0, 40).draw(call_rng("u", call_id))
        r = await client.get(f"/v1/slow?dist=uniform&max_ms=40&seed=u&call_id={call_id}")
        body = r.json()
        assert list(body) == ["slept_ms", "requested_ms", "dist", "drawn_ms"]
        assert (body["dist"], body["drawn_ms"], body["requested_ms"]) == ("uniform", expected, expected)
        assert body["slept_ms"] >= expected


async def test_slow_uniform_with_equal_bounds(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/slow?dist=uniform&min_ms=7&max_ms=7")).json()
    assert (body["drawn_ms"], body["requested_ms"]) == (7, 7)


async def test_slow_lognormal(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/slow?dist=lognormal&median_ms=20&sigma=0")).json()
    assert (body["dist"], body["drawn_ms"], body["requested_ms"]) == ("lognormal", 20, 20)
    expected = LogNormal(10, 0.5).draw(call_rng("l", 4))
    body = (await client.get("/v1/slow?dist=lognormal&median_ms=10&seed=l&call_id=4")).json()
    assert body["drawn_ms"] == expected == body["requested_ms"]


async def test_slow_lognormal_draw_above_the_cap_sleeps_the_cap(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failure, "SLOW_MAX_MS", 30)
    seed = next(s for s in (f"s{i}" for i in range(100)) if LogNormal(25, 4).draw(call_rng(s, 0)) > 30)
    body = (await client.get(f"/v1/slow?dist=lognormal&median_ms=25&sigma=4&seed={seed}")).json()
    assert body["drawn_ms"] > 30
    assert body["requested_ms"] == 30


def test_uniform_covers_both_ends() -> None:
    draws = {Uniform(3, 6).draw(call_rng("c", i)) for i in range(200)}
    assert draws == {3, 4, 5, 6}


def test_lognormal_median_and_spread() -> None:
    draws = [LogNormal(1000, 0.5).draw(call_rng("m", i)) for i in range(4001)]
    assert 950 < statistics.median(draws) < 1050
    assert min(draws) > 0
    assert 0.4 < statistics.stdev([math.log(d / 1000) for d in draws]) < 0.6


def test_slow_cancellation_stops_the_sleep(live: Live) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{live.url}/v1/slow?ms=5000", timeout=0.3)
    call = live.recorder.last("/v1/slow")
    assert call.done.wait(2), "the handler kept sleeping after the client left"
    assert call.ended_at is not None and call.ended_at - started < 1.5
    assert call.status == 499


def test_slow_with_distribution_cancels_too(live: Live) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{live.url}/v1/slow?dist=uniform&min_ms=5000&max_ms=6000", timeout=0.3)
    call = live.recorder.last("/v1/slow")
    assert call.done.wait(2)
    assert call.status == 499


# --- /v1/flaky ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (None, 0),
        ("", 0),
        ("abc", 0),
        ("0", 0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("1e-1", 0.1),
        ("0x1p-2", 0.25),
        ("1", 1),
        ("1.5", 1),
        ("-2", 0),
        ("inf", 1),
        ("-Infinity", 0),
        ("nan", 0),
        ("%200.5", 0),
        ("0_5", 0),
        ("1e400", 1),
    ],
)
async def test_flaky_rate(client: httpx.AsyncClient, rate: str | None, expected: float) -> None:
    query = "" if rate is None else f"fail_rate={rate}&"
    r = await client.get(f"/v1/flaky?{query}seed=f&call_id=1")
    body = r.json()
    assert list(body) == ["failed", "roll", "fail_rate"]
    assert body["fail_rate"] == expected
    assert body["roll"] == call_rng("f", 1).float64()
    assert body["failed"] is (body["roll"] < expected)
    assert r.status_code == (503 if body["failed"] else 200)


async def test_flaky_extremes_and_spelling(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/flaky?fail_rate=1")
    assert r.status_code == 503
    assert r.content.endswith(b',"fail_rate":1}\n')  # the original spells 1, not 1.0
    r = await client.get("/v1/flaky?fail_rate=0")
    assert r.status_code == 200
    assert r.content.endswith(b',"fail_rate":0}\n')


async def test_flaky_is_deterministic_per_call_id(client: httpx.AsyncClient) -> None:
    first = [(await client.get(f"/v1/flaky?fail_rate=0.5&seed=x&call_id={i}")).content for i in range(10)]
    second = [(await client.get(f"/v1/flaky?fail_rate=0.5&seed=x&call_id={i}")).content for i in range(10)]
    assert first == second
    assert len(set(first)) == 10


@pytest.mark.parametrize(("call_id", "same_as"), [("abc", 0), ("", 0), ("99999999999999999999", 0), ("-4", -4)])
async def test_flaky_call_id(client: httpx.AsyncClient, call_id: str, same_as: int) -> None:
    body = (await client.get(f"/v1/flaky?seed=z&call_id={call_id}")).json()
    assert body["roll"] == call_rng("z", same_as).float64()


async def test_flaky_without_seed_is_random(client: httpx.AsyncClient) -> None:
    rolls = {(await client.get("/v1/flaky?call_id=1")).json()["roll"] for _ in range(3)}
    assert len(rolls) == 3


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1.0), ("-.5", -0.5), ("1E3", 1000.0), ("INF", float("inf")), ("0X1.8P1", 3.0), ("+infinity", float("inf"))],
)
def test_go_float_syntax(text: str, value: float) -> None:
    assert parse_go_float(text) == value


@pytest.mark.parametrize("text", ["", " 1", "1 ", "1_0", "0x1", "1e", "e1", ".", "--1", "infinit"])
def test_go_float_rejects(text: str) -> None:
    assert parse_go_float(text) is None
