"""Execution: JSON and SSE, node results, history, cancel, Last-Event-ID resume, usage."""
import threading
import time

import requests

from conftest import check, check_error, slow_doc, sse_events, workflow_doc


def wait_finished(u, exec_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        e = u.get(f"/api/executions/{exec_id}").json()
        if e["status"] not in ("queued", "running"):
            return check(e, "Execution")
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def test_execute_returns_id_then_result(server):
    u = server.user()
    wf = u.create_workflow()
    r = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "hi there"})
    assert r.status_code == 202, r.text
    acc = check(r.json(), "ExecuteAccepted")
    e = wait_finished(u, acc["executionId"])
    assert e["status"] == "succeeded"
    assert e["output"] == "hi there"
    assert e["input"] == "hi there" and e["workflowId"] == wf["id"] and e["workflowVersion"] == 1
    nodes = {n["nodeId"]: n for n in e["nodes"]}
    assert set(nodes) == {"in", "llm", "out"}
    llm = nodes["llm"]
    assert llm["status"] == "succeeded" and llm["provider"] == "simulated" and llm["model"] == "sim-fast"
    assert llm["usage"]["totalTokens"] > 0 and llm["attempts"] == 1
    assert e["usage"]["totalTokens"] == llm["usage"]["totalTokens"]
    assert e["cost"] is not None and abs(e["cost"] - llm["cost"]) < 1e-12
    assert e["finishedAt"] is not None


def test_execute_streams_sse_with_library_events(server):
    u = server.user()
    wf = u.create_workflow()
    r = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "stream me"},
               headers={"Accept": "text/event-stream"}, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
    exec_id = r.headers["X-Execution-Id"]
    events = list(sse_events(r))
    for _, ev in events:
        check(ev, "RunEvent")
    ids = [i for i, _ in events]
    assert ids == list(range(len(ids)))  # seq 0.. without gaps, as SSE ids
    types = [ev["type"] for _, ev in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert "token" in types
    assert all(ev["runId"] == exec_id for _, ev in events)
    text = "".join(ev["text"] for _, ev in events if ev["type"] == "token")
    assert text == "stream me"
    assert events[-1][1]["status"] == "succeeded"
    e = u.get(f"/api/executions/{exec_id}").json()
    assert e["status"] == "succeeded" and e["lastEventId"] == ids[-1]


def test_events_replay_and_resume_with_last_event_id(server):
    u = server.user()
    wf = u.create_workflow(slow_doc(tokens=40, delay_ms=20))
    exec_id = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
    # First listener: read a few events, then drop the connection mid-run.
    r = u.get(f"/api/executions/{exec_id}/events", stream=True)
    first = []
    for ev_id, ev in sse_events(r):
        first.append((ev_id, ev))
        if len(first) == 5:
            break
    r.close()
    last = first[-1][0]
    # Reconnect with Last-Event-ID: everything after it, nothing twice, nothing lost.
    r2 = u.get(f"/api/executions/{exec_id}/events", headers={"Last-Event-ID": str(last)}, stream=True)
    rest = list(sse_events(r2))
    assert rest[0][0] == last + 1
    all_ids = [i for i, _ in first] + [i for i, _ in rest]
    assert all_ids == list(range(len(all_ids)))
    assert rest[-1][1]["type"] == "run_finished"
    # After the end, a replay comes from storage and is identical.
    replay = list(sse_events(u.get(f"/api/executions/{exec_id}/events", stream=True)))
    assert [e for _, e in replay] == [e for _, e in first + rest]
    tail = list(sse_events(u.get(f"/api/executions/{exec_id}/events?lastEventId={all_ids[-3]}", stream=True)))
    assert [i for i, _ in tail] == all_ids[-2:]
    check_error(u.get(f"/api/executions/{exec_id}/events", headers={"Last-Event-ID": "abc"}), 400, "invalid_parameter")


def test_many_listeners_get_the_same_stream(server):
    u = server.user()
    wf = u.create_workflow(slow_doc(tokens=30, delay_ms=10))
    exec_id = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
    results = [None] * 8

    def listen(i):
        s = requests.Session()
        s.headers.update(u.s.headers)
        results[i] = [ev_id for ev_id, _ in sse_events(s.get(u.base + f"/api/executions/{exec_id}/events", stream=True, timeout=60))]
    threads = [threading.Thread(target=listen, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None and r == list(range(len(r))) and len(r) == len(results[0]) for r in results)


def test_history_is_paginated_and_filtered(server):
    u = server.user()
    a, b = u.create_workflow(), u.create_workflow()
    for _ in range(3):
        u.run(a["id"])
    u.run(b["id"])
    page = check(u.get(f"/api/executions?workflow_id={a['id']}&limit=2").json(), "ExecutionList")
    assert page["total"] == 3 and len(page["items"]) == 2
    assert all(e["workflowId"] == a["id"] for e in page["items"])
    page2 = u.get(f"/api/executions?workflow_id={a['id']}&limit=2&offset=2").json()
    assert len(page2["items"]) == 1
    assert {e["id"] for e in page["items"]}.isdisjoint({e["id"] for e in page2["items"]})
    assert u.get("/api/executions").json()["total"] == 4
    check_error(u.get("/api/executions?workflow_id=nope"), 404, "not_found")


def test_cancel_a_running_execution(server):
    u = server.user()
    wf = u.create_workflow(slow_doc(tokens=2000, delay_ms=20))
    exec_id = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
    r = u.get(f"/api/executions/{exec_id}/events", stream=True)
    for _, ev in sse_events(r):  # wait until tokens flow
        if ev["type"] == "token":
            break
    c = u.post(f"/api/executions/{exec_id}/cancel")
    assert c.status_code == 202
    check(c.json(), "CancelAccepted")
    e = wait_finished(u, exec_id)
    assert e["status"] == "cancelled"
    check_error(u.post(f"/api/executions/{exec_id}/cancel"), 409, "not_running")


def test_failed_node_is_recorded(server):
    u = server.user()
    wf = u.create_workflow(workflow_doc(prompt="[[status:400]] {{input}}"))
    e = u.run(wf["id"])
    assert e["status"] == "failed"
    llm = next(n for n in e["nodes"] if n["nodeId"] == "llm")
    assert llm["status"] == "failed" and llm["error"]["message"]
    assert e["error"] is not None


def test_usage_rollup_matches_executions(server):
    u = server.user()
    wf = u.create_workflow()
    runs = [u.run(wf["id"], text=f"text number {i}") for i in range(3)]
    usage = check(u.get("/api/user/usage").json(), "UsageReport")
    assert usage["totals"]["calls"] == 3
    assert usage["totals"]["totalTokens"] == sum(e["usage"]["totalTokens"] for e in runs)
    assert abs(usage["totals"]["cost"] - sum(e["cost"] for e in runs)) < 1e-9
    assert usage["byModel"][0]["provider"] == "simulated" and usage["byModel"][0]["model"] == "sim-fast"
    assert usage["byWorkflow"][0]["workflowId"] == wf["id"] and usage["byWorkflow"][0]["workflowName"] == "Test flow"
    assert len(usage["byDay"]) == 1
    empty = u.get("/api/user/usage?from=2000-01-01&to=2000-01-31").json()
    assert empty["totals"]["calls"] == 0 and empty["byDay"] == []
    check_error(u.get("/api/user/usage?from=2020-13-01"), 400, "invalid_parameter")
    check_error(u.get("/api/user/usage?from=2021-01-02&to=2021-01-01"), 400, "invalid_parameter")


def test_execute_input_must_be_a_string(server):
    u = server.user()
    wf = u.create_workflow()
    err = check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": {"a": 1}}), 400, "validation_failed")
    assert err["details"]["fields"][0]["field"] == "input"
    check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"stream": "yes"}), 400, "validation_failed")
    check_error(u.post("/api/workflows/nope/execute", json={}), 404, "not_found")


def test_event_frames_match_the_spec(server):
    # Found by schemathesis: the spec described the event stream as one string; OpenAPI reads an
    # event stream's schema per event ({id, data, ...}), so each frame is now RunEventFrame.
    import json
    u = server.user()
    wf = u.create_workflow()
    ex = u.run(wf["id"])
    r = u.get(f"/api/executions/{ex['id']}/events", stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = 0
    for ev_id, data in sse_events(r):
        check({"id": str(ev_id), "data": json.dumps(data)}, "RunEventFrame")
        check(data, "RunEvent")
        assert data["seq"] == ev_id
        frames += 1
    assert frames >= 3
