"""Black-box tests of chorus-server over HTTP.

Each test runs against a real `chorus-server` process: on SQLite (a temp file) and, when
CHORUS_TEST_PG_URL is set (scripts/with-postgres), on PostgreSQL too (a fresh database per
server). The binary is $CHORUS_BUILD_DIR/bin/chorus-server. Responses are validated against the
component schemas of docs/openapi.yaml.
"""
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import jsonschema
import pytest
import requests
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("CHORUS_BUILD_DIR", ROOT / "build" / "release"))
BINARY = BUILD / "bin" / "chorus-server"
PG_URL = os.environ.get("CHORUS_TEST_PG_URL")
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())

# Generous limits for the shared servers; rate-limit tests start their own.
RELAXED = ["--rate-limit-ip", "100000:100000", "--rate-limit-user", "100000:100000",
           "--rate-limit-auth", "100000:100000", "--rate-limit-login", "100000:100000"]
RELAXED_TIERS = json.dumps({"free": {"executionsPerDay": 100000, "concurrentRuns": 1000,
                                     "maxWorkflows": 100000, "monthlyPlatformCostUsd": 1000000}})


def check(obj, name):
    """Validates `obj` against components/schemas/<name> of docs/openapi.yaml."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(schema).validate(obj)
    return obj


def check_error(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = check(resp.json(), "Error")
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def workflow_doc(prompt="[[echo]]{{input}}", nodes_extra=0, name="Test flow"):
    nodes = [
        {"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}},
        {"id": "llm", "type": "llm", "position": {"x": 200, "y": 0},
         "data": {"provider": "simulated", "model": "sim-fast", "prompt": prompt}},
        {"id": "out", "type": "output", "position": {"x": 400, "y": 0}, "data": {}},
    ]
    edges = [{"id": "e1", "source": "in", "target": "llm"}, {"id": "e2", "source": "llm", "target": "out"}]
    prev = "llm"
    for i in range(nodes_extra):  # a chain of transforms between llm and out
        nid = f"t{i}"
        nodes.append({"id": nid, "type": "transform", "position": {"x": 0, "y": 100 + i},
                      "data": {"op": "trim"}})
        edges[-1] = {"id": f"e-{nid}", "source": prev, "target": nid}
        edges.append({"id": "e2", "source": nid, "target": "out"})
        prev = nid
    return {"id": "test-flow", "name": name, "nodes": nodes, "edges": edges,
            "editorViewport": {"x": 1.5, "zoom": 1.0}}


def slow_doc(tokens=400, delay_ms=25):
    return workflow_doc(prompt=f"[[lorem:{tokens}]][[token-delay:{delay_ms}]] {{{{input}}}}")


class Server:
    """One chorus-server process."""

    def __init__(self, backend, tmpdir, extra_args=(), env=None, db=None):
        self.backend = backend
        self.tmpdir = pathlib.Path(tmpdir)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env.pop("CHORUS_DATABASE_URL", None)
        self.env["CHORUS_MASTER_KEY"] = self.env.get("CHORUS_TEST_MASTER_KEY", secrets.token_hex(32))
        self.env.setdefault("CHORUS_TIERS", RELAXED_TIERS)
        if env:
            self.env.update(env)
        self.db = db or self._new_db()
        self.proc = None
        self.url = None
        self.stderr_path = self.tmpdir / f"server-{uuid.uuid4().hex[:8]}.log"

    def _new_db(self):
        if self.backend == "sqlite":
            return str(self.tmpdir / f"chorus-{uuid.uuid4().hex[:8]}.db")
        name = "chorus_test_" + uuid.uuid4().hex[:12]
        psql = shutil.which("psql") or os.path.join(os.environ.get("CHORUS_TEST_PG_BIN", ""), "psql")
        subprocess.run([psql, PG_URL, "-qc", f"CREATE DATABASE {name}"], check=True,
                       stdout=subprocess.DEVNULL)
        return PG_URL.rsplit("/", 1)[0] + "/" + name

    def start(self):
        assert BINARY.exists(), f"build chorus-server first: {BINARY}"
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [str(BINARY), "--port", "0", "--db", self.db, "--templates", str(ROOT / "examples" / "workflows"),
             *self.extra_args],
            stdout=subprocess.PIPE, stderr=self.stderr, env=self.env, text=True)
        deadline = time.time() + 60
        self.preamble = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            self.preamble.append(line)
            if not line:
                raise RuntimeError("chorus-server exited: " + self.stderr_path.read_text())
            m = re.match(r"chorus-server listening on (https?://\S+)", line)
            if m:
                self.url = m.group(1)
                # Keep draining stdout so the server never blocks on it.
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return self
        raise RuntimeError("chorus-server did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        return self.stderr_path.read_text(errors="replace")

    # --- clients
    def client(self):
        return Client(self.url)

    def user(self, name=None, password="correct horse battery"):
        c = self.client()
        email = f"{name or 'user'}-{uuid.uuid4().hex[:10]}@example.com"
        r = c.post("/api/auth/register", json={"email": email, "password": password, "name": name or "U"})
        assert r.status_code == 201, r.text
        body = check(r.json(), "AuthResponse")
        c.email, c.password, c.token, c.user = email, password, body["token"], body["user"]
        c.s.headers["Authorization"] = "Bearer " + body["token"]
        c.s.cookies.clear()  # bearer only; cookie tests build their own client
        return c


class Client:
    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "delete", "patch"):
            raise AttributeError(method)

        def call(path, **kw):
            kw.setdefault("timeout", 60)
            return getattr(self.s, method)(self.base + path, **kw)
        return call

    def create_workflow(self, doc=None, **extra):
        r = self.post("/api/workflows", json={"configuration": doc or workflow_doc(), **extra})
        assert r.status_code == 201, r.text
        return check(r.json(), "Workflow")

    def run(self, wf_id, text="hello", **kw):
        r = self.post(f"/api/workflows/{wf_id}/execute", json={"input": text, "wait": True, **kw})
        assert r.status_code == 200, r.text
        return check(r.json(), "Execution")


def sse_events(resp):
    """Yields (id, data-json) from an SSE response."""
    ev_id, data = None, []
    for raw in resp.iter_lines(decode_unicode=True):
        if raw == "":
            if data:
                yield ev_id, json.loads("\n".join(data))
            ev_id, data = None, []
        elif raw.startswith("id:"):
            ev_id = int(raw[3:].strip())
        elif raw.startswith("data:"):
            data.append(raw[5:].lstrip())


BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def server(backend, tmp_path_factory):
    s = Server(backend, tmp_path_factory.mktemp(f"srv-{backend}"), RELAXED).start()
    yield s
    s.stop()


@pytest.fixture
def make_server(backend, tmp_path):
    """Starts dedicated servers (own database) with extra flags/env; stops them after the test."""
    started = []

    def make(extra_args=(), env=None, relaxed=True, db=None):
        args = (RELAXED if relaxed else []) + list(extra_args)
        s = Server(backend, tmp_path, args, env=env, db=db).start()
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()
