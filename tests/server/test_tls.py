"""chorus-server serving HTTPS itself (--tls-cert/--tls-key): health, login (Secure cookies), an SSE
run over TLS, plain HTTP refused on the TLS port, the handshake timeout, and clear start-up errors
for unusable certificate or key files."""
import os
import socket
import subprocess
import urllib.parse

import pytest
import requests

from conftest import BINARY, RELAXED, check, sse_events


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt, key


@pytest.fixture
def tls_server(make_server, cert, monkeypatch):
    crt, key = cert
    s = make_server(["--tls-cert", str(crt), "--tls-key", str(key)])
    # Every requests call of this test trusts the test certificate (and nothing else).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(crt))
    return s


def test_tls_health_login_and_secure_cookies(tls_server):
    assert tls_server.url.startswith("https://127.0.0.1:")
    r = requests.get(tls_server.url + "/api/health", timeout=60)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    u = tls_server.user()
    r = requests.post(tls_server.url + "/api/auth/login",
                      json={"email": u.email, "password": u.password}, timeout=60)
    assert r.status_code == 200, r.text
    cookies = [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie"]
    assert len(cookies) == 2 and all("; Secure" in c for c in cookies), cookies
    # The bearer token works over TLS too.
    me = u.get("/api/user/profile")
    assert me.status_code == 200 and me.json()["email"] == u.email


def test_tls_sse_run(tls_server):
    u = tls_server.user()
    wf = u.create_workflow()
    r = u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "over tls", "stream": True},
               stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
    events = [ev for _, ev in sse_events(r)]
    for ev in events:
        check(ev, "RunEvent")
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert "".join(ev["text"] for ev in events if ev["type"] == "token") == "over tls"
    assert events[-1]["status"] == "succeeded"


def test_plain_http_to_the_tls_port_fails(tls_server):
    plain = tls_server.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain + "/api/health", timeout=60)
    # The server is unharmed.
    assert requests.get(tls_server.url + "/api/health", timeout=60).status_code == 200


def test_silent_client_is_dropped_after_the_handshake_timeout(tls_server):
    port = urllib.parse.urlparse(tls_server.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=60) as silent:
        # Others are served while it says nothing...
        assert requests.get(tls_server.url + "/api/health", timeout=60).status_code == 200
        # ...and the server hangs up on it (10 s handshake timeout), well before our 60 s.
        assert silent.recv(1) == b""


def run_server(tmp_path, *args):
    env = dict(os.environ, CHORUS_MASTER_KEY="11" * 32)
    env.pop("CHORUS_DATABASE_URL", None)
    return subprocess.run([str(BINARY), "--port", "0", "--db", str(tmp_path / "x.db"), *RELAXED, *args],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("which", ["cert", "key"])
def test_unusable_tls_files_stop_the_server_naming_the_file(tmp_path, cert, which):
    crt, key = cert
    bad = tmp_path / f"bad-{which}.pem"
    bad.write_text("-----BEGIN NONSENSE-----\nnot pem\n-----END NONSENSE-----\n")
    args = ["--tls-cert", str(bad if which == "cert" else crt), "--tls-key", str(bad if which == "key" else key)]
    p = run_server(tmp_path, *args)
    assert p.returncode != 0
    assert str(bad) in p.stderr and f"TLS {'certificate' if which == 'cert' else 'key'} file" in p.stderr, p.stderr
    assert "listening" not in p.stdout


def test_missing_or_mismatched_tls_files(tmp_path, cert):
    crt, key = cert
    p = run_server(tmp_path, "--tls-cert", str(crt), "--tls-key", str(tmp_path / "nope.pem"))
    assert p.returncode != 0 and "nope.pem" in p.stderr, p.stderr
    p = run_server(tmp_path, "--tls-cert", str(crt))
    assert p.returncode != 0 and "--tls-key" in p.stderr, p.stderr
    other = tmp_path / "other-key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-out", str(other)], check=True, capture_output=True)
    p = run_server(tmp_path, "--tls-cert", str(crt), "--tls-key", str(other))
    assert p.returncode != 0 and "does not match" in p.stderr and str(other) in p.stderr, p.stderr


def test_tls_from_environment(make_server, cert, monkeypatch):
    crt, key = cert
    s = make_server(env={"CHORUS_TLS_CERT": str(crt), "CHORUS_TLS_KEY": str(key)})
    assert s.url.startswith("https://")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(crt))
    assert requests.get(s.url + "/api/health", timeout=60).json()["status"] == "ok"


def test_openai_sdk_streams_over_tls(tls_server, cert):
    """The /v1 event stream through the official SDK (httpx) over HTTPS."""
    import ssl

    import openai

    u = tls_server.user()
    wf = u.create_workflow()
    client = openai.OpenAI(base_url=tls_server.url + "/v1", api_key=u.token, max_retries=0,
                           http_client=openai.DefaultHttpxClient(
                               verify=ssl.create_default_context(cafile=str(cert[0])), timeout=60))
    chunks = list(client.chat.completions.create(
        model=f"workflow:{wf['id']}", messages=[{"role": "user", "content": "secure words"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "secure words"
    assert chunks[-1].choices[0].finish_reason == "stop"
