#!/usr/bin/env bash
# Throughput of the fake LLM server: non-streamed OpenAI chat completions over keep-alive
# connections on loopback, server on ONE thread. Prints wrk's req/s and the server's CPU use.
#
#   benchmarks/fake_llm_wrk.sh [BUILD_DIR] [DURATION] [CONNECTIONS]
#   (defaults: build/release 5s 32; build chorus-fake-llm in a Release/RelWithDebInfo tree first)
#
# Target (issue 3): >= 20k requests/s on one core.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
DURATION="${2:-5s}"
CONNS="${3:-32}"
EXE="$BUILD/bin/chorus-fake-llm"
command -v wrk >/dev/null || { echo "fake_llm_wrk.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$EXE" ] || { echo "fake_llm_wrk.sh: $EXE not found; build target chorus-fake-llm" >&2; exit 1; }

OUT="$(mktemp)"
"$EXE" --port 0 --threads 1 >"$OUT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 100); do grep -q listening "$OUT" && break; sleep 0.05; done
URL="$(sed -n 's/^chorus-fake-llm listening on //p' "$OUT")"
[ -n "$URL" ] || { echo "fake_llm_wrk.sh: the server did not start" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ="$(getconf CLK_TCK)"
before="$(cpu_ticks)"
start_ns="$(date +%s%N)"
WRK_OUT="$(wrk -t1 -c"$CONNS" -d"$DURATION" -s "$ROOT/benchmarks/fake_llm_post.lua" "$URL/v1/chat/completions")"
end_ns="$(date +%s%N)"
after="$(cpu_ticks)"
echo "$WRK_OUT"
REQS="$(echo "$WRK_OUT" | sed -n 's/^wrk: \([0-9]*\) requests.*/\1/p')"
RPS="$(echo "$WRK_OUT" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')"
awk -v t0="$before" -v t1="$after" -v hz="$HZ" -v ns=$((end_ns - start_ns)) -v n="$REQS" -v rps="$RPS" 'BEGIN {
  cpu = (t1 - t0) / hz; wall = ns / 1e9;
  printf "fake-llm: %.0f req/s, server CPU %.2f s over %.2f s wall (%.0f%% of one core), %.1f us CPU/request\n",
         rps, cpu, wall, 100 * cpu / wall, (n > 0 ? 1e6 * cpu / n : 0) }'
