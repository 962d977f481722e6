"""The OpenAI-compatible endpoint (POST /v1/chat/completions, GET /v1/models) driven by the official
`openai` Python package, and by the official npm package (tests/server/openai_node, node:test)."""
import json
import os
import pathlib
import shutil
import subprocess
import time

import openai
import pytest
import requests

from conftest import check, workflow_doc

NODE_DIR = pathlib.Path(__file__).resolve().parent / "openai_node"


def personal_token(u):
    r = u.post("/api/user/tokens", json={"name": "openai-sdk", "expiresInDays": 1})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def sdk(server, token, **kw):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0, timeout=60, **kw)


@pytest.fixture
def user_and_client(server):
    u = server.user()
    return u, sdk(server, personal_token(u))


def execution(u, exec_id):
    r = u.get(f"/api/executions/{exec_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_non_streamed_completion(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow()
    model = f"workflow:{wf['id']}"
    resp = client.chat.completions.create(
        model=model, messages=[{"role": "system", "content": "ignored by this workflow"},
                               {"role": "user", "content": "hello from the sdk"}])
    assert resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    assert resp.model == model and abs(resp.created - time.time()) < 600
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and choice.message.content == "hello from the sdk"
    ext = resp.model_extra["chorus"]
    e = execution(u, ext["executionId"])
    assert e["status"] == "succeeded" and e["input"] == "hello from the sdk"
    assert e["workflowId"] == wf["id"] and ext["workflowVersion"] == 1
    assert resp.usage.prompt_tokens == e["usage"]["promptTokens"] > 0
    assert resp.usage.completion_tokens == e["usage"]["completionTokens"] > 0
    assert resp.usage.total_tokens == e["usage"]["totalTokens"]
    assert ext["cost"] == pytest.approx(e["cost"]) and e["cost"] > 0


def test_last_user_message_with_text_parts_is_the_input(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow()
    resp = client.chat.completions.create(model=f"workflow:{wf['id']}", messages=[
        {"role": "user", "content": "an older question"},
        {"role": "assistant", "content": "an older answer"},
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]},
        {"role": "assistant", "content": None, "tool_calls": []},
    ])
    assert resp.choices[0].message.content == "part one\npart two"


def test_streamed_tokens_then_finish_then_usage(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow(workflow_doc(prompt="[[lorem:30]] {{input}}"))
    model = f"workflow:{wf['id']}"
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "go"}], stream=True,
        stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.model == model for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) >= 10  # token by token, not one block
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage is not None
    exec_id = finals[0].model_extra["chorus"]["executionId"]
    e = execution(u, exec_id)
    assert "".join(content) == e["output"] and len(e["output"]) > 50
    assert usage.usage.total_tokens == e["usage"]["totalTokens"] > 0
    assert usage.usage.prompt_tokens == e["usage"]["promptTokens"]
    assert usage.usage.completion_tokens == e["usage"]["completionTokens"]
    assert finals[0].model_extra["chorus"]["cost"] == pytest.approx(e["cost"])


def test_streamed_raw_frames_end_with_done(server, user_and_client):
    u, _ = user_and_client
    wf = u.create_workflow()
    r = u.post("/v1/chat/completions", stream=True, json={
        "model": f"workflow:{wf['id']}", "stream": True, "messages": [{"role": "user", "content": "raw"}]})
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
    data = [line[6:] for line in r.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    frames = [check(json.loads(d), "ChatCompletionChunk") for d in data[:-1]]
    assert "usage" not in frames[-1] or frames[-1]["usage"] is None  # include_usage not asked
    assert frames[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(f["choices"][0]["delta"].get("content") or "" for f in frames) == "raw"
    # The same unstreamed, checked against docs/openapi.yaml.
    r = u.post("/v1/chat/completions", json={"model": f"workflow:{wf['id']}",
                                              "messages": [{"role": "user", "content": "raw"}]})
    assert r.status_code == 200 and r.headers["X-Execution-Id"]
    body = check(r.json(), "ChatCompletion")
    assert body["choices"][0]["message"]["content"] == "raw"
    check(u.get("/v1/models").json(), "OpenAIModelList")


def test_streamed_output_of_a_non_streaming_node_is_one_delta(user_and_client):
    u, client = user_and_client
    # llm -> transform (trim) -> output: the output node's text is the transform's, sent at once.
    wf = u.create_workflow(workflow_doc(prompt="[[reply:  padded answer  ]]", nodes_extra=1))
    chunks = list(client.chat.completions.create(
        model=f"workflow:{wf['id']}", messages=[{"role": "user", "content": "x"}], stream=True))
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert content == ["padded answer"]


def test_model_version_suffix(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow(workflow_doc(prompt="[[reply:version one]]"))
    r = u.put(f"/api/workflows/{wf['id']}", json={"configuration": workflow_doc(prompt="[[reply:version two]]")})
    assert r.status_code == 200 and r.json()["version"] == 2
    msgs = [{"role": "user", "content": "which?"}]

    def ask(model):
        resp = client.chat.completions.create(model=model, messages=msgs)
        return resp.choices[0].message.content, resp.model_extra["chorus"]["workflowVersion"], resp.model

    assert ask(f"workflow:{wf['id']}@1") == ("version one", 1, f"workflow:{wf['id']}@1")
    assert ask(f"workflow:{wf['id']}@2") == ("version two", 2, f"workflow:{wf['id']}@2")
    assert ask(f"workflow:{wf['id']}") == ("version two", 2, f"workflow:{wf['id']}")
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model=f"workflow:{wf['id']}@3", messages=msgs)
    assert ei.value.code == "model_not_found" and "no version 3" in ei.value.message
    # A streamed run of an old version streams that version.
    chunks = list(client.chat.completions.create(model=f"workflow:{wf['id']}@1", messages=msgs, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "version one"


def test_models_list_and_retrieve(server, user_and_client):
    u, client = user_and_client
    a = u.create_workflow(name="First")
    b = u.create_workflow(name="Second")
    server.user().create_workflow(name="Someone else's")
    models = client.models.list()
    ids = {m.id for m in models.data}
    assert ids == {f"workflow:{a['id']}", f"workflow:{b['id']}"}
    assert all(m.object == "model" and m.owned_by == "user" for m in models.data)
    m = client.models.retrieve(f"workflow:{a['id']}")
    assert m.id == f"workflow:{a['id']}" and m.model_extra["chorus"]["name"] == "First"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("workflow:nope")


def test_errors_in_openai_shape(server, user_and_client):
    u, client = user_and_client
    wf = u.create_workflow()
    model = f"workflow:{wf['id']}"
    # 401: a wrong token, in OpenAI's error shape.
    with pytest.raises(openai.AuthenticationError) as ei:
        sdk(server, "not-a-token").chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 401 and ei.value.body["type"] == "authentication_error"
    raw = requests.post(server.url + "/v1/chat/completions", json={}, timeout=60)
    assert raw.status_code == 401
    check(raw.json(), "OpenAIError")
    # 404 model_not_found: not a workflow model, or no such workflow (also another user's).
    other = server.user().create_workflow()
    for bad in ["gpt-4o-mini", "workflow:does-not-exist", f"workflow:{other['id']}", "workflow:"]:
        with pytest.raises(openai.NotFoundError) as ei:
            client.chat.completions.create(model=bad, messages=[{"role": "user", "content": "x"}])
        assert ei.value.code == "model_not_found" and ei.value.param == "model", bad
    # 400 naming the field.
    cases = [
        ([], "messages"),
        ([{"role": "system", "content": "no user message"}], "messages"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}],
         "messages[0].content[0].type"),
        ([{"role": "user", "content": "ok"}, {"role": "wizard", "content": "x"}], "messages[1].role"),
        ([{"role": "user", "content": 42}], "messages[0].content"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0].text"),
    ]
    for messages, param in cases:
        with pytest.raises(openai.BadRequestError) as ei:
            client.chat.completions.create(model=model, messages=messages)
        assert ei.value.param == param, (messages, ei.value.body)
        assert ei.value.body["type"] == "invalid_request_error" and param in ei.value.body["message"]
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], n=2)
    assert ei.value.param == "n"
    r = u.post("/v1/chat/completions", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = u.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    r = u.get("/v1/nothing-here")
    assert r.status_code == 404 and check(r.json(), "OpenAIError")["error"]["type"] == "not_found_error"


def test_failed_run_is_an_error_not_retried(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow(workflow_doc(prompt="[[status:401]]"))
    model = f"workflow:{wf['id']}"
    before = u.get(f"/api/executions?workflowId={wf['id']}").json()["total"]
    retrying = openai.OpenAI(base_url=client.base_url, api_key=client.api_key, max_retries=2, timeout=60)
    with pytest.raises(openai.APIStatusError) as ei:
        retrying.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 502 and ei.value.code == "node_failed"
    assert "auth" in ei.value.body["message"] and "401" in ei.value.body["message"]
    assert ei.value.response.headers["x-should-retry"] == "false"
    exec_id = ei.value.response.headers["x-execution-id"]
    assert execution(u, exec_id)["status"] == "failed"
    # x-should-retry: the SDK did not run the workflow again.
    assert u.get(f"/api/executions?workflowId={wf['id']}").json()["total"] == before + 1
    # Streamed: the error arrives as an error frame, which the SDK raises.
    with pytest.raises(openai.APIError) as ei:
        for _ in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], stream=True):
            pass
    assert ei.value.body["code"] == "node_failed" and "auth" in ei.value.message


def test_plan_limit_is_a_429_with_retry_after(make_server):
    s = make_server(env={"CHORUS_TIERS": json.dumps({"free": {"executionsPerDay": 1}})})
    u = s.user()
    client = sdk(s, personal_token(u))
    wf = u.create_workflow()
    msgs = [{"role": "user", "content": "x"}]
    client.chat.completions.create(model=f"workflow:{wf['id']}", messages=msgs)
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model=f"workflow:{wf['id']}", messages=msgs)
    e = ei.value
    assert e.status_code == 429 and e.code == "plan_limit_exceeded" and e.body["type"] == "rate_limit_error"
    assert int(e.response.headers["retry-after"]) > 0
    assert e.response.headers["x-should-retry"] == "false"  # hours away: no SDK retry loop


def test_request_rate_limit_is_a_429(make_server):
    s = make_server(["--rate-limit-user", "0.01:2"], relaxed=False)
    u = s.user()
    client = sdk(s, personal_token(u))
    client.models.list()
    with pytest.raises(openai.RateLimitError) as ei:
        client.models.list()
    assert ei.value.response.headers["retry-after"] and ei.value.code == "rate_limited"


def test_client_disconnect_cancels_the_streamed_run(user_and_client):
    u, client = user_and_client
    wf = u.create_workflow(workflow_doc(prompt="[[lorem:2000]][[token-delay:20]] {{input}}"))
    stream = client.chat.completions.create(model=f"workflow:{wf['id']}",
                                            messages=[{"role": "user", "content": "x"}], stream=True)
    exec_id = stream.response.headers["x-execution-id"]
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        status = execution(u, exec_id)["status"]
        if status not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert status == "cancelled"


def test_official_npm_client(server):
    npm = shutil.which("npm")
    node = shutil.which("node")
    assert npm and node, "npm and node are required for the openai npm client test"
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                       check=True, timeout=600)
    u = server.user()
    token = personal_token(u)
    v1 = u.create_workflow(workflow_doc(prompt="[[reply:first version]]"))
    assert u.put(f"/api/workflows/{v1['id']}",
                 json={"configuration": workflow_doc(prompt="[[lorem:20]] {{input}}")}).status_code == 200
    env = dict(os.environ, CHORUS_BASE_URL=server.url + "/v1", CHORUS_TOKEN=token, CHORUS_WORKFLOW_ID=v1["id"])
    p = subprocess.run([node, "--test", "test.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "# fail 0" in p.stdout and "# pass 0" not in p.stdout, p.stdout
