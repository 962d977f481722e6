"""kill -9 mid-run: at the next start the execution is `interrupted`, never `running` forever,
and what was stored of its event log is still served."""
import time

from conftest import check, slow_doc, sse_events


def test_kill9_mid_run_marks_interrupted(make_server):
    s = make_server(["--orphaned-runs", "interrupt"])  # the default, resume, is test_scaleout's
    u = s.user()
    wf = u.create_workflow(slow_doc(tokens=3000, delay_ms=20))
    exec_id = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}).json()["executionId"]
    r = u.get(f"/api/executions/{exec_id}/events", stream=True)
    seen = 0
    for _, ev in sse_events(r):
        if ev["type"] == "token":
            seen += 1
            if seen >= 3:
                break
    assert u.get(f"/api/executions/{exec_id}").json()["status"] == "running"
    time.sleep(1.2)  # let the periodic event flush happen (not a synchronisation: either way is valid)
    s.kill9()
    s.start()
    u.base = s.url
    e = check(u.get(f"/api/executions/{exec_id}").json(), "Execution")
    assert e["status"] == "interrupted"
    assert e["finishedAt"] is not None and e["error"]["code"] == "interrupted"
    events = list(sse_events(u.get(f"/api/executions/{exec_id}/events", stream=True)))
    assert events and events[0][1]["type"] == "run_started"
    assert [i for i, _ in events] == list(range(len(events)))
    # The server works normally afterwards.
    wf2 = u.create_workflow()
    assert u.run(wf2["id"])["status"] == "succeeded"
