"""Throughput runs: wrk (Debian's package) when installed, else the Python generator in ``loadgen``.

Both report the same shape (``LoadSummary``), so a scenario compares a subject and its baseline measured by
the same tool in the same run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen

WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n@@BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def lua_string(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return '"' + "".join(f"\\{b:03d}" for b in raw) + '"'


@dataclass
class Target:
    """One request to repeat: ``method path`` with headers and body, on 127.0.0.1:port."""

    port: int
    path: str
    method: str = "GET"
    headers: dict[str, str] | None = None
    body: bytes = b""

    def payload(self) -> bytes:
        return loadgen.build_request(self.method, self.path, self.port, self.headers, self.body)


@dataclass
class LoadSummary:
    tool: str
    requests: int  # responses received
    non_2xx: int  # responses outside 2xx/3xx (wrk) or outside 2xx (python)
    errors: int  # socket errors and timeouts
    rps: float
    p50_ms: float
    p99_ms: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def tool_name(prefer_wrk: bool = True) -> str:
    if prefer_wrk and wrk_available():
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]  # noqa: S607
        return version.split(" [")[0] or "wrk"
    return "python-asyncio (bench/loadgen.py)"


def _lua_headers(headers: dict[str, str] | None) -> str:
    return "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in (headers or {}).items()) + "}"


def mix_script(targets: list[Target]) -> str:
    """A wrk script cycling through ``targets`` (same port), each request pre-formatted once per thread."""
    lines = ["local reqs = {}", "local i = 0", "init = function(args)"]
    for n, t in enumerate(targets, 1):
        body = lua_string(t.body) if t.body else "nil"
        lines.append(
            f"  reqs[{n}] = wrk.format({lua_string(t.method)}, {lua_string(t.path)}, {_lua_headers(t.headers)}, {body})"
        )
    lines += ["end", "request = function()", "  i = i % #reqs + 1", "  return reqs[i]", "end"]
    return "\n".join(lines) + "\n"


def run_wrk(
    target: Target | list[Target], *, connections: int, seconds: float, threads: int = 1, timeout: float = 10.0
) -> LoadSummary:
    """One wrk run on ``target``, or on several targets of one server in turn (a list)."""
    if isinstance(target, list):
        script = mix_script(target)
        target = target[0]
    else:
        script = f"wrk.method = {lua_string(target.method)}\n"
        if target.body:
            script += f"wrk.body = {lua_string(target.body)}\n"
        for name, value in (target.headers or {}).items():
            script += f"wrk.headers[{lua_string(name)}] = {lua_string(value)}\n"
    script += WRK_REPORT
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
        script_path = fh.name
    try:
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={max(1, round(timeout))}s",
            "-s",
            script_path,
            f"http://127.0.0.1:{target.port}{target.path}",
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout + 30)  # noqa: S603
    finally:
        Path(script_path).unlink(missing_ok=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("@@BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk produced no report: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line.removeprefix("@@BENCH "))
    secs = data["duration_us"] / 1e6
    return LoadSummary(
        tool="wrk",
        requests=data["requests"],
        non_2xx=data["status"],
        errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        rps=round(data["requests"] / secs, 1) if secs else 0.0,
        p50_ms=round(data["p50_us"] / 1000, 3),
        p99_ms=round(data["p99_us"] / 1000, 3),
        seconds=round(secs, 3),
    )


def run_python(
    target: Target | list[Target], *, connections: int, seconds: float, timeout: float = 10.0
) -> LoadSummary:
    targets = target if isinstance(target, list) else [target]
    load = loadgen.closed_loop(
        targets[0].port,
        [t.payload() for t in targets],
        connections=connections,
        duration=seconds,
        request_timeout=timeout,
    )
    res: loadgen.LoadResult = loadgen.run(load)
    lat = res.latency_ms()
    return LoadSummary(
        tool="python",
        requests=res.responses,
        non_2xx=res.responses - res.ok,
        errors=sum(res.errors.values()),
        rps=round(res.rps, 1),
        p50_ms=lat["p50"],
        p99_ms=lat["p99"],
        seconds=round(res.elapsed, 3),
    )


def throughput(
    target: Target | list[Target], *, connections: int, seconds: float, timeout: float = 10.0, prefer_wrk: bool = True
) -> LoadSummary:
    if prefer_wrk and wrk_available():
        threads = 2 if connections >= 200 else 1
        return run_wrk(target, connections=connections, seconds=seconds, threads=threads, timeout=timeout)
    return run_python(target, connections=connections, seconds=seconds, timeout=timeout)
