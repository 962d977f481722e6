"""Templates: seeded public gallery, filters, private/public user templates, use."""
from conftest import check, check_error, workflow_doc


def test_seeded_templates_are_public_and_usable(server):
    u = server.user()
    items = check(u.get("/api/templates").json(), "TemplateList")["items"]
    seeded = [t for t in items if t["owner"] == "system"]
    assert len(seeded) >= 6
    assert all(t["public"] and t["category"] and t["tags"] for t in seeded)
    t = seeded[0]
    full = check(u.get(f"/api/templates/{t['id']}").json(), "Template")
    assert full["configuration"]["nodes"]
    r = u.post(f"/api/templates/{t['id']}/use", json={"name": "Mine now"})
    assert r.status_code == 201
    wf = check(r.json(), "Workflow")
    assert wf["name"] == "Mine now" and wf["templateId"] == t["id"]
    assert u.get(f"/api/workflows/{wf['id']}").json()["configuration"] == full["configuration"]
    # Every seeded template runs on the simulated provider.
    e = u.run(wf["id"], text="A short paragraph about the sea.")
    assert e["status"] == "succeeded", e


def test_filters(server):
    u = server.user()
    items = u.get("/api/templates").json()["items"]
    cat = items[0]["category"]
    by_cat = u.get("/api/templates", params={"category": cat}).json()["items"]
    assert by_cat and all(t["category"] == cat for t in by_cat)
    tag = items[0]["tags"][0]
    by_tag = u.get("/api/templates", params={"tag": tag}).json()["items"]
    assert by_tag and all(tag in t["tags"] for t in by_tag)
    word = items[0]["name"].split()[0].upper()
    by_q = u.get("/api/templates", params={"q": word}).json()["items"]
    assert items[0]["id"] in [t["id"] for t in by_q]
    assert u.get("/api/templates", params={"category": "no-such-category"}).json()["items"] == []


def test_private_and_public_user_templates(server):
    a, b = server.user("a"), server.user("b")
    wf = a.create_workflow()
    r = a.post("/api/templates", json={"name": "Private one", "workflowId": wf["id"], "tags": ["x"], "category": "mine"})
    assert r.status_code == 201
    private = check(r.json(), "Template")
    assert private["public"] is False and private["owner"] == "me"
    r = a.post("/api/templates", json={"name": "Shared one", "configuration": workflow_doc(), "public": True})
    public = check(r.json(), "Template")
    mine = [t["id"] for t in a.get("/api/templates?mine=true").json()["items"]]
    assert sorted(mine) == sorted([private["id"], public["id"]])
    b_ids = [t["id"] for t in b.get("/api/templates").json()["items"]]
    assert public["id"] in b_ids and private["id"] not in b_ids
    check_error(b.get(f"/api/templates/{private['id']}"), 404, "not_found")
    check_error(b.post(f"/api/templates/{private['id']}/use"), 404, "not_found")
    assert b.get(f"/api/templates/{public['id']}").json()["owner"] == "other"
    assert b.post(f"/api/templates/{public['id']}/use").status_code == 201


def test_template_validation(server):
    u = server.user()
    check_error(u.post("/api/templates", json={"name": "x"}), 400, "validation_failed")
    err = check_error(u.post("/api/templates", json={"name": "x", "configuration": {"nodes": []}}), 400, "invalid_workflow")
    assert err["details"]["problems"]
    check_error(u.post("/api/templates", json={"name": "x", "tags": "a", "configuration": workflow_doc()}), 400,
                "validation_failed")
    check_error(u.post("/api/templates", json={"name": "x", "workflowId": "nope"}), 404, "not_found")
