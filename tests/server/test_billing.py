"""Subscriptions and metered usage with Stripe (docs/billing.md), against stripe-mock.

stripe-mock (github.com/stripe/stripe-mock) serves Stripe's API from Stripe's OpenAPI spec: it
validates every parameter we send (a wrong one is a 400) and answers with fixture objects. It is
stateless, so a small recording proxy sits between the server and stripe-mock: it records each
request (to count them), replays answers by Idempotency-Key as Stripe does, gives each new customer
its own id, and can inject failures. Webhooks are signed here exactly as Stripe signs them.
"""
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import check, check_error, workflow_doc

WEBHOOK_SECRET = "whsec_chorus_test_" + uuid.uuid4().hex
PRICES = {"pro": "price_chorus_pro", "team": "price_chorus_team"}
STRIPE_VERSION = "2025-03-31.basil"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stripe_mock_binary():
    found = os.environ.get("STRIPE_MOCK") or shutil.which("stripe-mock")
    if not found:
        home = pathlib.Path.home() / "go" / "bin" / "stripe-mock"
        found = str(home) if home.exists() else None
    assert found, ("stripe-mock is not installed: go install github.com/stripe/stripe-mock@v0.203.0 "
                   "(scripts/bootstrap does it)")
    return found


@pytest.fixture(scope="session")
def stripe_mock():
    http_port, https_port = free_port(), free_port()
    proc = subprocess.Popen([stripe_mock_binary(), "-http-port", str(http_port), "-https-port", str(https_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.time() + 60
    while True:
        try:
            requests.get(url + "/v1/customers", auth=("sk_test_probe", ""), timeout=5)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, "stripe-mock exited"
            assert time.time() < deadline, "stripe-mock did not start"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


class StripeProxy:
    """Records requests to stripe-mock; Idempotency-Key replays; unique customer ids; failures."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.calls = []
        self.lock = threading.Lock()
        self.failing = {}  # path prefix -> remaining failures (-1 = until cleared)
        self.replies = {}  # idempotency key -> (status, body)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, reply = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Request-Id", "req_" + uuid.uuid4().hex[:14])
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_DELETE = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def forward(self, method, target, headers, body):
        path, _, query = target.partition("?")
        key = headers.get("Idempotency-Key")
        call = {"method": method, "path": path, "query": dict(urllib.parse.parse_qsl(query)),
                "headers": headers, "form": dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)),
                "replayed": False, "injected": False, "status": None}  # None while upstream answers
        with self.lock:
            self.calls.append(call)
            for prefix, left in self.failing.items():
                if path.startswith(prefix) and left != 0:
                    self.failing[prefix] = left - 1 if left > 0 else -1
                    call["injected"] = True
                    call["status"] = 500
                    return 500, json.dumps({"error": {"type": "api_error", "message": "injected failure"}}).encode()
            if key and key in self.replies:
                call["replayed"] = True
                call["status"] = self.replies[key][0]
                return self.replies[key]
        r = requests.request(method, self.upstream + target, data=body, timeout=30,
                             headers={k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")})
        status, reply = r.status_code, r.content
        if status == 200 and method == "POST" and path == "/v1/customers":
            obj = r.json()
            obj["id"] = "cus_test_" + uuid.uuid4().hex[:14]
            obj["email"] = call["form"].get("email")
            reply = json.dumps(obj).encode()
        with self.lock:
            call["status"] = status
            if key and status < 500:
                self.replies[key] = (status, reply)
        return status, reply

    def find(self, method, path_prefix):
        with self.lock:
            return [c for c in self.calls if c["method"] == method and c["path"].startswith(path_prefix)]

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture
def stripe(stripe_mock):
    p = StripeProxy(stripe_mock)
    yield p
    p.stop()


def billing_env(stripe, **extra):
    env = {"STRIPE_SECRET_KEY": "sk_test_chorus" + uuid.uuid4().hex, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "STRIPE_API_BASE": stripe.url, "STRIPE_PRICE_PRO": PRICES["pro"], "STRIPE_PRICE_TEAM": PRICES["team"]}
    env.update(extra)
    return env


def sign(payload, secret=WEBHOOK_SECRET, t=None, extra_v1=(), v0=True):
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    parts = [f"t={t}"] + [f"v1={s}" for s in extra_v1] + [f"v1={sig}"]
    if v0:
        parts.append("v0=" + "0" * 64)
    return ",".join(parts)


def make_event(type_, obj, event_id=None, created=None):
    return {"id": event_id or "evt_" + uuid.uuid4().hex, "object": "event", "api_version": STRIPE_VERSION,
            "created": int(time.time()) if created is None else created, "type": type_,
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}}


def post_event(server, event, **sign_kw):
    payload = json.dumps(event).encode()
    return requests.post(server.url + "/api/billing/webhook", data=payload, timeout=60,
                         headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload, **sign_kw)})


def subscription(user_id, customer, sub_id=None, status="active", price=PRICES["pro"], cancel=False):
    return {"id": sub_id or "sub_" + uuid.uuid4().hex[:14], "object": "subscription", "customer": customer,
            "status": status, "cancel_at_period_end": cancel, "metadata": {"chorus_user_id": user_id},
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                                                  "price": {"id": price, "object": "price"},
                                                  "current_period_end": int(time.time()) + 30 * 86400}]}}


def billing(u):
    r = u.get("/api/billing")
    assert r.status_code == 200, r.text
    return check(r.json(), "BillingStatus")


def checkout(u, plan="pro", **extra):
    r = u.post("/api/billing/checkout", json={"plan": plan, **extra})
    assert r.status_code == 200, r.text
    return check(r.json(), "CheckoutSession")


def test_checkout_creates_the_customer_once(make_server, stripe):
    env = billing_env(stripe)
    s = make_server(env=env)
    u = s.user()
    first = checkout(u, successUrl="https://app.example/#/billing?ok=1")
    assert first["url"].startswith("https://") and first["plan"] == "pro"
    customers = stripe.find("POST", "/v1/customers")
    assert len(customers) == 1
    cust = customers[0]
    assert cust["form"]["email"] == u.email and cust["form"]["metadata[chorus_user_id]"] == u.user["id"]
    assert cust["headers"]["Idempotency-Key"] == "chorus-customer-" + u.user["id"]
    assert cust["headers"]["Stripe-Version"] == STRIPE_VERSION
    assert cust["headers"]["Authorization"] == "Bearer " + env["STRIPE_SECRET_KEY"]
    sessions = stripe.find("POST", "/v1/checkout/sessions")
    assert len(sessions) == 1 and sessions[0]["status"] == 200  # stripe-mock accepted every parameter
    form = sessions[0]["form"]
    assert form["mode"] == "subscription" and form["line_items[0][price]"] == PRICES["pro"]
    assert form["line_items[0][quantity]"] == "1" and form["client_reference_id"] == u.user["id"]
    assert form["metadata[chorus_tier]"] == "pro" and form["subscription_data[metadata][chorus_user_id]"] == u.user["id"]
    assert form["success_url"] == "https://app.example/#/billing?ok=1"
    assert form["cancel_url"].startswith(s.url) and form["customer"].startswith("cus_test_")
    assert billing(u)["hasCustomer"] is True

    # The second checkout (e.g. the first was abandoned) reuses the customer.
    checkout(u, plan="team")
    assert len(stripe.find("POST", "/v1/customers")) == 1
    sessions = stripe.find("POST", "/v1/checkout/sessions")
    assert len(sessions) == 2 and sessions[1]["form"]["customer"] == form["customer"]
    assert sessions[1]["form"]["line_items[0][price]"] == PRICES["team"]
    assert sessions[0]["headers"]["Idempotency-Key"] != sessions[1]["headers"]["Idempotency-Key"]
    # Another user gets their own customer.
    other = s.user()
    checkout(other)
    assert len(stripe.find("POST", "/v1/customers")) == 2
    assert env["STRIPE_SECRET_KEY"] not in s.log()


def test_form_encoding_of_awkward_text(make_server, stripe):
    s = make_server(env=billing_env(stripe))
    c = s.client()
    name = "Zoë & Co / 100% [x]=y+z"
    email = f"odd+{uuid.uuid4().hex[:8]}@example.com"
    r = c.post("/api/auth/register", json={"email": email, "password": "correct horse battery", "name": name})
    assert r.status_code == 201, r.text
    c.s.headers["Authorization"] = "Bearer " + r.json()["token"]
    c.s.cookies.clear()
    r = c.post("/api/billing/checkout", json={"plan": "pro", "successUrl": "https://app.example/#/billing?a=1&b=%20"})
    assert r.status_code == 200, r.text
    cust = stripe.find("POST", "/v1/customers")[0]
    assert cust["form"]["name"] == name and cust["form"]["email"] == email
    assert stripe.find("POST", "/v1/checkout/sessions")[0]["form"]["success_url"] == "https://app.example/#/billing?a=1&b=%20"


def test_checkout_input_errors(make_server, stripe):
    s = make_server(env=billing_env(stripe))
    u = s.user()
    for body, field in [({}, "plan"), ({"plan": "gold"}, "plan"), ({"plan": "free"}, "plan"),
                        ({"plan": "pro", "successUrl": "javascript:alert(1)"}, "successUrl"),
                        ({"plan": 5}, "plan")]:
        err = check_error(u.post("/api/billing/checkout", json=body), 400, "validation_failed")
        assert field in [f["field"] for f in err["details"]["fields"]], (body, err)
    assert stripe.calls == []
    check_error(u.post("/api/billing/portal", json={}), 409, "no_customer")
    check_error(u.post("/api/billing/cancel"), 409, "no_subscription")
    check_error(u.post("/api/billing/resume"), 409, "no_subscription")
    check_error(s.client().get("/api/billing"), 401, "unauthenticated")


def test_stripe_failure_is_a_clear_502(make_server, stripe):
    s = make_server(env=billing_env(stripe))
    u = s.user()
    stripe.failing["/v1/customers"] = -1
    err = check_error(u.post("/api/billing/checkout", json={"plan": "pro"}), 502, "stripe_error")
    assert "injected failure" in err["message"] and err["details"]["stripeStatus"] == 500
    # Retried with the same Idempotency-Key each time (3 attempts), never twice the operation.
    keys = {c["headers"]["Idempotency-Key"] for c in stripe.find("POST", "/v1/customers")}
    assert keys == {"chorus-customer-" + u.user["id"]}
    assert billing(u)["hasCustomer"] is False


def test_webhook_signatures(make_server, stripe):
    s = make_server(env=billing_env(stripe))
    u = s.user()
    cus = "cus_wh_" + uuid.uuid4().hex[:10]
    ev = make_event("customer.subscription.created", subscription(u.user["id"], cus))
    payload = json.dumps(ev).encode()
    url = s.url + "/api/billing/webhook"

    def post(sig):
        headers = {"Content-Type": "application/json"}
        if sig is not None:
            headers["Stripe-Signature"] = sig
        return requests.post(url, data=payload, headers=headers, timeout=60)

    check_error(post(None), 400, "invalid_signature")
    check_error(post("garbage"), 400, "invalid_signature")
    check_error(post(sign(payload, secret="whsec_wrong")), 400, "invalid_signature")
    check_error(post(sign(payload, t="12x")), 400, "invalid_signature")
    check_error(post(sign(payload, t=int(time.time()) - 301)), 400, "stale_signature")
    check_error(post(sign(payload, t=int(time.time()) + 301)), 400, "stale_signature")
    # The signature covers the exact bytes: one byte changed is rejected.
    tampered = payload.replace(b'"active"', b'"Active"')
    r = requests.post(url, data=tampered, headers={"Stripe-Signature": sign(payload)}, timeout=60)
    check_error(r, 400, "invalid_signature")
    assert billing(u)["tier"] == "free"
    # Several v1 signatures (a rolled secret) and a v0: any matching v1 is enough.
    r = post(sign(payload, extra_v1=["ab" * 32]))
    assert r.status_code == 200, r.text
    assert check(r.json(), "WebhookAck")["outcome"] == "applied"
    assert billing(u)["tier"] == "pro"
    # A replay (even freshly signed) changes nothing.
    r = post(sign(payload))
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    # Unknown event types are acknowledged, so Stripe does not retry them.
    r = post_event(s, make_event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    # Malformed events with a valid signature: 400 naming what is missing.
    bad = json.dumps({"id": "evt_x"}).encode()
    r = requests.post(url, data=bad, headers={"Stripe-Signature": sign(bad)}, timeout=60)
    check_error(r, 400, "invalid_event")


def test_tier_change_applies_at_once(make_server, stripe):
    tiers = {"free": {"executionsPerDay": 1, "concurrentRuns": 10},
             "pro": {"executionsPerDay": 1000, "concurrentRuns": 10}}
    s = make_server(env=billing_env(stripe, CHORUS_TIERS=json.dumps(tiers)))
    u = s.user()
    wf = u.create_workflow()
    u.run(wf["id"])
    check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}), 429, "plan_limit_exceeded")
    assert u.get("/api/user/profile").json()["tier"] == "free"  # the user is now in the auth cache
    cus, sub = "cus_t_" + uuid.uuid4().hex[:10], "sub_t_" + uuid.uuid4().hex[:10]
    assert post_event(s, make_event("customer.subscription.created", subscription(u.user["id"], cus, sub))).status_code == 200
    # No wait: the very next request sees the pro limits.
    assert u.run(wf["id"])["status"] == "succeeded"
    profile = u.get("/api/user/profile").json()
    assert profile["tier"] == "pro" and profile["limits"]["executionsPerDay"] == 1000
    b = billing(u)
    assert b["status"] == "active" and b["limits"]["executionsPerDay"] == 1000 and b["usage"]["executionsPerDay"] == 2
    assert b["currentPeriodEnd"] is not None
    # An older event delivered late is recorded but does not undo the newer state.
    old = make_event("customer.subscription.updated", subscription(u.user["id"], cus, sub, status="canceled"),
                     created=int(time.time()) - 100)
    r = post_event(s, old)
    assert r.status_code == 200 and r.json()["outcome"] == "stale"
    assert billing(u)["tier"] == "pro"
    # The subscription ends: back to the default tier, at once.
    r = post_event(s, make_event("customer.subscription.deleted", subscription(u.user["id"], cus, sub, status="canceled")))
    assert r.json()["outcome"] == "applied"
    check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}), 429, "plan_limit_exceeded")
    b = billing(u)
    assert b["tier"] == "free" and b["status"] == "canceled"


def test_checkout_completed_invoices_cancel_and_resume(make_server, stripe):
    s = make_server(env=billing_env(stripe))
    u = s.user()
    checkout(u, plan="team")
    cus = stripe.find("POST", "/v1/checkout/sessions")[0]["form"]["customer"]
    sub = "sub_c_" + uuid.uuid4().hex[:10]
    session = {"id": "cs_test_1", "object": "checkout.session", "mode": "subscription", "status": "complete",
               "client_reference_id": u.user["id"], "customer": cus, "subscription": sub,
               "metadata": {"chorus_user_id": u.user["id"], "chorus_tier": "team"}}
    assert post_event(s, make_event("checkout.session.completed", session)).json()["outcome"] == "applied"
    b = billing(u)
    assert (b["tier"], b["status"]) == ("team", "active")
    invoice = {"id": "in_1", "object": "invoice", "customer": cus,
               "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub}}}
    assert post_event(s, make_event("invoice.payment_failed", invoice)).json()["outcome"] == "applied"
    b = billing(u)
    assert (b["tier"], b["status"]) == ("team", "past_due")  # grace while Stripe retries
    assert post_event(s, make_event("invoice.paid", invoice)).json()["outcome"] == "applied"
    assert billing(u)["status"] == "active"
    # A one-off invoice (no subscription) is acknowledged and ignored.
    assert post_event(s, make_event("invoice.paid", {"id": "in_2", "object": "invoice", "customer": cus})).json()["outcome"] == "ignored"
    # Invoices come from Stripe.
    b = billing(u)
    assert len(b["invoices"]) >= 1 and b["invoices"][0]["id"].startswith("in_")
    assert stripe.find("GET", "/v1/invoices")[-1]["query"]["customer"] == cus

    # Checkout again while subscribed: use the portal instead.
    check_error(u.post("/api/billing/checkout", json={"plan": "pro"}), 409, "already_subscribed")
    r = u.post("/api/billing/portal", json={"returnUrl": "https://app.example/#/billing"})
    assert r.status_code == 200, r.text
    assert check(r.json(), "PortalSession")["url"].startswith("https://")
    portal = stripe.find("POST", "/v1/billing_portal/sessions")[-1]
    assert portal["status"] == 200 and portal["form"] == {"customer": cus, "return_url": "https://app.example/#/billing"}

    r = u.post("/api/billing/cancel")
    assert r.status_code == 200, r.text
    assert check(r.json(), "BillingStatus")["cancelAtPeriodEnd"] is True
    call = stripe.find("POST", "/v1/subscriptions/")[-1]
    assert call["path"] == f"/v1/subscriptions/{sub}" and call["form"] == {"cancel_at_period_end": "true"}
    assert call["status"] == 200 and call["headers"]["Idempotency-Key"]
    assert billing(u)["tier"] == "team"  # paid until the period ends
    r = u.post("/api/billing/resume")
    assert r.status_code == 200 and r.json()["cancelAtPeriodEnd"] is False
    assert stripe.find("POST", "/v1/subscriptions/")[-1]["form"] == {"cancel_at_period_end": "false"}


def test_metered_usage_reported_exactly_once_across_restarts(make_server, stripe):
    s = make_server(["--billing-report-interval", "1"], env=billing_env(stripe))
    u = s.user()
    checkout(u)  # gives the user a Stripe customer
    customer_id = stripe.find("POST", "/v1/checkout/sessions")[0]["form"]["customer"]
    wf = u.create_workflow()

    def sent():  # meter events Stripe accepted (not injected failures, not idempotent replays)
        return [c for c in stripe.find("POST", "/v1/billing/meter_events")
                if c["status"] == 200 and not c["replayed"] and c["form"]["payload[stripe_customer_id]"] == customer_id]

    def wait_for_total(n):
        deadline = time.time() + 60
        while sum(int(c["form"]["payload[value]"]) for c in sent()) < n:
            assert time.time() < deadline, [c["form"] for c in sent()]
            time.sleep(0.1)

    for _ in range(3):
        u.run(wf["id"])
    wait_for_total(3)
    first = sent()
    assert all(c["form"]["event_name"] == "chorus_executions" and c["status"] == 200 for c in first)
    assert all(c["headers"]["Idempotency-Key"] == c["form"]["identifier"] for c in first)

    # Stripe fails: the report stays pending across a restart and is resent unchanged.
    stripe.failing["/v1/billing/meter_events"] = -1
    u.run(wf["id"])
    deadline = time.time() + 60
    while not [c for c in stripe.find("POST", "/v1/billing/meter_events") if c["injected"]]:
        assert time.time() < deadline
        time.sleep(0.1)
    s.restart()
    u.base = s.url
    failed = [c for c in stripe.find("POST", "/v1/billing/meter_events") if c["injected"]]
    stripe.failing.clear()
    u.run(wf["id"])
    wait_for_total(5)
    reports = sent()
    values = [int(c["form"]["payload[value]"]) for c in reports]
    identifiers = [c["form"]["identifier"] for c in reports]
    assert sum(values) == 5, [c["form"] for c in reports]  # 3 + 1 + 1: nothing twice
    assert len(set(identifiers)) == len(identifiers)
    assert failed[0]["form"]["identifier"] in identifiers
    resent = [c for c in reports if c["form"]["identifier"] == failed[0]["form"]["identifier"]][0]
    assert resent["form"] == failed[0]["form"] and resent["headers"]["Idempotency-Key"] == failed[0]["headers"]["Idempotency-Key"]
    # The server marks a report sent once Stripe's answer reached it (just after the proxy saw it).
    deadline = time.time() + 60
    while (b := billing(u))["metered"]["reportedThisMonth"] < 5:
        assert time.time() < deadline, b["metered"]
        time.sleep(0.1)
    assert b["metered"] == {"eventName": "chorus_executions", "reportedThisMonth": 5, "pendingThisMonth": 0}
    # One more restart with nothing new: no report at all.
    before = len(stripe.find("POST", "/v1/billing/meter_events"))
    s.restart()
    u.base = s.url
    u.run(wf["id"])
    wait_for_total(6)
    assert len(stripe.find("POST", "/v1/billing/meter_events")) == before + 1


def test_self_hosted_mode(make_server):
    tiers = {"free": {"executionsPerDay": 1}, "team": {"executionsPerDay": 500}}
    s = make_server(["--default-tier", "team"], env={"CHORUS_TIERS": json.dumps(tiers)})
    assert s.client().get("/api/health").json()["features"]["billing"] is True
    u = s.user()
    assert u.user["tier"] == "team"
    b = billing(u)
    assert b["enabled"] is False and b["tier"] == "team" and b["limits"]["executionsPerDay"] == 500
    assert b["invoices"] == [] and b["metered"] is None
    assert all(p["purchasable"] is False for p in b["plans"])
    for path in ["/api/billing/checkout", "/api/billing/portal", "/api/billing/cancel", "/api/billing/resume"]:
        err = check_error(u.post(path, json={"plan": "pro"}), 404, "billing_disabled")
        assert "STRIPE_SECRET_KEY" in err["message"] and "team" in err["message"]
    check_error(s.client().post("/api/billing/webhook", data=b"{}"), 404, "billing_disabled")


def test_bad_billing_configuration_stops_start_up(make_server, stripe):
    with pytest.raises(RuntimeError) as e:
        make_server(env={"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_API_BASE": stripe.url})
    assert "STRIPE_WEBHOOK_SECRET" in str(e.value) and "sk_test_x" not in str(e.value)
    with pytest.raises(RuntimeError) as e:
        make_server(["--default-tier", "gold"])
    assert "gold" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        make_server(["--billing-prices", '{"gold": "price_1"}'], env=billing_env(stripe))
    assert "gold" in str(e.value)
