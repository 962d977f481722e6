#!/usr/bin/env python3
"""Throughput of 1, 2, 3 chorus-server instances sharing one PostgreSQL (docs/scaling.md).

    cmake --build build/release --target chorus-server
    CHORUS_BUILD_DIR=build/release scripts/with-postgres python3 tests/server/scale_bench.py

Each instance gets a worker cap (--max-concurrent-runs, default 16): the cap stands for one
machine's capacity, so the runs/s of N instances show what the shared queue adds per machine.
Runs use the `simulated` provider with a fixed latency per token (no network), submitted with
`wait: true` by a pool of clients round-robin over the instances (a closed loop with more
clients than workers, so the queue in the database is never empty). Prints one JSON line per
instance count and a Markdown table.
"""
import argparse
import concurrent.futures
import json
import pathlib
import secrets
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import PG_URL, RELAXED, Server, workflow_doc  # noqa: E402


def bench(instances, runs, cap, tokens, delay_ms, clients, tmp):
    env = {"CHORUS_MASTER_KEY": secrets.token_hex(32)}
    extra = RELAXED + ["--max-concurrent-runs", str(cap), "--log-level", "warn"]
    first = Server("postgres", tmp, extra, env=env).start()
    servers = [first] + [Server("postgres", tmp, extra, env=env, db=first.db).start()
                         for _ in range(instances - 1)]
    try:
        u = servers[0].user()
        cs = []
        for s in servers:
            c = s.client()
            c.s.headers.update(u.s.headers)
            cs.append(c)
        doc = workflow_doc(prompt=f"[[lorem:{tokens}]][[token-delay:{delay_ms}]] {{{{input}}}}")
        wf = u.create_workflow(doc)

        def one(i):
            r = cs[i % len(cs)].post(f"/api/workflows/{wf['id']}/execute",
                                     json={"input": f"r{i}", "wait": True}, timeout=600)
            r.raise_for_status()
            return r.json()["status"]

        for i in range(len(cs) * 2):  # warm-up
            one(i)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(one, range(runs)))
        wall = time.perf_counter() - t0
        ok = statuses.count("succeeded")
        return {"instances": instances, "runs": runs, "succeeded": ok, "seconds": round(wall, 2),
                "runs_per_s": round(runs / wall, 1), "cap_per_instance": cap,
                "run_latency_ms": tokens * delay_ms}
    finally:
        for s in servers:
            s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=600)
    ap.add_argument("--cap", type=int, default=16, help="--max-concurrent-runs per instance")
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--delay-ms", type=int, default=10, help="simulated latency per token")
    ap.add_argument("--clients", type=int, default=96)
    ap.add_argument("--instances", default="1,2,3")
    a = ap.parse_args()
    if not PG_URL:
        sys.exit("scale_bench.py needs PostgreSQL: run it under scripts/with-postgres")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in a.instances.split(",")]:
            row = bench(n, a.runs, a.cap, a.tokens, a.delay_ms, a.clients, tmp)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| instances | runs | seconds | runs/s | speed-up |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instances']} | {r['runs']} | {r['seconds']} | {r['runs_per_s']} | "
              f"{r['runs_per_s'] / rows[0]['runs_per_s']:.2f}x |")


if __name__ == "__main__":
    main()
