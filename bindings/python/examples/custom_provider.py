"""A provider written in Python, used in a workflow next to a built-in one."""

import asyncio
from typing import AsyncIterator

import chorus


class Reverser(chorus.Provider):
    """Answers with the words of the prompt in reverse order, streaming one word at a time."""

    id = "reverser"
    name = "Word reverser"
    models = ("rev-1",)

    async def complete(self, request: chorus.ChatRequest) -> str:
        return " ".join(reversed(request.prompt.split()))

    async def stream(self, request: chorus.ChatRequest) -> AsyncIterator[str]:
        words = list(reversed(request.prompt.split()))
        for i, word in enumerate(words):
            await asyncio.sleep(0)
            yield word if i == 0 else " " + word


WORKFLOW = {
    "id": "reverse-demo", "name": "Draft then reverse",
    "nodes": [
        {"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}},
        {"id": "draft", "type": "llm", "position": {"x": 200, "y": 0},
         "data": {"provider": "simulated", "model": "sim-fast",
                  "prompt": "[[reply:one two three {{input}}]]"}},
        {"id": "rev", "type": "llm", "position": {"x": 400, "y": 0},
         "data": {"provider": "reverser", "model": "rev-1", "prompt": "{{input}}"}},
        {"id": "out", "type": "output", "position": {"x": 600, "y": 0}, "data": {}},
    ],
    "edges": [{"id": "e1", "source": "in", "target": "draft"},
              {"id": "e2", "source": "draft", "target": "rev"},
              {"id": "e3", "source": "rev", "target": "out"}],
}


async def main() -> None:
    client = chorus.Client()
    client.register_provider(Reverser())
    result = await chorus.run(WORKFLOW, "four", client=client)
    print(result.output)  # four three two one
    print(result.nodes["rev"].provider, result.nodes["rev"].usage)


if __name__ == "__main__":
    asyncio.run(main())
