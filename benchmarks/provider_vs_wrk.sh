#!/usr/bin/env bash
# CPU per non-streamed OpenAI call of the C++ client (chorus_compare_client, a whole provider call:
# request JSON, HTTP, response parse, usage and cost) next to wrk's CPU per request on the same
# server, in interleaved pairs, one at a time (-c1) and with 32 in flight (-c32). Shows that the
# one-at-a-time figure moves with the machine's idle state for wrk as much as for Chorus (issue 4;
# docs/decisions/benchmark-method.md).
#
#   benchmarks/provider_vs_wrk.sh [build-dir] [pairs]   (default build/release, 5 pairs)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
PAIRS="${2:-5}"
CLIENT="$BUILD/bin/chorus_compare_client"
for b in "$CLIENT" "$BUILD/bin/chorus-fake-llm"; do
  [ -x "$b" ] || { echo "missing $b (build chorus_compare_client and chorus-fake-llm)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
"$BUILD/bin/chorus-fake-llm" --port 0 >"$TMP/port" 2>/dev/null &
SERVER_PID=$!
for _ in $(seq 200); do grep -q listening "$TMP/port" 2>/dev/null && break; sleep 0.05; done
PORT="$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/port" | head -n1)"
URL="http://127.0.0.1:$PORT"

# CPU seconds of the client process for N calls with C in flight.
chorus_cpu() {
  "$CLIENT" call "$1" "$2" "$URL" |
    python3 -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["self_cpu_s"])'
}
# Microseconds of CPU per request of wrk with C connections for 3 s.
wrk_us() {
  /usr/bin/time -f "%U %S" wrk -t1 -c"$1" -d3s -s "$ROOT/benchmarks/fake_llm_post.lua" \
    "$URL/v1/chat/completions" 2>&1 |
    awk '/requests in/ {n = $1} /^[0-9.]+ [0-9.]+$/ {printf "%.2f", ($1 + $2) / n * 1e6}'
}

for conc in 1 32; do
  small=$((conc == 1 ? 1000 : 5000))
  for p in $(seq "$PAIRS"); do
    a="$(chorus_cpu "$small" "$conc")"
    b="$(chorus_cpu "$((small * 5))" "$conc")"
    w="$(wrk_us "$conc")"
    python3 -c "
c = ($b - $a) / ($small * 4) * 1e6
print(f'in flight $conc, pair $p: chorus {c:5.1f} us/call  wrk {$w:5.1f} us/request  ratio {c / $w:4.2f}')"
  done
done
