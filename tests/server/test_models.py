"""GET /api/models: the provider registry's models with prices, and health's `features`."""
import json

import requests

from conftest import ROOT, check

MODEL_FIELDS = {"provider", "id", "inputPrice", "outputPrice", "cachedInputPrice",
                "contextWindow", "simulated"}


def bundled_rows(providers):
    """The rows data/pricing.json implies for the given provider ids (cached defaults to input)."""
    table = json.loads((ROOT / "data" / "pricing.json").read_text())["models"]
    rows = {}
    for model_id, p in table.items():
        if p.get("vendor") not in providers:
            continue
        cached = p.get("cached_input", p.get("input"))
        rows[(p["vendor"], model_id)] = (p.get("input"), p.get("output"), cached,
                                         p.get("context_window"))
    return rows


def test_models_lists_registry_models_sorted(server):
    c = server.client()
    providers = c.get("/api/health").json()["providers"]
    r = c.get("/api/models")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = check(r.json(), "ModelList")
    items = body["items"]
    assert items, "no models listed"
    for m in items:
        assert set(m) == MODEL_FIELDS
        assert m["provider"] in providers
        assert m["simulated"] == (m["provider"] == "simulated")
    keys = [(m["provider"], m["id"]) for m in items]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    got = {(m["provider"], m["id"]): (m["inputPrice"], m["outputPrice"], m["cachedInputPrice"],
                                      m["contextWindow"]) for m in items}
    assert got == bundled_rows(set(providers))
    sim = [m for m in items if m["simulated"]]
    assert sim and all(m["provider"] == "simulated" for m in sim)


def test_models_is_public_and_same_when_signed_in(server):
    anon = server.client().get("/api/models")
    user = server.user().get("/api/models")
    assert anon.status_code == user.status_code == 200
    assert anon.json() == user.json()


def test_models_only_get(server):
    r = server.user().post("/api/models", json={})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_models_follow_server_price_table_with_nulls(make_server, tmp_path):
    # A pricing override adds an OpenAI model with unknown output price and context window,
    # and changes a known model's input price: the endpoint reflects the server's table.
    extra = tmp_path / "pricing.json"
    extra.write_text(json.dumps({"models": {
        "aaa-test-model": {"vendor": "openai", "input": 1.25},
        "gpt-4o": {"input": 7.5},
    }}))
    s = make_server(env={"CHORUS_PRICING_FILE": str(extra)})
    items = check(s.client().get("/api/models").json(), "ModelList")["items"]
    by = {(m["provider"], m["id"]): m for m in items}
    added = by[("openai", "aaa-test-model")]
    assert added["inputPrice"] == 1.25
    assert added["outputPrice"] is None
    assert added["cachedInputPrice"] == 1.25
    assert added["contextWindow"] is None
    assert added["simulated"] is False
    assert by[("openai", "gpt-4o")]["inputPrice"] == 7.5
    openai_ids = [m["id"] for m in items if m["provider"] == "openai"]
    assert openai_ids[0] == "aaa-test-model"


def test_health_advertises_models_feature(server):
    body = check(server.client().get("/api/health").json(), "Health")
    assert body["features"]["models"] is True
    # The advertised endpoint answers.
    assert requests.get(server.url + "/api/models", timeout=30).status_code == 200
