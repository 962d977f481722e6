"""Failures become the ChorusError subclass of their kind, with status, provider, request id and
retry_after, and never leak the API key."""

from __future__ import annotations

from typing import Any

import pytest

import chorus


async def test_auth_error_per_vendor(fake_llm: Any) -> None:
    for provider, model, status in [("openai", "gpt-4o-mini", 401),
                                    ("anthropic", "claude-3-5-haiku", 401),
                                    ("gemini", "gemini-2.0-flash", 400)]:
        c = chorus.Client(api_keys={provider: "invalid-secret-key-123"},
                          base_urls=fake_llm.base_urls(), max_retries=0)
        with pytest.raises(chorus.AuthError) as info:
            await c.complete(provider, model, "hello")
        e = info.value
        assert e.kind == "auth"
        assert e.status == status
        assert e.provider == provider
        assert "invalid-secret-key-123" not in str(e)
        assert isinstance(e, chorus.ChorusError)


async def test_rate_limit_carries_retry_after(strict_client: Any) -> None:
    with pytest.raises(chorus.RateLimitError) as info:
        await strict_client.complete("openai", "gpt-4o-mini", "[[status:429 retry-after=7]]")
    assert info.value.status == 429
    assert info.value.retry_after == pytest.approx(7.0)
    assert info.value.to_dict()["retryAfterMs"] == 7000


async def test_retry_then_success(client: Any) -> None:
    r = await client.complete("openai", "gpt-4o-mini",
                              "[[status:429 retry-after-ms=10 times=1 id=py-retry]] [[reply:ok]]")
    assert r.content == "ok"
    assert r.attempts == 2


@pytest.mark.parametrize("provider,model,directive,cls,status", [
    ("openai", "gpt-4o-mini", "[[status:500]]", chorus.ServerError, 500),
    ("anthropic", "claude-3-5-haiku", "[[status:529]]", chorus.OverloadedError, 529),
    ("deepseek", "deepseek-chat", "[[status:402]]", chorus.QuotaExceededError, 402),
    ("openai", "gpt-4o-mini", "[[status:400]]", chorus.BadRequestError, 400),
])
async def test_status_errors(strict_client: Any, provider: str, model: str, directive: str,
                             cls: type, status: int) -> None:
    with pytest.raises(cls) as info:
        await strict_client.complete(provider, model, f"fail {directive}")
    assert info.value.status == status
    assert info.value.provider == provider


async def test_malformed_body_is_protocol_error(strict_client: Any) -> None:
    with pytest.raises(chorus.ProtocolError):
        await strict_client.complete("openai", "gpt-4o-mini", "[[malformed]]")


async def test_midstream_cut_keeps_partial_text(strict_client: Any) -> None:
    stream = strict_client.stream("openai", "gpt-4o-mini", "[[lorem:30]] [[cut:5]]")
    got = []
    with pytest.raises(chorus.ChorusError) as info:
        async for d in stream:
            got.append(d.text)
    assert len(got) == 5
    assert info.value.response is not None
    assert info.value.response.content == "".join(got)


async def test_context_length_before_sending(client: Any) -> None:
    with pytest.raises(chorus.ContextLengthError) as info:
        await client.complete("openai", "gpt-4o-mini", "word " * 600_000)
    assert info.value.status == 0  # refused before any request was sent


async def test_invalid_argument_names_the_field(client: Any) -> None:
    with pytest.raises(chorus.InvalidArgumentError) as info:
        await client.complete("openai", "gpt-4o-mini", "hi", temperature=5.0)
    assert "temperature" in str(info.value)
    assert isinstance(info.value, ValueError)


async def test_unknown_provider(client: Any) -> None:
    with pytest.raises(chorus.UnknownProviderError) as info:
        await client.complete("nope", "m", "hi")
    assert "nope" in str(info.value)


def test_sync_errors_too(strict_client: Any) -> None:
    with pytest.raises(chorus.RateLimitError):
        strict_client.complete_sync("gemini", "gemini-2.0-flash", "[[status:429 retry-after=1]]")


def test_error_kinds_cover_every_errc() -> None:
    from chorus import _core
    from chorus._errors import ERROR_CLASSES

    assert set(_core.error_kinds()) == set(ERROR_CLASSES)


def test_bad_python_values_name_the_field() -> None:
    with pytest.raises(ValueError, match="messages\\[0\\]"):
        chorus.ChatRequest("m", [("robot", "hi")])
    with pytest.raises(ValueError, match="Usage"):
        chorus.Usage(prompt_tokens=-1)
