"""Benchmarks of chorus-server (not part of the pytest run):

  1. wrk on GET /api/workflows, authenticated (Bearer), SQLite, rate limits off;
  2. SSE fan-out: one run streamed to N listeners (default 1000) on /api/executions/:id/events.

Usage: CHORUS_BUILD_DIR=build/release python3 tests/server/bench.py [--listeners 1000] [--seconds 10]
Prints the figures; numbers depend on the machine (see docs/server.md for the reference box).
"""
import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Server, slow_doc, workflow_doc  # noqa: E402


async def listen(host, port, path, token, results, i):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()  # the stream ends when the run ends
    writer.close()
    results[i] = [int(m) for m in re.findall(rb"\nid: (\d+)\n", b"\n" + data)]


async def fan_out(server, user, n):
    wf = user.create_workflow(slow_doc(tokens=200, delay_ms=10))
    exec_id = user.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
    host, port = server.url.replace("http://", "").split(":")
    results = [None] * n
    t0 = time.perf_counter()
    await asyncio.gather(*(listen(host, int(port), f"/api/executions/{exec_id}/events", user.token, results, i)
                           for i in range(n)))
    elapsed = time.perf_counter() - t0
    expected = list(range(len(results[0])))
    complete = sum(1 for r in results if r == expected)
    return elapsed, len(expected), complete


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    tmp = tempfile.mkdtemp()
    s = Server("sqlite", tmp, ["--no-rate-limits", "--rate-limit-auth", "1000:1000", "--log-level", "warn"]).start()
    try:
        u = s.user("bench")
        for i in range(20):
            u.create_workflow(workflow_doc(name=f"bench {i}"))
        def cpu_seconds():
            fields = open(f"/proc/{s.proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        cpu0 = cpu_seconds()
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-H",
                              f"Authorization: Bearer {u.token}", s.url + "/api/workflows?limit=20"],
                             capture_output=True, text=True, check=True).stdout
        cpu = cpu_seconds() - cpu0
        total = int(re.search(r"(\d+) requests in", out).group(1))
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
        lat = re.search(r"Latency\s+(\S+)", out).group(1)
        print(f"GET /api/workflows (20 items, Bearer, SQLite): {rps} req/s, mean latency {lat} "
              f"({args.connections} connections, {args.seconds}s); server CPU {cpu:.2f}s = "
              f"{1e6 * cpu / total:.1f} us/request, i.e. {total / cpu:.0f} req/s per fully used core")
        elapsed, events, complete = asyncio.run(fan_out(s, u, args.listeners))
        print(f"SSE fan-out: {complete}/{args.listeners} listeners received all {events} events of one run "
              f"in {elapsed:.2f}s")
    finally:
        s.stop()


if __name__ == "__main__":
    main()
