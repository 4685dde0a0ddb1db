"""The servers a scenario compares: apitest (``apitest serve``), the bare Starlette baseline, httpbin
under gunicorn (from its own virtualenv ``bench/.venv``, see ``bench/requirements-httpbin.txt``), and
go-httpbin (a static binary beside the checkout, see ``../shared/peers/README.md``) when present."""

from __future__ import annotations

import os
from pathlib import Path

from bench.procs import ServerProcess, free_port
from bench.scenario import APITEST, PYTHON, ROOT, Context

HTTPBIN_VENV = ROOT / "bench" / ".venv"
GUNICORN = HTTPBIN_VENV / "bin" / "gunicorn"


# ``$APITEST_BENCH_GO_HTTPBIN``, else ``../shared/peers/go-httpbin`` beside the checkout.
GO_HTTPBIN_ENV = "APITEST_BENCH_GO_HTTPBIN"
GO_HTTPBIN_DEFAULT = ROOT.parent / "shared" / "peers" / "go-httpbin"


def apitest(ctx: Context, name: str, config: Path, port: int, cpus: str | None = "") -> ServerProcess:
    """``apitest serve`` on ``config``; ``cpus``: a taskset list, "" for the context's server CPU."""
    return ServerProcess(
        name,
        [*APITEST, "serve", "--config", str(config)],
        port,
        log_path=ctx.log(name),
        cpus=ctx.server_cpus if cpus == "" else cpus,
        cwd=str(ROOT),
    )


def go_httpbin_path() -> Path | None:
    """The go-httpbin binary, or None when it is not there (the go-httpbin rows are then skipped)."""
    path = Path(os.environ.get(GO_HTTPBIN_ENV) or GO_HTTPBIN_DEFAULT)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def go_httpbin(ctx: Context, name: str, binary: Path) -> ServerProcess:
    """go-httpbin on 127.0.0.1 with ``GOMAXPROCS=1``: one core, like one apitest worker."""
    port = free_port()
    argv = [str(binary), "-host", "127.0.0.1", "-port", str(port)]
    return ServerProcess(
        name, argv, port, log_path=ctx.log(name), env={"GOMAXPROCS": "1"}, ready_path="/get", cpus=ctx.server_cpus
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
