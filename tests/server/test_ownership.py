"""User B gets 404 on each of user A's resources: workflows, versions, executions, events,
cancel, keys and private templates."""
from conftest import check_error, slow_doc, workflow_doc


def test_ownership_matrix(server):
    a, b = server.user("a"), server.user("b")
    wf = a.create_workflow()
    a.put(f"/api/workflows/{wf['id']}", json={"configuration": workflow_doc(name="v2")})
    slow = a.create_workflow(slow_doc(tokens=300, delay_ms=20))
    done = a.run(wf["id"])
    running = a.post(f"/api/workflows/{slow['id']}/execute", json={"input": "x"}).json()["executionId"]
    a.put("/api/user/api-keys", json={"provider": "openai", "key": "sk-a-secret-000000", "skip_validation": True})
    tpl = a.post("/api/templates", json={"name": "A private", "workflowId": wf["id"]}).json()
    tok = a.post("/api/user/tokens", json={"name": "a-token"}).json()

    wid, eid = wf["id"], done["id"]
    attempts = [
        ("get", f"/api/workflows/{wid}", None),
        ("put", f"/api/workflows/{wid}", {"configuration": workflow_doc()}),
        ("delete", f"/api/workflows/{wid}", None),
        ("get", f"/api/workflows/{wid}/versions", None),
        ("post", f"/api/workflows/{wid}/execute", {"input": "x"}),
        ("get", f"/api/executions/{eid}", None),
        ("get", f"/api/executions/{eid}/events", None),
        ("post", f"/api/executions/{eid}/cancel", None),
        ("post", f"/api/executions/{running}/cancel", None),
        ("get", f"/api/executions/{running}/events", None),
        ("get", f"/api/executions?workflow_id={wid}", None),
        ("get", f"/api/templates/{tpl['id']}", None),
        ("post", f"/api/templates/{tpl['id']}/use", None),
        ("delete", f"/api/user/tokens/{tok['id']}", None),
        ("delete", "/api/user/api-keys/openai", None),
    ]
    for method, path, body in attempts:
        r = getattr(b, method)(path, json=body) if body is not None else getattr(b, method)(path)
        check_error(r, 404, "not_found")
    # B's own listings show nothing of A's.
    assert b.get("/api/workflows").json()["total"] == 0
    assert b.get("/api/executions").json()["total"] == 0
    assert b.get("/api/user/api-keys").json()["items"] == []
    assert b.get("/api/user/tokens").json()["items"] == []
    assert tpl["id"] not in [t["id"] for t in b.get("/api/templates").json()["items"]]
    assert b.get("/api/user/usage").json()["totals"]["calls"] == 0
    # A still has everything, and the run B tried to cancel is still running.
    assert a.get(f"/api/workflows/{wid}").status_code == 200
    assert a.get(f"/api/executions/{running}").json()["status"] == "running"
    assert a.get("/api/user/api-keys").json()["items"][0]["provider"] == "openai"
    a.post(f"/api/executions/{running}/cancel")
