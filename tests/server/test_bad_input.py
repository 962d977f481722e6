"""Bad input gets a 4xx with the error shape, never a 5xx: malformed JSON, huge bodies, deep
nesting, wrong types, wrong content types, odd paths."""
import socket
import urllib.parse

from conftest import check_error, workflow_doc

ENDPOINTS = [
    ("post", "/api/auth/register"), ("post", "/api/auth/login"), ("post", "/api/workflows"),
    ("put", "/api/workflows/{wid}"), ("post", "/api/workflows/{wid}/execute"), ("post", "/api/templates"),
    ("put", "/api/user/api-keys"), ("post", "/api/user/tokens"), ("post", "/api/templates/{tid}/use"),
]


def bodies():
    yield b"{", "invalid_json"
    yield b"not json at all", "invalid_json"
    yield b"[1,2,3]", "invalid_json"
    yield b'"string"', "invalid_json"
    yield b"\xff\xfe\x00garbage", "invalid_json"
    yield b"[" * 5000 + b"]" * 5000, "json_too_deep"
    yield b'{"a":' * 200 + b"1" + b"}" * 200, "json_too_deep"


def test_malformed_and_deep_bodies(server):
    u = server.user()
    wid = u.create_workflow()["id"]
    tid = u.get("/api/templates").json()["items"][0]["id"]
    for method, path in ENDPOINTS:
        p = path.format(wid=wid, tid=tid)
        for body, code in bodies():
            r = getattr(u, method)(p, data=body, headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (p, body[:20], r.status_code, r.text)
            check_error(r, 400, code)


def test_wrong_types_everywhere(server):
    u = server.user()
    wid = u.create_workflow()["id"]
    cases = [
        ("post", "/api/auth/register", {"email": 1, "password": ["x"]}),
        ("post", "/api/auth/login", {"email": None, "password": {"a": 1}}),
        ("post", "/api/workflows", {"name": 3, "configuration": workflow_doc()}),
        ("post", "/api/workflows", {"configuration": [1, 2]}),
        ("post", "/api/workflows", {"configuration": {"nodes": "x"}}),
        ("post", "/api/workflows", {"configuration": {"nodes": [1, "a", None], "edges": {}}}),
        ("put", f"/api/workflows/{wid}", {"configuration": True}),
        ("post", f"/api/workflows/{wid}/execute", {"input": 5}),
        ("post", f"/api/workflows/{wid}/execute", {"wait": "true"}),
        ("post", "/api/templates", {"name": "x", "public": "yes", "configuration": workflow_doc()}),
        ("put", "/api/user/api-keys", {"provider": 7, "key": "abcdefghij"}),
        ("put", "/api/user/api-keys", {"provider": "openai", "key": "abcdefghij", "skip_validation": 1}),
        ("post", "/api/user/tokens", {"name": "x", "expiresInDays": "ten"}),
        ("post", "/api/user/tokens", {"name": "x", "expiresInDays": 1.5}),
        ("post", "/api/user/tokens", {"name": "x", "expiresInDays": -1}),
    ]
    for method, path, body in cases:
        r = getattr(u, method)(path, json=body)
        assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
        check_error(r, r.status_code)


def test_huge_body_is_413(server):
    u = server.user()
    big = b'{"configuration": {"nodes": [], "pad": "' + b"x" * (2 << 20) + b'"}}'
    try:
        r = u.post("/api/workflows", data=big, headers={"Content-Type": "application/json"})
        check_error(r, 413, "payload_too_large")
    except Exception as e:  # the server may close while the client is still sending: also a refusal
        assert "Connection" in type(e).__name__ or "connection" in str(e).lower()
    assert u.get("/api/health").status_code == 200


def test_wrong_content_type_and_empty_body(server):
    u = server.user()
    check_error(u.post("/api/workflows", data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                415, "unsupported_media_type")
    check_error(u.post("/api/workflows", data=b""), 400, "invalid_json")


def test_odd_paths_and_ids(server):
    u = server.user()
    for path in ["/api/workflows/" + "x" * 5000, "/api/workflows/%00", "/api/workflows/'%20OR%201=1--",
                 "/api/executions/" + urllib.parse.quote("..%2f..", safe=""), "/api/templates/%ff%fe"]:
        r = u.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)


def test_garbage_http_is_rejected(server):
    host, port = server.url.replace("http://", "").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"NOT-HTTP \x00\x01\x02\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431")
    assert server.client().get("/api/health").status_code == 200


def test_nul_and_invalid_utf8_are_refused(server):
    u = server.user()
    check_error(server.client().post("/api/auth/register", json={"email": "a\u0000@b.co", "password": "password123"}),
                400, "validation_failed")
    wid = u.create_workflow()["id"]
    check_error(u.post(f"/api/workflows/{wid}/execute", json={"input": "nul\u0000here"}), 400, "validation_failed")
    check_error(u.get("/api/templates?q=%ff%fe"), 400, "invalid_parameter")
    check_error(u.get("/api/templates?category=a%00b"), 400, "invalid_parameter")
    check_error(u.get("/api/workflows/%ff"), 400, "invalid_parameter")
    r = u.post("/api/workflows", data=b'{"configuration": {"name": "\xff\xfe"}}', headers={"Content-Type": "application/json"})
    check_error(r, 400, "invalid_json")


def test_problem_messages_stay_valid_utf8(server):
    # Found by schemathesis: the library quotes a wrong value in a problem message cut at 37
    # bytes, which split a multi-byte character; the answer was not valid UTF-8.
    u = server.user()
    for prefix in ("", "a", "ab", "abc"):
        doc = {"nodes": [[prefix + "\U0001d54b\u00e9" * 20], {"id": "x", "type": ["é" * 30]}], "edges": []}
        r = u.post("/api/workflows", json={"configuration": doc})
        r.content.decode("utf-8")  # raises on invalid UTF-8
        err = check_error(r, 400, "invalid_workflow")
        assert any(p["message"].endswith("...)") for p in err["details"]["problems"]), err


def test_invalid_utf8_outside_the_api_is_refused_too(server):
    # Found by tests/fuzz/server_http_fuzz.cpp: the 404 of a non-API path quoted the decoded path,
    # so `%ff` put invalid UTF-8 in the JSON answer.
    c = server.client()
    for method, path in (("post", "/%ff%fe"), ("get", "/assets/%c3%28.js"), ("delete", "/x%00y")):
        r = getattr(c, method)(path)
        r.content.decode("utf-8")
        check_error(r, 400, "invalid_parameter")


def test_query_names_are_checked_like_values(server):
    # Found by tests/fuzz/server_http_fuzz.cpp: only values were checked, and by their raw name,
    # so `%71=%ff` (q = invalid UTF-8) slipped through, and a raw name with invalid UTF-8 was
    # echoed in details.field, making the answer invalid UTF-8.
    u = server.user()
    for query in ("%71=%ff", "a%ff=1", "x%ff", "limit=1&%ff%fe=2"):
        r = u.get("/api/templates?" + query)
        r.content.decode("utf-8")
        err = check_error(r, 400, "invalid_parameter")
        assert "field" not in err["details"] or err["details"]["field"] == "q"


def test_overlong_and_surrogate_utf8_are_refused(server):
    # Found by tests/fuzz/server_http_fuzz.cpp: the UTF-8 check let overlong forms (C1 A9) and
    # encoded surrogates through, and an answer quoting them was not valid UTF-8.
    u = server.user()
    for bad in ("%C1%A9", "%E0%80%AF", "%ED%A0%80", "%F4%90%80%80", "%F5%80%80%80"):
        for path in (f"/api/templates?{bad}=1", f"/api/templates?q={bad}", f"/api/workflows/{bad}"):
            r = u.get(path)
            r.content.decode("utf-8")
            check_error(r, 400, "invalid_parameter")
