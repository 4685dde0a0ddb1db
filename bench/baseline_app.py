"""The baseline of the overhead and concurrency scenarios: a bare Starlette app, no middleware, answering
``/v1/whoami`` with a fixed body (the exact bytes apitest answered, passed in by the runner) and
``/v1/slow?ms=`` with a plain sleep. It runs under the same uvicorn settings as apitest, built by
``apitest.server.uvicorn_config`` from the same configuration file.

    python -m bench.baseline_app --config <apitest yaml> --port <port> --body-file <file>
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from apitest.config import load_settings
from apitest.server import uvicorn_config


def build(body: bytes) -> Starlette:
    async def whoami(request: Request) -> Response:
        return Response(body, media_type="application/json")

    async def slow(request: Request) -> Response:
        ms = int(request.query_params.get("ms", "0"))
        await asyncio.sleep(ms / 1000)
        return JSONResponse({"slept_ms": ms, "requested_ms": ms})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/v1/whoami", whoami, methods=["GET"]),
            Route("/v1/slow", slow, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    args = parser.parse_args()
    settings = load_settings(args.config, {"APITEST__SERVER__ADDRESS": f"127.0.0.1:{args.port}"})
    app = build(Path(args.body_file).read_bytes())
    uvicorn.Server(uvicorn_config(settings, app)).run()


if __name__ == "__main__":
    main()
