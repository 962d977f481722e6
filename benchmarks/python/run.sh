#!/usr/bin/env bash
# Runs benchmarks/python/bench.py in a throwaway venv that has the competitors (openai,
# langgraph, langchain-openai) next to the installed chorus package (system site-packages).
# Usage: benchmarks/python/run.sh [bench.py args]. Needs CHORUS_BUILD_DIR (default build/release).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${CHORUS_BENCH_VENV:-$(mktemp -d)/venv}"
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check openai langgraph langchain-openai
export CHORUS_BUILD_DIR="${CHORUS_BUILD_DIR:-$ROOT/build/release}"
"$VENV/bin/python" "$ROOT/benchmarks/python/bench.py" "$@"
echo "import time (python -X importtime -c 'import chorus'), last line = total µs:"
"$VENV/bin/python" -X importtime -c "import chorus" 2>&1 | grep -E "\| chorus$"
