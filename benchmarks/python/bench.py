"""Client CPU of chorus vs the official openai SDK (per non-streamed call, per 20-token stream)
and per node of a 3-node chain vs LangGraph + langchain-openai, all against the same fake LLM
server (chorus-fake-llm), in one run. CPU = time.process_time() of this process (every thread,
so chorus' C++ io thread counts), divided by the number of calls / nodes.

    benchmarks/python/run.sh                 # makes a throwaway venv with the competitors
    python3 benchmarks/python/bench.py --calls 500 [--skip-openai] [--skip-langgraph]

Also prints `import chorus` time. Not run in CI (timing belongs in benchmarks, not tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

ROOT = pathlib.Path(__file__).resolve().parents[2]


def fake_server() -> "tuple[subprocess.Popen[str], str]":
    build = pathlib.Path(os.environ.get("CHORUS_BUILD_DIR", ROOT / "build" / "release"))
    exe = build / "bin" / "chorus-fake-llm"
    proc = subprocess.Popen([str(exe), "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


async def cpu_per(label: str, n: int, concurrency: int, one: Callable[[int], Awaitable[Any]],
                  per: int = 1) -> float:
    """Runs `one(i)` n times, `concurrency` at a time, after a warm-up; returns µs CPU per unit."""
    for i in range(min(20, n)):
        await one(i)
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    us = cpu / (n * per) * 1e6
    print(f"  {label:<44} {us:10.1f} µs CPU/{'node' if per > 1 else 'call'}   "
          f"({n} x, {wall:.2f} s wall)")
    return us


def chain_doc(model: str) -> Dict[str, Any]:
    nodes: List[Dict[str, Any]] = [{"id": "in", "type": "input", "position": {"x": 0, "y": 0},
                                    "data": {}}]
    for i in range(3):
        nodes.append({"id": f"n{i}", "type": "llm", "position": {"x": 100 * (i + 1), "y": 0},
                      "data": {"provider": "openai", "model": model,
                               "prompt": "Step %d: {{input}} [[lorem:20]]" % i}})
    nodes.append({"id": "out", "type": "output", "position": {"x": 400, "y": 0}, "data": {}})
    ids = [n["id"] for n in nodes]
    return {"id": "chain3", "nodes": nodes,
            "edges": [{"id": f"e{i}", "source": a, "target": b}
                      for i, (a, b) in enumerate(zip(ids, ids[1:]))]}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--skip-openai", action="store_true")
    ap.add_argument("--skip-langgraph", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import chorus  # noqa: E402  (timed)
    print(f"import chorus: {(time.perf_counter() - t0) * 1000:.1f} ms (see also python -X importtime)")

    proc, url = fake_server()
    results: Dict[str, float] = {}
    try:
        model = "gpt-4o-mini"
        client = chorus.Client(api_keys={"openai": "bench-key"}, base_urls={"openai": url + "/v1"},
                               max_retries=0)
        print(f"fake server {url}; {args.calls} calls, concurrency {args.concurrency}")

        async def ch_complete(i: int) -> None:
            await client.complete("openai", model, f"[[reply:hello {i}]]")

        async def ch_stream(i: int) -> None:
            async for _ in client.stream("openai", model, "[[lorem:20]]"):
                pass

        results["chorus.complete"] = await cpu_per("chorus complete", args.calls,
                                                   args.concurrency, ch_complete)
        results["chorus.stream"] = await cpu_per("chorus stream (20 tokens)", args.calls,
                                                 args.concurrency, ch_stream)
        wf = chorus.Workflow.from_dict(chain_doc(model))

        async def ch_chain(i: int) -> None:
            await chorus.run(wf, f"run {i}", client=client)

        results["chorus.node"] = await cpu_per("chorus 3-node chain", args.runs,
                                               args.concurrency, ch_chain, per=3)

        if not args.skip_openai:
            import openai

            oa = openai.AsyncOpenAI(api_key="bench-key", base_url=url + "/v1", max_retries=0)

            async def oa_complete(i: int) -> None:
                await oa.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": f"[[reply:hello {i}]]"}])

            async def oa_stream(i: int) -> None:
                s = await oa.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "[[lorem:20]]"}],
                    stream=True)
                async for _ in s:
                    pass

            results["openai.complete"] = await cpu_per("openai-python complete", args.calls,
                                                       args.concurrency, oa_complete)
            results["openai.stream"] = await cpu_per("openai-python stream (20 tokens)",
                                                     args.calls, args.concurrency, oa_stream)

        if not args.skip_langgraph:
            from typing import TypedDict

            from langchain_openai import ChatOpenAI
            from langgraph.graph import END, START, StateGraph

            llm = ChatOpenAI(model=model, api_key="bench-key", base_url=url + "/v1",  # type: ignore[arg-type]
                             max_retries=0)

            class State(TypedDict):
                text: str

            def node(i: int) -> Callable[[State], Awaitable[State]]:
                async def call(state: State) -> State:
                    msg = await llm.ainvoke(f"Step {i}: {state['text']} [[lorem:20]]")
                    return {"text": str(msg.content)}
                return call

            g = StateGraph(State)
            for i in range(3):
                g.add_node(f"n{i}", node(i))
            g.add_edge(START, "n0")
            g.add_edge("n0", "n1")
            g.add_edge("n1", "n2")
            g.add_edge("n2", END)
            app = g.compile()

            async def lg_chain(i: int) -> None:
                await app.ainvoke({"text": f"run {i}"})

            results["langgraph.node"] = await cpu_per("LangGraph + langchain-openai 3-node chain",
                                                      args.runs, args.concurrency, lg_chain, per=3)
    finally:
        proc.terminate()
        proc.wait()

    def ratio(a: str, b: str) -> Optional[float]:
        return results[b] / results[a] if a in results and b in results else None

    summary = {
        "cpu_us": {k: round(v, 1) for k, v in results.items()},
        "openai_complete_ratio": ratio("chorus.complete", "openai.complete"),
        "openai_stream_ratio": ratio("chorus.stream", "openai.stream"),
        "langgraph_node_ratio": ratio("chorus.node", "langgraph.node"),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
