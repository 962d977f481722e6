"""Health, metrics, routing errors, static files."""
from conftest import check, check_error


def test_health(server):
    r = server.client().get("/api/health")
    assert r.status_code == 200
    body = check(r.json(), "Health")
    assert body["status"] == "ok"
    assert body["storage"] == {"backend": server.backend, "ok": True}
    assert "simulated" in body["providers"]
    assert r.headers["X-Request-Id"]


def test_request_id_is_echoed(server):
    r = server.client().get("/api/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"


def test_metrics_prometheus_text(server):
    c = server.client()
    c.get("/api/health")
    r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert 'chorus_http_requests_total{method="GET",status="200"}' in r.text
    assert "chorus_http_request_duration_seconds_bucket" in r.text
    assert "chorus_executions_running" in r.text


def test_unknown_endpoint_and_method(server):
    c = server.user()
    check_error(c.get("/api/nope"), 404, "not_found")
    check_error(c.patch("/api/workflows"), 405, "method_not_allowed")


def test_static_files_and_spa_fallback(make_server, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>editor</html>")
    (dist / "assets" / "app-123.js").write_text("console.log(1)")
    s = make_server(["--static", str(dist)])
    c = s.client()
    r = c.get("/")
    assert r.status_code == 200 and "editor" in r.text and r.headers["Content-Type"].startswith("text/html")
    r = c.get("/assets/app-123.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in r.headers["Cache-Control"]
    r = c.get("/workflows/abc")  # client-side route
    assert r.status_code == 200 and "editor" in r.text
    assert c.get("/assets/missing.js").status_code == 404
    # Traversal never leaves the static root (the SPA fallback or a 404 answers instead).
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd"):
        r = c.get(path)
        assert "root:" not in r.text and r.status_code in (200, 404)
