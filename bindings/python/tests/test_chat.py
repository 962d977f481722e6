"""Chat calls per vendor against the fake LLM server: plain, streamed, and the blocking twins."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

import chorus

VENDORS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku"),
    ("gemini", "gemini-2.0-flash"),
    ("deepseek", "deepseek-chat"),
]


def expected_cost(client: Any, provider: str, model: str, usage: chorus.Usage) -> float:
    info = max((m for m in client.models(provider) if model.startswith(m["id"])),
               key=lambda m: len(m["id"]))  # longest matching price key, as pricing.json says
    return (usage.prompt_tokens * info["input_per_mtok"]
            + usage.completion_tokens * info["output_per_mtok"]) / 1e6


@pytest.mark.parametrize("provider,model", VENDORS)
async def test_complete_per_vendor(client: Any, provider: str, model: str) -> None:
    r = await client.complete(provider, model, "Greet me [[reply:Hello from the fake server]]",
                              system="Be brief.", temperature=0.2, max_tokens=64)
    assert isinstance(r, chorus.ChatResponse)
    assert r.content == "Hello from the fake server"
    assert r.provider == provider
    assert r.model.startswith(model)
    assert r.finish_reason == "stop"
    assert r.usage.completion_tokens == 5  # "Hello", " from", " the", " fake", " server"
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.cost == pytest.approx(expected_cost(client, provider, model, r.usage), rel=1e-9)
    assert r.latency_ms > 0
    d = r.to_dict()
    assert d["content"] == r.content and d["usage"]["completionTokens"] == 5


@pytest.mark.parametrize("provider,model", VENDORS)
async def test_stream_per_vendor(client: Any, provider: str, model: str) -> None:
    whole = await client.complete(provider, model, "Write [[lorem:20]]")
    stream = client.stream(provider, model, "Write [[lorem:20]]")
    pieces: List[str] = []
    async for delta in stream:
        assert isinstance(delta, chorus.StreamDelta)
        pieces.append(delta.text)
    assert len(pieces) == 20  # one delta per token, even when the io thread batches wake-ups
    assert "".join(pieces) == whole.content
    resp = stream.response
    assert resp is not None
    assert resp.content == whole.content
    assert resp.usage.completion_tokens == 20
    assert resp.usage.prompt_tokens == whole.usage.prompt_tokens
    assert resp.cost == pytest.approx(whole.cost)
    assert resp.time_to_first_token_ms is not None


async def test_stream_text_and_context_manager(client: Any) -> None:
    async with client.stream("openai", "gpt-4o-mini", "[[reply:one two three]]") as s:
        assert await s.text() == "one two three"


async def test_reasoning_stream(client: Any) -> None:
    reasoning: List[str] = []
    text: List[str] = []
    s = client.stream("deepseek", "deepseek-reasoner", "Think [[reply:The answer is 4.]]")
    async for d in s:
        reasoning.append(d.reasoning)
        text.append(d.text)
    assert "".join(text) == "The answer is 4."
    assert "".join(reasoning) != ""
    assert s.response.reasoning == "".join(reasoning)


async def test_messages_and_system_prompt(client: Any) -> None:
    r = await client.complete(
        "openai", "gpt-4o-mini",
        messages=[("user", "first question"), {"role": "assistant", "content": "first answer"},
                  chorus.Message("user", "again [[echo]]")])
    assert r.content == "again"


async def test_simulated_provider_needs_no_network() -> None:
    c = chorus.Client()
    r = await c.complete("simulated", "sim-fast", "[[reply:offline works]]")
    assert r.content == "offline works"
    assert r.provider == "simulated"


def test_complete_sync(client: Any) -> None:
    r = client.complete_sync("anthropic", "claude-3-5-haiku", "[[reply:blocking call]]",
                             system="s", max_tokens=20)
    assert r.content == "blocking call"
    assert r.usage.completion_tokens == 2


def test_stream_sync(client: Any) -> None:
    pieces = [d.text for d in client.stream_sync("gemini", "gemini-2.0-flash", "[[lorem:7]]")]
    assert len(pieces) == 7
    assert "".join(pieces) == client.complete_sync("gemini", "gemini-2.0-flash", "[[lorem:7]]").content


def test_sync_twin_refuses_unknown_keyword(client: Any) -> None:
    with pytest.raises(TypeError, match="temprature"):
        client.complete_sync("openai", "gpt-4o-mini", "x", temprature=0.3)


async def test_many_streams_interleave(client: Any) -> None:
    async def one(i: int) -> str:
        return await client.stream("openai", "gpt-4o-mini", f"[[reply:stream {i} done]]").text()

    got = await asyncio.gather(*(one(i) for i in range(50)))
    assert got == [f"stream {i} done" for i in range(50)]


def test_providers_and_models(client: Any) -> None:
    assert {"openai", "anthropic", "gemini", "deepseek", "openai-compatible",
            "simulated"} <= set(client.providers)
    ids = [m["id"] for m in client.models("openai")]
    assert "gpt-4o-mini" in ids
