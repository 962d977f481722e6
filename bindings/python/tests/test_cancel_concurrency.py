"""Cancellation reaches C++ (asyncio task cancel, Ctrl-C in blocking calls), and one event loop
carries a thousand concurrent calls."""

from __future__ import annotations

import _thread
import asyncio
import threading
from typing import Any

import pytest

import chorus


async def wait_until(pred: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_cancel_stream_closes_the_connection() -> None:
    from conftest import FakeLlm

    server = FakeLlm()  # our own server: its connection count is ours alone
    try:
        client = chorus.Client(api_keys={"openai": "k"}, base_urls=server.base_urls())
        stream = client.stream("openai", "gpt-4o-mini", "[[lorem:500]] [[token-delay:100]]")
        got = []

        async def consume() -> None:
            async for d in stream:
                got.append(d.text)

        task = asyncio.create_task(consume())
        await wait_until(lambda: len(got) >= 2)
        assert server.stats()["open_connections"] == 2  # the stream + this stats request
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(got) < 500
        # The C++ call stopped: the server sees the streaming connection closed.
        await wait_until(lambda: server.stats()["open_connections"] == 1)
    finally:
        server.close()


async def test_cancel_complete_task(client: Any) -> None:
    task = asyncio.create_task(
        client.complete("anthropic", "claude-3-5-haiku", "[[latency:30000]] slow"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the client is still usable afterwards
    r = await client.complete("anthropic", "claude-3-5-haiku", "[[reply:still fine]]")
    assert r.content == "still fine"


async def test_wait_for_timeout_cancels(client: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            client.complete("openai", "gpt-4o-mini", "[[latency:30000]] timeout"), 0.3)


def test_ctrl_c_cancels_blocking_call(client: Any) -> None:
    timer = threading.Timer(0.3, _thread.interrupt_main)
    try:
        with pytest.raises(KeyboardInterrupt):
            timer.start()  # inside: however late the timer fires, pytest.raises sees it
            client.complete_sync("openai", "gpt-4o-mini", "[[latency:30000]] ctrl-c")
    finally:
        timer.cancel()
    assert client.complete_sync("openai", "gpt-4o-mini", "[[reply:after ctrl-c]]").content == \
        "after ctrl-c"


async def test_thousand_concurrent_calls(client: Any) -> None:
    n = 1000

    async def one(i: int) -> chorus.ChatResponse:
        return await client.complete("openai", "gpt-4o-mini", f"[[reply:answer {i}]]")

    results = await asyncio.gather(*(one(i) for i in range(n)))
    assert [r.content for r in results] == [f"answer {i}" for i in range(n)]
    assert all(r.usage.completion_tokens == 2 for r in results)


async def test_completions_are_batched_per_loop(client: Any) -> None:
    from chorus._loop import dispatcher_for

    d = dispatcher_for(asyncio.get_running_loop())
    before = d.wakeups
    await asyncio.gather(*(client.complete("simulated", "sim-fast", f"[[reply:{i}]]")
                           for i in range(200)))
    # One wake-up of the loop per burst, never more than one per completion.
    assert 1 <= d.wakeups - before <= 200



def _chain(prompt: str) -> chorus.Workflow:
    pos = {"x": 0, "y": 0}
    return chorus.Workflow.from_dict({
        "id": "chain", "nodes": [
            {"id": "in", "type": "input", "position": pos, "data": {}},
            {"id": "a", "type": "llm", "position": pos,
             "data": {"provider": "openai", "model": "gpt-4o-mini", "prompt": prompt}},
            {"id": "out", "type": "output", "position": pos, "data": {}}],
        "edges": [{"id": "e1", "source": "in", "target": "a"},
                  {"id": "e2", "source": "a", "target": "out"}]})


async def test_runs_cancelled_right_after_they_started(client: Any) -> None:
    # The cancellations reach C++ while the runs are just being started on the io thread.
    slow = _chain("[[latency:5000]] {{input}}")
    tasks = [asyncio.ensure_future(chorus.run(slow, f"run {i}", client=client))
             for i in range(300)]
    await asyncio.sleep(0)
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    r = await chorus.run(_chain("[[echo]] {{input}}"), "after", client=client)
    assert r.output == "after"


async def test_run_streams_closed_right_after_they_started(client: Any) -> None:
    slow = _chain("[[latency:5000]] {{input}}")
    for i in range(50):
        stream = chorus.run_stream(slow, f"run {i}", client=client)
        first = await stream.__anext__()  # the run started: its first event arrived
        assert first.type == "run_started"
        await stream.aclose()
        with pytest.raises(chorus.CancelledError):
            async for _ in stream:
                pass


def test_a_collected_loop_drops_what_completes_after_it(client: Any) -> None:
    # A call still in flight when its loop is closed and collected: the loop's Dispatcher is
    # closed by then, its completion is dropped on the io thread (no GIL, no crash), and the next
    # loop gets a Dispatcher of its own.
    import gc
    import time

    from chorus._loop import dispatcher_for

    loop = asyncio.new_event_loop()

    async def start() -> "asyncio.Future[Any]":
        fut = asyncio.ensure_future(
            client.complete("simulated", "sim-fast", "[[latency:300]] [[reply:late]]"))
        await asyncio.sleep(0.05)
        return fut

    pending = loop.run_until_complete(start())
    first = dispatcher_for(loop)
    pending.cancel()
    loop.close()
    del pending, loop
    gc.collect()
    time.sleep(0.6)  # the call completes against the closed Dispatcher meanwhile

    async def again() -> str:
        assert dispatcher_for(asyncio.get_running_loop()) is not first
        return (await client.complete("simulated", "sim-fast", "[[reply:fresh]]")).content

    assert asyncio.run(again()) == "fresh"
    assert client.complete_sync("simulated", "sim-fast", "[[reply:sync]]").content == "sync"
