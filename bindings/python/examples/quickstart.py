"""Chat with a model, plain and streamed. Offline by default (the `simulated` provider); set
CHORUS_PROVIDER/CHORUS_MODEL (and the vendor's API key) to call a real one."""

import asyncio
import os

import chorus

PROVIDER = os.environ.get("CHORUS_PROVIDER", "simulated")
MODEL = os.environ.get("CHORUS_MODEL", "sim-fast")


async def main() -> None:
    client = chorus.Client()
    resp = await client.complete(PROVIDER, MODEL, "Name three tide pool animals.",
                                 system="Answer in one sentence.", temperature=0.2)
    print(resp.content)
    print(f"[{resp.usage.prompt_tokens} + {resp.usage.completion_tokens} tokens, "
          f"cost {resp.cost}, {resp.latency_ms:.1f} ms]")

    async for delta in client.stream(PROVIDER, MODEL, "Describe a sea star."):
        print(delta.text, end="", flush=True)
    print()

    # Failures are exceptions of their kind; [[status:...]] makes the simulated provider fail.
    strict = chorus.Client(max_retries=0)
    try:
        await strict.complete("simulated", "sim-fast", "[[status:429 retry-after=3]]")
    except chorus.RateLimitError as e:
        print(f"rate limited by {e.provider}: retry after {e.retry_after} s")


if __name__ == "__main__":
    asyncio.run(main())
