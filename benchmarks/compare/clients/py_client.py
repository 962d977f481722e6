"""Python clients of the peer comparison (benchmarks/compare/run): one system, one workload, N
units, CONCURRENCY in flight, against an OpenAI-compatible BASE_URL (chorus-fake-llm), then ONE
JSON line on stdout. The runner measures this process from outside (wait4: CPU user+sys, peak
RSS; wall time): imports and set-up count, and the runner removes them with a slope between two
values of N.

    python py_client.py SYSTEM WORKLOAD N CONCURRENCY BASE_URL

SYSTEM: chorus | openai | litellm | langgraph (langgraph + langchain-openai).
WORKLOAD: call | stream (chorus, openai, litellm); chain | fanout | concurrent (chorus,
langgraph). `concurrent` starts N runs of the 3-node chain at once; each call waits
CHORUS_COMPARE_HOLD_MS (default 500) at the server. Exit status 0 when every unit succeeded.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import resource
import sys
import time
from typing import Annotated, Any, Awaitable, Callable, Dict, List, TypedDict

MODEL = "gpt-4o-mini"
KEY = "sk-compare-bench"


def chorus_chain_doc(directive: str) -> Dict[str, Any]:
    def llm(i: str, prompt: str) -> Dict[str, Any]:
        return {"id": i, "type": "llm", "position": {"x": 0, "y": 0},
                "data": {"provider": "openai", "model": MODEL, "prompt": prompt}}
    nodes = [{"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}},
             llm("a", "Step one: {{input}}" + directive),
             llm("b", "Step two: {{input}}" + directive),
             llm("c", "Step three: {{input}}" + directive),
             {"id": "out", "type": "output", "position": {"x": 0, "y": 0}, "data": {}}]
    ids = ["in", "a", "b", "c", "out"]
    return {"id": "chain3", "nodes": nodes,
            "edges": [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in zip(ids, ids[1:])]}


def chorus_fanout_doc() -> Dict[str, Any]:
    nodes: List[Dict[str, Any]] = [
        {"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}}]
    edges = []
    for i in range(10):
        nodes.append({"id": f"w{i}", "type": "llm", "position": {"x": 0, "y": 0},
                      "data": {"provider": "openai", "model": MODEL,
                               "prompt": f"Worker {i}: {{{{input}}}}"}})
        edges += [{"id": f"in-w{i}", "source": "in", "target": f"w{i}"},
                  {"id": f"w{i}-m", "source": f"w{i}", "target": "merge"}]
    nodes += [{"id": "merge", "type": "merge", "position": {"x": 0, "y": 0},
               "data": {"mode": "all"}},
              {"id": "out", "type": "output", "position": {"x": 0, "y": 0}, "data": {}}]
    edges.append({"id": "m-out", "source": "merge", "target": "out"})
    return {"id": "fanout10", "nodes": nodes, "edges": edges}


def make_unit(system: str, workload: str, url: str, hold: str) -> Callable[[int], Awaitable[int]]:
    """Returns an async function doing unit i and returning the answer's length (must be > 0)."""
    if system == "chorus":
        import chorus

        client = chorus.Client(api_keys={"openai": KEY}, base_urls={"openai": url + "/v1"},
                               max_retries=0)
        if workload == "call":
            async def call(i: int) -> int:
                r = await client.complete("openai", MODEL, f"Say something, call {i}")
                return len(r.content)
            return call
        if workload == "stream":
            async def stream(i: int) -> int:
                n = 0
                async for d in client.stream("openai", MODEL, f"Stream something, call {i}"):
                    n += len(d.text)
                return n
            return stream
        doc = chorus_fanout_doc() if workload == "fanout" else chorus_chain_doc(hold)
        wf = chorus.Workflow.from_dict(doc)

        async def run(i: int) -> int:
            r = await chorus.run(wf, f"topic {i}", client=client, stream_tokens=False)
            if r.status != "succeeded":
                raise RuntimeError(f"run {i}: {r.status}")
            return len(r.output)
        return run

    if system == "openai":
        import openai

        oa = openai.AsyncOpenAI(api_key=KEY, base_url=url + "/v1", max_retries=0)
        if workload == "call":
            async def oa_call(i: int) -> int:
                r = await oa.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Say something, call {i}"}])
                return len(r.choices[0].message.content or "")
            return oa_call

        async def oa_stream(i: int) -> int:
            s = await oa.chat.completions.create(
                model=MODEL, stream=True,
                messages=[{"role": "user", "content": f"Stream something, call {i}"}])
            n = 0
            async for c in s:
                if c.choices:
                    n += len(c.choices[0].delta.content or "")
            return n
        return oa_stream

    if system == "litellm":
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        base = url + "/v1"
        if workload == "call":
            async def ll_call(i: int) -> int:
                r = await litellm.acompletion(
                    model="openai/" + MODEL, api_base=base, api_key=KEY, num_retries=0,
                    messages=[{"role": "user", "content": f"Say something, call {i}"}])
                return len(r.choices[0].message.content or "")
            return ll_call

        async def ll_stream(i: int) -> int:
            s = await litellm.acompletion(
                model="openai/" + MODEL, api_base=base, api_key=KEY, num_retries=0, stream=True,
                messages=[{"role": "user", "content": f"Stream something, call {i}"}])
            n = 0
            async for c in s:
                if c.choices:
                    n += len(c.choices[0].delta.content or "")
            return n
        return ll_stream

    if system == "langgraph":
        from langchain_openai import ChatOpenAI
        from langgraph.graph import END, START, StateGraph

        llm = ChatOpenAI(model=MODEL, api_key=KEY, base_url=url + "/v1",  # type: ignore[arg-type]
                         max_retries=0)

        if workload == "fanout":
            class FanState(TypedDict):
                topic: str
                parts: Annotated[List[str], operator.add]
                out: str

            def worker(i: int) -> Callable[[FanState], Awaitable[Dict[str, Any]]]:
                async def call(state: FanState) -> Dict[str, Any]:
                    msg = await llm.ainvoke(f"Worker {i}: {state['topic']}")
                    return {"parts": [str(msg.content)]}
                return call

            def merge(state: FanState) -> Dict[str, Any]:
                return {"out": "\n\n".join(state["parts"])}

            fg = StateGraph(FanState)
            for i in range(10):
                fg.add_node(f"w{i}", worker(i))
                fg.add_edge(START, f"w{i}")
            fg.add_node("merge", merge)
            fg.add_edge([f"w{i}" for i in range(10)], "merge")
            fg.add_edge("merge", END)
            fan = fg.compile()

            async def lg_fan(i: int) -> int:
                r = await fan.ainvoke({"topic": f"topic {i}", "parts": [], "out": ""})
                if len(r["parts"]) != 10:
                    raise RuntimeError(f"fan-out run {i}: {len(r['parts'])} parts")
                return len(r["out"])
            return lg_fan

        class State(TypedDict):
            text: str

        def step(name: str) -> Callable[[State], Awaitable[State]]:
            async def call(state: State) -> State:
                msg = await llm.ainvoke(f"Step {name}: {state['text']}{hold}")
                return {"text": str(msg.content)}
            return call

        g = StateGraph(State)
        for name in ("one", "two", "three"):
            g.add_node(name, step(name))
        g.add_edge(START, "one")
        g.add_edge("one", "two")
        g.add_edge("two", "three")
        g.add_edge("three", END)
        app = g.compile()

        async def lg_chain(i: int) -> int:
            r = await app.ainvoke({"text": f"topic {i}"})
            return len(r["text"])
        return lg_chain

    raise SystemExit(f"py_client: unknown system {system!r}")


async def main() -> int:
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    system, workload, n_arg, conc_arg, url = sys.argv[1:]
    n, conc = int(n_arg), int(conc_arg)
    t0 = time.perf_counter()
    hold = ""
    if workload == "concurrent":
        hold = f" [[latency:{os.environ.get('CHORUS_COMPARE_HOLD_MS', '500')}]]"
        conc = max(n, 1)
    unit = make_unit(system, workload, url, hold)
    ok = failed = 0
    first_error = ""
    next_i = 0

    async def worker() -> None:
        nonlocal ok, failed, first_error, next_i
        while next_i < n:
            i = next_i
            next_i += 1
            try:
                if await unit(i) > 0:
                    ok += 1
                    continue
                why = "empty answer"
            except Exception as e:  # noqa: BLE001  (counted and reported)
                why = f"{type(e).__name__}: {e}"
            failed += 1
            if not first_error:
                first_error = why

    await asyncio.gather(*(worker() for _ in range(min(conc, n))))
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    hwm = 0  # VmHWM: this process's peak RSS since exec (ru_maxrss also counts the forked parent)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    if first_error:
        print(f"py_client {system} {workload}: {failed} failed; first: {first_error}",
              file=sys.stderr)
    print(json.dumps({"system": system, "workload": workload, "n": n, "ok": ok, "failed": failed,
                      "self_cpu_s": ru.ru_utime + ru.ru_stime, "self_wall_s": wall,
                      "self_maxrss_kb": ru.ru_maxrss, "vmhwm_kb": hwm}))
    return 0 if ok == n else 1


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown (a client's pool closing after the figures)
