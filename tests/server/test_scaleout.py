"""Scale-out on PostgreSQL (issue #12): several chorus-server instances share one database and its
execution queue. The multi-instance tests need PostgreSQL (SKIP LOCKED claiming, LISTEN/NOTIFY,
liveness locks; SQLite is single-instance): they are skipped when CHORUS_TEST_PG_URL is unset.

- test_cross_instance_sse_and_cancel: a listener on instance B follows a run executing on A
  (live, and resumed with Last-Event-ID), and a cancel sent to B stops the run on A.
- test_restart_resumes_on_sqlite (no PostgreSQL needed): with --orphaned-runs resume, a run
  killed mid-way resumes after a restart without calling its completed node again, and a queued
  run survives the restart.
- test_sigterm_hands_runs_over: with --orphaned-runs resume, SIGTERM releases the instance's
  runs and another instance resumes them.
- test_kill9_takeover_300_runs: 3 instances, 300 runs submitted round-robin, one instance killed
  with SIGKILL mid-way. Every run succeeds exactly once, no completed node is called again (the
  fake LLM server counts requests per node prompt), the usage rollup equals the sum of the
  per-node costs, and listeners that reconnect to another instance with Last-Event-ID see a
  contiguous event log.
"""
import collections
import hashlib
import http.server
import json
import secrets
import socketserver
import threading
import time

import pytest
import requests

from conftest import PG_URL, RELAXED, Server, check, slow_doc, sse_events

needs_pg = pytest.mark.skipif(not PG_URL, reason="scale-out needs PostgreSQL (scripts/with-postgres)")


class FakeOpenAI:
    """A minimal OpenAI-compatible chat server that counts requests per prompt (the messages of
    the request), answers after `latency_s`, streams a few tokens with usage."""

    def __init__(self, latency_s=0.15, token_delay_s=0.01):
        self.latency_s = latency_s
        self.token_delay_s = token_delay_s
        self.lock = threading.Lock()
        self.calls = collections.defaultdict(list)  # prompt -> [start times]
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                # The node's prompt: the last message's text (unique per run and node here).
                prompt = body["messages"][-1]["content"]
                if not isinstance(prompt, str):
                    prompt = json.dumps(prompt, sort_keys=True)
                with outer.lock:
                    outer.calls[prompt].append(time.time())
                time.sleep(outer.latency_s)
                reply = "R" + hashlib.sha1(prompt.encode()).hexdigest()[:10]
                tokens = [reply[:4], reply[4:8], reply[8:]]
                usage = {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(tokens),
                         "total_tokens": len(prompt) // 4 + 1 + len(tokens)}
                model = body.get("model", "gpt-4o-mini")
                if not body.get("stream"):
                    out = json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": model,
                                      "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                                   "finish_reason": "stop"}], "usage": usage}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def chunk(obj):
                    data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

                base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model}
                chunk({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "finish_reason": None}], "usage": None})
                for t in tokens:
                    time.sleep(outer.token_delay_s)
                    chunk({**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                           "usage": None})
                chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
                chunk({**base, "choices": [], "usage": usage})
                chunk("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        class Srv(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request, client_address):
                pass  # the killed instance's connections break mid-answer

        self.httpd = Srv(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def chain_doc():
    """input -> a -> b -> c -> output, three LLM nodes, each prompted with its input."""
    def llm(nid, x, prompt):
        return {"id": nid, "type": "llm", "position": {"x": x, "y": 0},
                "data": {"provider": "openai", "model": "gpt-4o-mini", "prompt": prompt}}
    return {"id": "chain", "name": "Chain",
            "nodes": [{"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}},
                      llm("a", 100, "first {{input}}"), llm("b", 200, "second {{input}}"),
                      llm("c", 300, "third {{input}}"),
                      {"id": "out", "type": "output", "position": {"x": 400, "y": 0}, "data": {}}],
            "edges": [{"id": "e1", "source": "in", "target": "a"}, {"id": "e2", "source": "a", "target": "b"},
                      {"id": "e3", "source": "b", "target": "c"}, {"id": "e4", "source": "c", "target": "out"}]}


NODE_PROMPT = {"a": "first {}", "b": "second {}", "c": "third {}"}
UPSTREAM = {"a": None, "b": "a", "c": "b"}


def cluster(tmp_path, n, extra=(), env=None):
    """n servers on one fresh PostgreSQL database, sharing the master key."""
    key = secrets.token_hex(32)
    env = {"CHORUS_MASTER_KEY": key, **(env or {})}
    first = Server("postgres", tmp_path, RELAXED + list(extra), env=env)
    servers = [first.start()]
    for _ in range(n - 1):
        servers.append(Server("postgres", tmp_path, RELAXED + list(extra), env=env, db=first.db).start())
    return servers


def on(client, server):
    """The same authenticated client, pointed at another instance."""
    c = server.client()
    c.s.headers.update(client.s.headers)
    return c


def wait_status(client, exec_id, statuses, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        e = client.get(f"/api/executions/{exec_id}").json()
        if e["status"] in statuses:
            return e
        time.sleep(0.05)
    raise AssertionError(f"execution {exec_id} still {e['status']}")


def contiguous(ids):
    return ids == list(range(len(ids)))


@needs_pg
def test_cross_instance_sse_and_cancel(tmp_path):
    a, b = cluster(tmp_path, 2, ["--heartbeat-ms", "200"])
    try:
        ua = a.user()
        ub = on(ua, b)
        wf = ua.create_workflow(slow_doc(tokens=4000, delay_ms=5))
        exec_id = ua.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
        # Instance A had room: the run executes on A. B follows it from the stored log.
        r = ub.get(f"/api/executions/{exec_id}/events", stream=True, timeout=60)
        assert r.status_code == 200
        seen = []
        for ev_id, ev in sse_events(r):
            seen.append(ev_id)
            if ev["type"] == "token" and len(seen) >= 20:
                break
        r.close()
        assert contiguous(seen), seen[:50]
        # Resume on B with Last-Event-ID: the next event is the one after it.
        last = seen[-1]
        r = ub.get(f"/api/executions/{exec_id}/events", headers={"Last-Event-ID": str(last)}, stream=True)
        it = sse_events(r)
        more = [next(it)[0] for _ in range(5)]
        assert more == list(range(last + 1, last + 6))
        # Cancel through B: A stops the run; B's listener sees the end.
        c = ub.post(f"/api/executions/{exec_id}/cancel")
        assert c.status_code == 202, c.text
        rest = []
        for ev_id, ev in it:
            rest.append((ev_id, ev))
        assert rest and rest[-1][1]["type"] == "run_finished" and rest[-1][1]["status"] == "cancelled"
        ids = more + [i for i, _ in rest]
        assert ids == list(range(last + 1, last + 1 + len(ids)))
        e = check(ua.get(f"/api/executions/{exec_id}").json(), "Execution")
        assert e["status"] == "cancelled"
        # Once it ended, a cancel answers 409 on any instance.
        assert ub.post(f"/api/executions/{exec_id}/cancel").status_code == 409
        # wait=true through B for a run executing anywhere answers when it ends.
        wf2 = ua.create_workflow()
        done = ub.post(f"/api/workflows/{wf2['id']}/execute", json={"input": "hi", "wait": True})
        assert done.status_code == 200 and done.json()["status"] == "succeeded"
    finally:
        for s in (a, b):
            s.stop()


@needs_pg
def test_sigterm_hands_runs_over(tmp_path):
    """With --orphaned-runs resume, a stopping instance releases its runs: another resumes them."""
    a, b = cluster(tmp_path, 2, ["--heartbeat-ms", "200", "--orphaned-runs", "resume"])
    try:
        ua = a.user()
        ub = on(ua, b)
        wf = ua.create_workflow(slow_doc(tokens=400, delay_ms=5))
        exec_id = ua.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
        r = ub.get(f"/api/executions/{exec_id}/events", stream=True, timeout=60)
        it = sse_events(r)
        seen = [next(it)[0] for _ in range(3)]
        a.stop()  # SIGTERM
        seen += [i for i, _ in it]
        e = check(wait_status(ub, exec_id, {"succeeded", "failed", "cancelled", "interrupted"}), "Execution")
        assert e["status"] == "succeeded", e
        assert contiguous(seen)
        assert "execution taken over" in b.log()
    finally:
        for s in (a, b):
            s.stop()


@needs_pg
def test_kill9_takeover_300_runs(tmp_path):
    fake = FakeOpenAI(latency_s=0.15, token_delay_s=0.01)
    env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-test"}
    servers = cluster(tmp_path, 3, ["--heartbeat-ms", "300", "--lease-ms", "3000", "--orphaned-runs", "resume",
                                    "--max-concurrent-runs", "8"], env=env)
    victim = servers[1]
    try:
        u0 = servers[0].user()
        clients = [u0] + [on(u0, s) for s in servers[1:]]
        wf = u0.create_workflow(chain_doc())
        ids = []
        for i in range(300):
            c = clients[i % 3]
            r = c.post(f"/api/workflows/{wf['id']}/execute", json={"input": f"run-{i:03d}"})
            assert r.status_code == 202, r.text
            ids.append(r.json()["executionId"])

        # Listeners through the victim, on runs that will still be going when it dies.
        listened = ids[151:181:3]
        logs = {i: [] for i in listened}

        def listen(exec_id):
            try:
                r = clients[1].get(f"/api/executions/{exec_id}/events", stream=True, timeout=120)
                for ev_id, ev in sse_events(r):
                    logs[exec_id].append((ev_id, ev["type"]))
            except requests.RequestException:
                pass  # the instance died mid-stream

        threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in listened]
        for t in threads:
            t.start()

        # Kill instance 1 once a third of the node calls were made.
        deadline = time.time() + 120
        while sum(len(v) for v in fake.calls.values()) < 300:
            assert time.time() < deadline, "runs do not progress"
            time.sleep(0.02)
        victim.kill9()
        killed_at = time.time()
        for t in threads:
            t.join(30)

        # Reconnect every listener to another instance with its Last-Event-ID.
        for exec_id in listened:
            last = logs[exec_id][-1][0] if logs[exec_id] else -1
            r = clients[2].get(f"/api/executions/{exec_id}/events", headers={"Last-Event-ID": str(last)},
                               stream=True, timeout=120)
            for ev_id, ev in sse_events(r):
                logs[exec_id].append((ev_id, ev["type"]))

        # Every run ends, exactly once, succeeded.
        final = {}
        deadline = time.time() + 180
        for exec_id in ids:
            final[exec_id] = wait_status(u0, exec_id, {"succeeded", "failed", "cancelled", "interrupted"},
                                         timeout=max(1, deadline - time.time()))
        statuses = collections.Counter(e["status"] for e in final.values())
        assert statuses == {"succeeded": 300}, statuses

        survivors_log = servers[0].log() + servers[2].log()
        taken_over = survivors_log.count('"execution taken over"')
        assert taken_over >= 1, "the victim had no run in flight"

        # No event lost for the listeners; one run_finished each.
        for exec_id, log in logs.items():
            seqs = [s for s, _ in log]
            assert contiguous(seqs), (exec_id, seqs)
            assert [t for _, t in log].count("run_finished") == 1 and log[-1][1] == "run_finished"

        node_cost = 0.0
        node_calls = 0
        resumed_nodes = 0
        for n_run, exec_id in enumerate(ids):
            e = final[exec_id]
            nodes = {n["nodeId"]: n for n in e["nodes"]}
            # The stored log of every run is contiguous and finishes once.
            events = [ev for _, ev in sse_events(u0.get(f"/api/executions/{exec_id}/events", stream=True))]
            assert [ev["seq"] for ev in events] == list(range(len(events))), exec_id
            assert [ev["type"] for ev in events].count("run_finished") == 1
            starts = [k for k, ev in enumerate(events) if ev["type"] == "run_started"]
            # Nodes the dead instance completed (stored before the takeover's run_started).
            done_before = {ev["nodeId"] for ev in events[:starts[-1]] if ev["type"] == "node_finished"}
            after = events[starts[-1]:]
            for nid in ("a", "b", "c"):
                n = nodes[nid]
                assert n["status"] == "succeeded", (exec_id, n)
                node_cost += n["cost"]
                node_calls += n["attempts"]
                up = UPSTREAM[nid]
                prompt = NODE_PROMPT[nid].format(f"run-{n_run:03d}" if up is None else nodes[up]["output"])
                calls = fake.calls.get(prompt, [])
                if nid in done_before:
                    # Completed on the dead instance: resumed, not called again.
                    resumed_nodes += 1
                    assert len(calls) == 1, (exec_id, nid, calls)
                    assert not any(ev["type"] == "node_started" and ev.get("nodeId") == nid for ev in after)
                    assert any(ev["type"] == "node_finished" and ev.get("nodeId") == nid and ev.get("resumed")
                               for ev in after)
                elif len(calls) != 1:
                    # Called again only when its first call was in flight on the killed instance.
                    assert len(starts) == 2 and len(calls) == 2, (exec_id, nid, calls)
                    assert calls[0] < killed_at <= calls[1] + 0.001

        # Every node prompt reached the fake server; repeats only for calls in flight at the kill.
        assert len(fake.calls) == 900, len(fake.calls)
        twice = {p: t for p, t in fake.calls.items() if len(t) > 1}
        assert len(twice) <= 8, len(twice)  # at most the victim's worker cap
        assert resumed_nodes >= 1, "no taken-over run had a completed node to resume"
        print(f"\n{taken_over} runs taken over, {resumed_nodes} completed nodes resumed without a call, "
              f"{len(twice)} calls repeated (in flight at the kill), {len(listened)} listeners reconnected")

        # Billing: the rollup holds each node once.
        usage = u0.get("/api/user/usage").json()
        assert usage["totals"]["cost"] == pytest.approx(node_cost, rel=1e-9, abs=1e-12)
        assert usage["totals"]["calls"] == node_calls == 900
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.stop()
        fake.stop()


def test_restart_resumes_on_sqlite(tmp_path):
    fake = FakeOpenAI(latency_s=0.4, token_delay_s=0.01)
    env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-test", "CHORUS_MASTER_KEY": secrets.token_hex(32)}
    s = Server("sqlite", tmp_path, RELAXED + ["--orphaned-runs", "resume", "--max-concurrent-runs", "1"],
               env=env).start()
    try:
        u = s.user()
        wf = u.create_workflow(chain_doc())
        first = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "run-000"}).json()["executionId"]
        queued = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "run-001"}).json()["executionId"]
        assert u.get(f"/api/executions/{queued}").json()["status"] == "queued"
        # Node results are stored as each node finishes: kill once node a's is.
        deadline = time.time() + 60
        while True:
            nodes = {n["nodeId"]: n for n in u.get(f"/api/executions/{first}").json()["nodes"]}
            if nodes.get("a", {}).get("status") == "succeeded":
                break
            assert time.time() < deadline
            time.sleep(0.02)
        s.kill9()
        s.start()
        u.base = s.url
        for exec_id in (first, queued):
            e = check(wait_status(u, exec_id, {"succeeded", "failed", "cancelled", "interrupted"}), "Execution")
            assert e["status"] == "succeeded", e
        a_out = {n["nodeId"]: n for n in u.get(f"/api/executions/{first}").json()["nodes"]}["a"]["output"]
        assert len(fake.calls["first run-000"]) == 1  # completed before the kill: not called again
        assert 1 <= len(fake.calls[f"second {a_out}"]) <= 2  # in flight at the kill: maybe again
        events = [ev for _, ev in sse_events(u.get(f"/api/executions/{first}/events", stream=True))]
        assert [ev["seq"] for ev in events] == list(range(len(events)))
        assert any(ev["type"] == "node_finished" and ev.get("nodeId") == "a" and ev.get("resumed") for ev in events)
        # Billing counts node a once.
        usage = u.get("/api/user/usage").json()["totals"]
        assert usage["calls"] == 6
    finally:
        s.stop()
        fake.stop()
