#!/usr/bin/env bash
# CI check of scripts/install: installs from BUILD_DIR (already built: nothing is compiled again)
# into a temporary prefix, then starts the INSTALLED server twice on a free port with a temporary
# SQLite database — plain HTTP, then HTTPS with a self-signed certificate — and checks
# /api/health, the editor's index.html, a seeded template, and that the server found its editor
# and templates under PREFIX/share/chorus by itself. Also checks that a bad TLS key file stops the
# server with an error naming the file.
#
#   tests/deploy/check_install.sh BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${1:?usage: check_install.sh BUILD_DIR}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$PWD/$BUILD_DIR" ;; esac
WORK="$(mktemp -d)"
PREFIX="$WORK/prefix"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "check_install: FAIL: $*" >&2
  for f in "$WORK"/server-*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}

start=$SECONDS
"$ROOT/scripts/install" --build-dir "$BUILD_DIR" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "scripts/install failed"; }
for f in bin/chorus-server bin/chorus share/chorus/editor/index.html; do
  [ -f "$PREFIX/$f" ] || fail "scripts/install did not install $f"
done
ls "$PREFIX"/share/chorus/workflows/*.json >/dev/null 2>&1 || fail "no templates in share/chorus/workflows"
# A second run has nothing to do and says nothing.
second="$("$ROOT/scripts/install" --build-dir "$BUILD_DIR" --prefix "$PREFIX" 2>&1)" ||
  fail "second scripts/install run failed: $second"
[ -z "$second" ] || fail "a second scripts/install run is not quiet: $second"
"$PREFIX/bin/chorus" --help >/dev/null || fail "the installed CLI does not run"

# One template to look for: the first file's slug is its id after "tpl-".
TEMPLATE="tpl-$(basename "$(ls "$PREFIX"/share/chorus/workflows/*.json | head -n 1)" .json)"

# start_server NAME ARGS...: starts the installed server (no --static/--templates, no env for
# them) and sets URL from its "listening on" line.
start_server() {
  local name="$1"
  shift
  local out="$WORK/server-$name.out" err="$WORK/server-$name.log"
  : >"$out"
  : >"$err"
  env -u CHORUS_STATIC_DIR -u CHORUS_TEMPLATES_DIR -u CHORUS_DATABASE_URL \
    CHORUS_MASTER_KEY="$(openssl rand -hex 32)" \
    "$PREFIX/bin/chorus-server" --port 0 --db "$WORK/$name.db" "$@" >"$out" 2>"$err" &
  SERVER_PID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL="$(sed -n 's/^chorus-server listening on \(http[s]*:\/\/[^ ]*\).*/\1/p' "$out" || true)"
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the installed server ($name) exited: $(cat "$err")"
    sleep 0.1
  done
  [ -n "$URL" ] || fail "the installed server ($name) did not start"
  # localhost matches the test certificate's name.
  URL="${URL/127.0.0.1/localhost}"
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
}

# probe URL [CAFILE]: health, editor, register, seeded template; and the share paths in the log.
probe() {
  python3 - "$1" "${2:-}" "$PREFIX" "$TEMPLATE" <<'EOF' || fail "probe of $1 failed"
import json, pathlib, ssl, sys, urllib.request, uuid
url, cafile, prefix, template = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile) if cafile else None

def call(path, body=None, token=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
        return r.status, r.read()

status, body = call("/api/health")
health = json.loads(body)
assert status == 200 and health["status"] == "ok", body
status, page = call("/")
index = (pathlib.Path(prefix) / "share/chorus/editor/index.html").read_bytes()
assert status == 200 and page == index, "GET / is not the installed editor's index.html"
status, body = call("/api/auth/register",
                    {"email": f"check-{uuid.uuid4().hex[:8]}@example.com",
                     "password": "correct horse battery", "name": "Check"})
token = json.loads(body)["token"]
status, body = call("/api/templates/" + template, token=token)
assert status == 200 and json.loads(body)["id"] == template, body
print(f"check_install: {url}: health ok, editor ok, template {template} ok")
EOF
}

start_server plain
probe "$URL"
grep -q "\"dir\":\"$PREFIX/share/chorus/workflows\"" "$WORK/server-plain.log" ||
  fail "the installed server did not seed its templates from $PREFIX/share/chorus/workflows"
stop_server

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
start_server tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
[[ "$URL" == https://* ]] || fail "with --tls-cert the server does not announce https: $URL"
probe "$URL" "$WORK/cert.pem"
stop_server

# A key file that is not a key: a start-up error naming the file, and a non-zero exit.
echo "not a key" >"$WORK/bad-key.pem"
if "$PREFIX/bin/chorus-server" --port 0 --db "$WORK/bad.db" --tls-cert "$WORK/cert.pem" \
  --tls-key "$WORK/bad-key.pem" >"$WORK/bad.out" 2>"$WORK/bad.err"; then
  fail "the server started with a bad TLS key file"
fi
grep -q "bad-key.pem" "$WORK/bad.err" || fail "the TLS error does not name the key file: $(cat "$WORK/bad.err")"

echo "check_install: ok in $((SECONDS - start)) s"
