"""Zero loss: sustained load for 60 s (``--zero-loss-seconds``) on a mix of audited routes with an API key and
payload capture; afterwards the 2xx responses the clients received must equal the audit rows, with no drop.

The Python generator is used even where wrk exists: it counts every response by status and finishes the
requests in flight at the deadline instead of cutting them off, so the two counts can be compared exactly.
"""

from __future__ import annotations

import secrets
import time

import httpx

from bench import configs, loadgen, pg, servers
from bench.common import wait_for, writer_stats
from bench.procs import free_port
from bench.scenario import Context, Measure, Outcome

CONNECTIONS = 16


def payloads(port: int, key: str, agent: str) -> list[bytes]:
    auth = {"X-API-Key": key}
    body = b'{"event":"zero-loss","values":[1,2,3],"nested":{"ok":true}}'
    json_headers = {**auth, "Content-Type": "application/json"}
    return [
        loadgen.build_request("GET", "/v1/whoami", port, auth, user_agent=agent),
        loadgen.build_request("POST", "/v1/echo?probe=1", port, json_headers, body, user_agent=agent),
        loadgen.build_request("GET", "/v1/headers", port, auth, user_agent=agent),
        loadgen.build_request("PUT", "/v1/echo", port, json_headers, body, user_agent=agent),
    ]


def run(ctx: Context) -> Outcome:
    seconds = ctx.seconds(ctx.zero_loss_seconds, min(ctx.zero_loss_seconds, 10))
    key = configs.new_key()
    agent = f"apitest-bench-zero-loss-{secrets.token_hex(4)}"
    with pg.scratch_database("zeroloss") as db_url:
        port = free_port()
        config = configs.apitest_config(
            ctx.log_dir / "zero_loss.yaml", port=port, database_url=db_url, key=key, workers=1
        )
        rows_sql = "SELECT count(*) FROM audit_events WHERE user_agent = $1"
        with servers.apitest(ctx, "zero-loss-apitest", config, port) as app:
            first = httpx.get(app.url + "/v1/whoami", headers={"X-API-Key": key}, timeout=5)
            if first.status_code != 200:
                raise RuntimeError(f"/v1/whoami with the bench key answered {first.status_code}")
            result: loadgen.LoadResult = loadgen.run(
                loadgen.closed_loop(
                    port, payloads(port, key, agent), connections=CONNECTIONS, duration=seconds, request_timeout=30
                )
            )
            load_done = time.monotonic()
            caught_up = wait_for(lambda: pg.count_rows(db_url, rows_sql, agent) >= result.responses, timeout=30)
            catch_up_s = time.monotonic() - load_done
            rss = app.peak_rss_mib()
        stats = writer_stats(app.log_path)
        rows = pg.count_rows(db_url, rows_sql, agent)
        rows_2xx = pg.count_rows(db_url, rows_sql + " AND status BETWEEN 200 AND 299", agent)
        payload_rows = pg.count_rows(
            db_url,
            "SELECT count(*) FROM audit_payloads p JOIN audit_events e ON e.id = p.event_id WHERE e.user_agent = $1",
            agent,
        )
    dropped = stats.get("dropped_total")
    return Outcome(
        "zero-loss",
        f"Zero loss: {seconds:.0f} s sustained load, audited with payloads",
        Measure(f"audit rows with 2xx ({rows} rows in all)", rows_2xx, "rows"),
        Measure(f"2xx responses received ({result.rps:,.0f} req/s)", result.ok, "responses"),
        "audit rows / 2xx served",
        "==",
        1.0,
        details={
            "seconds": seconds,
            "connections": CONNECTIONS,
            "load": result.summary(),
            "audit_rows": rows,
            "audit_rows_2xx": rows_2xx,
            "audit_payload_rows": payload_rows,
            "writer": stats,
            "caught_up_while_serving": caught_up,
            "catch_up_after_load_s": round(catch_up_s, 2),
            "peak_rss_mib": round(rss, 1),
        },
        checks={
            "drops 0": dropped == 0,
            "no client errors": not result.errors,
            "every response audited": rows == result.responses,
            "every event has its payload": payload_rows == rows,
        },
    )
