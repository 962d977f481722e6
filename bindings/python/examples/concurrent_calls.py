"""Hundreds of concurrent calls on one event loop: the C++ io thread does the I/O."""

import asyncio
import time

import chorus


async def main(n: int = 300) -> None:
    client = chorus.Client()
    start = time.perf_counter()
    answers = await asyncio.gather(
        *(client.complete("simulated", "sim-fast", f"[[reply:answer {i}]]") for i in range(n)))
    elapsed = time.perf_counter() - start
    assert [a.content for a in answers] == [f"answer {i}" for i in range(n)]
    total = sum(a.usage.total_tokens for a in answers)
    print(f"{n} calls, {total} tokens in {elapsed:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
