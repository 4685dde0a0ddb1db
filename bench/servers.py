"""The servers a scenario compares: apitest (``apitest serve``), the bare Starlette baseline, and httpbin
under gunicorn (from its own virtualenv ``bench/.venv``, see ``bench/requirements-httpbin.txt``)."""

from __future__ import annotations

from pathlib import Path

from bench.procs import ServerProcess, free_port
from bench.scenario import APITEST, PYTHON, ROOT, Context

HTTPBIN_VENV = ROOT / "bench" / ".venv"
GUNICORN = HTTPBIN_VENV / "bin" / "gunicorn"


def apitest(ctx: Context, name: str, config: Path, port: int) -> ServerProcess:
    return ServerProcess(
        name,
        [*APITEST, "serve", "--config", str(config)],
        port,
        log_path=ctx.log(name),
        cpus=ctx.server_cpus,
        cwd=str(ROOT),
    )


def baseline(ctx: Context, name: str, config: Path, body: bytes) -> ServerProcess:
    port = free_port()
    body_file = ctx.log_dir / f"{name}.body"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(body)
    argv = [PYTHON, "-m", "bench.baseline_app", "--config", str(config), "--port", str(port)]
    return ServerProcess(
        name,
        [*argv, "--body-file", str(body_file)],
        port,
        log_path=ctx.log(name),
        cpus=ctx.server_cpus,
        cwd=str(ROOT),
    )


def httpbin_missing() -> str:
    if GUNICORN.exists():
        return ""
    return f"httpbin is not installed in {HTTPBIN_VENV} (run `make bench`, which creates it)"


def httpbin(ctx: Context, name: str, workers: int) -> ServerProcess:
    port = free_port()
    argv = [str(GUNICORN), "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gevent", "httpbin:app"]
    return ServerProcess(name, argv, port, log_path=ctx.log(name), ready_path="/get", cpus=ctx.server_cpus)
