#!/usr/bin/env bash
# CPU per request of chorus::http::Client next to wrk's, against the same server in the same run,
# both on ONE kept-alive connection sending the same POST. Prints both figures and the ratio
# (issue 3's target: client <= 2x wrk).
#
#   benchmarks/http_vs_wrk.sh [build-dir]     (default build/release; needs bin/http_bench, wrk)
#
# The server is bin/chorus-fake-llm when built (the fake LLM server), else `http_bench --serve`
# (the test server of tests/unit/http); it runs in its own process, so neither measured process
# pays for it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
BENCH="$BUILD/bin/http_bench"
DURATION="${CHORUS_WRK_SECONDS:-5}"
[ -x "$BENCH" ] || { echo "missing $BENCH (build the release preset with benchmarks)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

mkfifo "$TMP/in"
exec 3<>"$TMP/in"
if [ -x "$BUILD/bin/chorus-fake-llm" ]; then
  SERVER="chorus-fake-llm"
  "$BUILD/bin/chorus-fake-llm" --port 0 >"$TMP/port" 2>/dev/null &
  SERVER_PID=$!
  for _ in $(seq 200); do grep -q listening "$TMP/port" 2>/dev/null && break; sleep 0.05; done
  PORT="$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/port" | head -n1)"
else
  # http_bench --serve prints its port and lives until its stdin closes.
  SERVER="test server (http_bench --serve)"
  "$BENCH" --serve <"$TMP/in" >"$TMP/port" &
  SERVER_PID=$!
  for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  PORT="$(head -n1 "$TMP/port")"
fi
[ -n "$PORT" ] || { echo "the server did not start" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/v1/chat/completions"

cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer test-key"
LUA

# wrk: process CPU (user+sys, all its threads) divided by the requests it completed.
python3 - "$TMP/post.lua" "$URL" "$DURATION" >"$TMP/wrk" <<'PY'
import re, resource, subprocess, sys
lua, url, seconds = sys.argv[1:4]
out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", lua, url],
                     capture_output=True, text=True, check=True).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
m = re.search(r"(\d+) requests in", out)
n = int(m.group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if errors: sys.exit(f"wrk got {errors.group(1)} error responses")
print(f"{n} {(ru.ru_utime + ru.ru_stime) / n * 1e9:.0f}")
PY
read -r WRK_N WRK_NS <"$TMP/wrk"

# The client: Google Benchmark's CPU time of the thread running the client's io_context.
CHORUS_BENCH_URL="$URL" "$BENCH" --benchmark_filter='^BM_KeptAliveRequest$' \
  --benchmark_format=json --benchmark_min_time="$DURATION" >"$TMP/client.json" 2>/dev/null
read -r CLIENT_N CLIENT_NS < <(python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
print(b["iterations"], round(b["cpu_time"] * unit))' "$TMP/client.json")

exec 3>&-
printf 'server        : %s at %s (one kept-alive connection each, same POST)\n' "$SERVER" "$URL"
printf 'wrk           : %8d requests, %6d ns CPU/request\n' "$WRK_N" "$WRK_NS"
printf 'chorus client : %8d requests, %6d ns CPU/request\n' "$CLIENT_N" "$CLIENT_NS"
python3 -c "import sys; r=$CLIENT_NS/$WRK_NS; print(f'ratio         : {r:.2f}x wrk (target <= 2x): ' + ('OK' if r <= 2 else 'ABOVE TARGET'))"
