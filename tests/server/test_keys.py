"""Provider keys: validated, AES-256-GCM encrypted at rest, never returned (only last 4)."""
import os
import pathlib
import shutil
import subprocess

from conftest import check, check_error, workflow_doc

PLAIN = "sk-test-PLAINTEXTKEY-9f8e7d6c5b4a3210"


def database_bytes(server):
    if server.backend == "sqlite":
        data = b""
        for suffix in ("", "-wal", "-shm"):
            p = pathlib.Path(server.db + suffix)
            if p.exists():
                data += p.read_bytes()
        return data
    psql = shutil.which("psql") or os.path.join(os.environ.get("CHORUS_TEST_PG_BIN", ""), "psql")
    out = subprocess.run([psql, server.db, "-At", "-c", "SELECT * FROM user_api_keys"], check=True,
                         capture_output=True)
    return out.stdout


def test_set_list_delete_keys(server):
    u = server.user()
    r = u.put("/api/user/api-keys", json={"provider": "openai", "key": PLAIN, "skip_validation": True})
    assert r.status_code == 200, r.text
    keys = check(r.json(), "ApiKeyList")["items"]
    assert keys == [{"provider": "openai", "last4": "3210", "createdAt": keys[0]["createdAt"],
                     "updatedAt": keys[0]["updatedAt"]}]
    assert PLAIN not in r.text and PLAIN not in u.get("/api/user/api-keys").text
    # Replace, then delete by empty key and by DELETE.
    u.put("/api/user/api-keys", json={"provider": "openai", "key": PLAIN[:-4] + "abcd", "skip_validation": True})
    assert u.get("/api/user/api-keys").json()["items"][0]["last4"] == "abcd"
    u.put("/api/user/api-keys", json={"provider": "anthropic", "key": "sk-ant-123456789", "skip_validation": True})
    assert u.put("/api/user/api-keys", json={"provider": "openai", "key": None}).json()["items"][0]["provider"] == "anthropic"
    assert u.delete("/api/user/api-keys/anthropic").json()["items"] == []
    check_error(u.delete("/api/user/api-keys/anthropic"), 404, "not_found")


def test_key_is_validated_with_the_provider(server):
    u = server.user()
    err = check_error(u.put("/api/user/api-keys", json={"provider": "simulated", "key": "invalid-key-123"}), 400,
                      "invalid_api_key")
    assert "invalid-key-123" not in str(err)
    assert u.get("/api/user/api-keys").json()["items"] == []
    r = u.put("/api/user/api-keys", json={"provider": "simulated", "key": "good-key-12345"})
    assert r.status_code == 200 and r.json()["items"][0]["last4"] == "2345"
    # A run uses the stored key (decrypted for the call) and still works.
    wf = u.create_workflow()
    assert u.run(wf["id"])["status"] == "succeeded"


def test_key_input_validation(server):
    u = server.user()
    err = check_error(u.put("/api/user/api-keys", json={"provider": "nope", "key": "abcdefghijk", "skip_validation": True}),
                      400, "validation_failed")
    assert "simulated" in err["details"]["knownProviders"]
    check_error(u.put("/api/user/api-keys", json={"key": "abcdefghij"}), 400, "validation_failed")
    check_error(u.put("/api/user/api-keys", json={"provider": "openai", "key": "short"}), 400, "validation_failed")
    check_error(u.put("/api/user/api-keys", json={"provider": "openai", "key": 12345678}), 400, "validation_failed")
    check_error(u.put("/api/user/api-keys", json={"provider": "openai", "key": "has space 1234"}), 400,
                "validation_failed")


def test_database_never_holds_the_plaintext_key(server):
    u = server.user()
    u.put("/api/user/api-keys", json={"provider": "openai", "key": PLAIN, "skip_validation": True})
    raw = database_bytes(server)
    assert b"3210" in raw or server.backend == "sqlite"  # the last4 column is there (sanity of the dump)
    assert PLAIN.encode() not in raw
    assert b"PLAINTEXTKEY" not in raw
    assert PLAIN not in server.log()


def test_keys_survive_restart_with_the_same_master_key(make_server):
    s = make_server()
    u = s.user()
    u.put("/api/user/api-keys", json={"provider": "simulated", "key": "good-key-12345"})
    wf = u.create_workflow()
    s.restart()
    u.base = s.url
    assert u.get("/api/user/api-keys").json()["items"][0]["last4"] == "2345"
    assert u.run(wf["id"])["status"] == "succeeded"


def test_wrong_master_key_refuses_to_use_the_key(make_server, backend, tmp_path):
    s = make_server()
    u = s.user()
    u.put("/api/user/api-keys", json={"provider": "simulated", "key": "good-key-12345"})
    wf = u.create_workflow()
    s.stop()
    s2 = make_server(env={"CHORUS_MASTER_KEY": "11" * 32}, db=s.db)
    u.base = s2.url
    check_error(u.post(f"/api/workflows/{wf['id']}/execute", json={"input": "x"}), 409, "key_unreadable")
