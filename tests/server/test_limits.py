"""Rate limits (429 + Retry-After, X-RateLimit-*) and subscription tier limits."""
import json
import time

from conftest import check_error, slow_doc, workflow_doc


def test_per_ip_rate_limit(make_server):
    s = make_server(["--rate-limit-ip", "1:5"], relaxed=False)
    c = s.client()
    statuses = [c.get("/api/health") for _ in range(8)]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    limited = statuses[-1]
    check_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert statuses[0].headers["X-RateLimit-Limit"] == "5"
    assert int(statuses[0].headers["X-RateLimit-Remaining"]) == 4


def test_per_user_rate_limit(make_server):
    s = make_server(["--rate-limit-ip", "100000:100000", "--rate-limit-user", "0.5:3",
                     "--rate-limit-auth", "1000:1000"], relaxed=False)
    u = s.user()
    other = s.user()
    codes = [u.get("/api/workflows").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    r = u.get("/api/workflows")
    assert int(r.headers["Retry-After"]) >= 1
    assert other.get("/api/workflows").status_code == 200  # per user, not global


def test_auth_endpoints_throttled_per_ip(make_server):
    s = make_server(["--rate-limit-auth", "1:3"], relaxed=False)
    c = s.client()
    codes = [c.post("/api/auth/login", json={"email": "x@y.z", "password": "whatever1"}).status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
    r = c.post("/api/auth/register", json={"email": "new@y.z", "password": "whatever12"})
    check_error(r, 429, "rate_limited")
    assert "Retry-After" in r.headers


def test_login_throttled_per_account(make_server):
    s = make_server(["--rate-limit-ip", "100000:100000", "--rate-limit-auth", "1000:1000", "--rate-limit-login", "1:2"],
                    relaxed=False)
    u = s.user()
    c = s.client()
    assert [c.post("/api/auth/login", json={"email": u.email, "password": "bad-password"}).status_code
            for _ in range(2)] == [401, 401]
    # Even the right password waits now: the account is throttled, not the address.
    r = c.post("/api/auth/login", json={"email": u.email, "password": u.password})
    check_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    other = s.user()
    assert c.post("/api/auth/login", json={"email": other.email, "password": other.password}).status_code == 200


def tiers(**free):
    return {"CHORUS_TIERS": json.dumps({"free": free})}


def test_executions_per_day_limit(make_server):
    s = make_server(env=tiers(executionsPerDay=2, concurrentRuns=10))
    u = s.user()
    wf = u.create_workflow()
    u.run(wf["id"])
    u.run(wf["id"])
    r = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"})
    err = check_error(r, 429, "plan_limit_exceeded")
    assert err["details"]["limit"] == "executionsPerDay" and err["details"]["tier"] == "free"
    assert err["details"]["upgradeTo"] == "pro" and "upgrade to pro" in err["message"]
    assert int(r.headers["Retry-After"]) > 0


def test_max_nodes_limit(make_server):
    s = make_server(env=tiers(maxNodes=4))
    u = s.user()
    u.create_workflow(workflow_doc(nodes_extra=1))  # 4 nodes: allowed
    err = check_error(u.post("/api/workflows", json={"configuration": workflow_doc(nodes_extra=2)}), 403,
                      "plan_limit_exceeded")
    assert err["details"]["limit"] == "maxNodes" and err["details"]["allowed"] == 4


def test_max_workflows_limit(make_server):
    s = make_server(env=tiers(maxWorkflows=1))
    u = s.user()
    u.create_workflow()
    err = check_error(u.post("/api/workflows", json={"configuration": workflow_doc()}), 403, "plan_limit_exceeded")
    assert err["details"]["limit"] == "maxWorkflows"


def test_concurrent_runs_limit(make_server):
    s = make_server(env=tiers(concurrentRuns=1))
    u = s.user()
    slow = u.create_workflow(slow_doc(tokens=2000, delay_ms=20))
    first = u.post(f"/api/workflows/{slow['id']}/execute", json={"input": "x"})
    assert first.status_code == 202
    err = check_error(u.post(f"/api/workflows/{slow['id']}/execute", json={"input": "x"}), 429, "plan_limit_exceeded")
    assert err["details"]["limit"] == "concurrentRuns"
    u.post(f"/api/executions/{first.json()['executionId']}/cancel")
    deadline = time.time() + 60
    while u.get(f"/api/executions/{first.json()['executionId']}").json()["status"] == "running":
        assert time.time() < deadline
        time.sleep(0.05)
    assert u.post(f"/api/workflows/{slow['id']}/execute", json={"input": "x", "wait": True}).status_code in (200,)


def test_monthly_platform_cost_cap(make_server):
    s = make_server(env=tiers(monthlyPlatformCostUsd=0.0000001))
    u = s.user()
    wf = u.create_workflow()
    assert u.run(wf["id"])["cost"] > 0  # the first run spends past the cap
    err = check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}), 402, "plan_limit_exceeded")
    assert err["details"]["limit"] == "monthlyPlatformCostUsd"
    assert "own provider key" in err["message"]


def test_paid_tier_via_set_tier(make_server):
    s = make_server(env=tiers(executionsPerDay=1))
    u = s.user()
    wf = u.create_workflow()
    u.run(wf["id"])
    check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}), 429, "plan_limit_exceeded")
    s.extra_args += ["--set-tier", f"{u.email}=pro"]
    s.restart()
    u.base = s.url
    assert u.get("/api/user/profile").json()["tier"] == "pro"
    assert u.run(wf["id"])["status"] == "succeeded"
