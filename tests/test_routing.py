"""The exact-path index picks the route the linear scan would pick."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from apitest.routing import static_index


async def ok(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_only_paths_no_earlier_pattern_matches_are_indexed() -> None:
    routes = [
        Route("/v1/{rest:path}", ok),  # shadows every /v1 path after it
        Route("/v1/whoami", ok),
        Route("/healthz", ok),
        Route("/healthz", ok, methods=["POST"]),  # a second route for an indexed path: the first stays
        Route("/items/{id}", ok),
    ]
    index = static_index(list(routes))
    assert set(index) == {"/healthz"}
    assert index["/healthz"] is routes[2]
