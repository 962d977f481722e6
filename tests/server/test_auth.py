"""Register, login, logout, profile, sessions (cookie + CSRF), bearer and personal API tokens."""
import uuid

from conftest import check, check_error


def test_register_login_profile_logout(server):
    c = server.client()
    email = f"Alice-{uuid.uuid4().hex[:8]}@Example.com"
    r = c.post("/api/auth/register", json={"email": email, "password": "s3cret-password", "name": "Alice"})
    assert r.status_code == 201, r.text
    body = check(r.json(), "AuthResponse")
    assert body["user"]["email"] == email.lower()
    assert body["user"]["tier"] == "free"
    assert "password" not in r.text and "hash" not in r.text
    cookies = r.headers.get("Set-Cookie")
    assert "chorus_session=" in cookies and "HttpOnly" in cookies and "SameSite=Lax" in cookies

    login = server.client().post("/api/auth/login", json={"email": email.upper(), "password": "s3cret-password"})
    assert login.status_code == 200
    token = check(login.json(), "AuthResponse")["token"]
    assert token != body["token"]
    h = {"Authorization": f"Bearer {token}"}
    prof = server.client().get("/api/user/profile", headers=h)
    assert prof.status_code == 200
    p = check(prof.json(), "Profile")
    assert p["email"] == email.lower() and p["authMethod"] == "bearer_session"

    assert server.client().post("/api/auth/logout", headers=h).status_code == 200
    check_error(server.client().get("/api/user/profile", headers=h), 401, "unauthenticated")


def test_duplicate_email_conflicts(server):
    u = server.user()
    r = server.client().post("/api/auth/register", json={"email": u.email, "password": "another-password"})
    check_error(r, 409, "email_taken")


def test_wrong_password_and_unknown_user_answer_alike(server):
    u = server.user()
    a = server.client().post("/api/auth/login", json={"email": u.email, "password": "wrong-password"})
    b = server.client().post("/api/auth/login", json={"email": "nobody-" + u.email, "password": "wrong-password"})
    ea, eb = check_error(a, 401, "invalid_credentials"), check_error(b, 401, "invalid_credentials")
    assert ea["message"] == eb["message"]


def test_register_validation_names_fields(server):
    r = server.client().post("/api/auth/register", json={"email": "not-an-email", "password": "short"})
    err = check_error(r, 400, "validation_failed")
    fields = {f["field"] for f in err["details"]["fields"]}
    assert fields == {"email", "password"}


def test_missing_or_bad_token(server):
    c = server.client()
    check_error(c.get("/api/workflows"), 401, "unauthenticated")
    check_error(c.get("/api/workflows", headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")
    check_error(c.get("/api/workflows", headers={"Authorization": "Basic abc"}), 401, "unauthenticated")


def test_cookie_session_requires_csrf_header_for_writes(server):
    c = server.client()  # a browser-like client keeping cookies
    email = f"cookie-{uuid.uuid4().hex[:8]}@example.com"
    r = c.post("/api/auth/register", json={"email": email, "password": "cookie-password"})
    csrf = r.json()["csrfToken"]
    assert c.s.cookies.get("chorus_csrf") == csrf
    # Reads work with the cookie alone.
    assert c.get("/api/workflows").status_code == 200
    assert c.get("/api/user/profile").json()["authMethod"] == "cookie"
    # Writes need the double-submit header.
    from conftest import workflow_doc
    check_error(c.post("/api/workflows", json={"configuration": workflow_doc()}), 403, "csrf_failed")
    check_error(c.post("/api/workflows", json={"configuration": workflow_doc()}, headers={"X-CSRF-Token": "x"}),
                403, "csrf_failed")
    ok = c.post("/api/workflows", json={"configuration": workflow_doc()}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # Logout clears the cookie.
    out = c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    check_error(c.get("/api/workflows"), 401, "unauthenticated")


def test_personal_api_tokens(server):
    u = server.user()
    r = u.post("/api/user/tokens", json={"name": "ci", "expiresInDays": 30})
    assert r.status_code == 201
    created = check(r.json(), "ApiTokenCreated")
    pat = created["token"]
    lst = check(u.get("/api/user/tokens").json(), "ApiTokenList")
    assert [t["name"] for t in lst["items"]] == ["ci"]
    assert pat not in u.get("/api/user/tokens").text
    c = server.client()
    h = {"Authorization": f"Bearer {pat}"}
    prof = c.get("/api/user/profile", headers=h).json()
    assert prof["id"] == u.user["id"] and prof["authMethod"] == "api_token"
    # Bearer writes need no CSRF header.
    assert c.post("/api/workflows", json={"configuration": __import__("conftest").workflow_doc()}, headers=h).status_code == 201
    assert u.delete(f"/api/user/tokens/{created['id']}").status_code == 200
    check_error(c.get("/api/user/profile", headers=h), 401, "unauthenticated")
    check_error(u.delete(f"/api/user/tokens/{created['id']}"), 404, "not_found")
    check_error(u.post("/api/user/tokens", json={"name": ""}), 400, "validation_failed")


def test_demo_account(make_server):
    s = make_server(["--demo"])
    line = next(l for l in s.preamble if l.startswith("chorus-server demo account:"))
    email, password = line.split(":", 1)[1].strip().split(" / ")
    assert email == "demo@chorus.local"
    r = s.client().post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200 and r.json()["user"]["tier"] == "pro"
    # A restart prints a new password; the old one stops working, the account stays.
    s.restart()
    line2 = next(l for l in s.preamble if l.startswith("chorus-server demo account:"))
    new_password = line2.split(" / ")[1].strip()
    assert new_password != password
    assert s.client().post("/api/auth/login", json={"email": email, "password": password}).status_code == 401
    assert s.client().post("/api/auth/login", json={"email": email, "password": new_password}).status_code == 200
