"""Run a shipped workflow, printing tokens as they stream and a cost table at the end."""

import asyncio
import pathlib
import sys

import chorus

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "examples" / "workflows" / "draft-critique-rewrite.json"


def on_event(event: chorus.RunEvent) -> None:
    if event.type == "node_started":
        print(f"\n--- {event.node_id} ({event.node_type})", flush=True)
    elif event.type == "token":
        print(event.text, end="", flush=True)


async def main(path: str, text: str) -> None:
    wf = chorus.Workflow.load(path)
    problems = [p for p in wf.validate() if p.severity == "error"]
    if problems:
        sys.exit("\n".join(p.describe() for p in problems))
    result = await chorus.run(wf, text, events=on_event, max_cost_usd=0.50)
    print("\n\n=== output\n" + result.output)
    for node_id, node in result.nodes.items():
        if node.usage.total_tokens:
            print(f"{node_id:>12} {node.status:<10} {node.usage.total_tokens:>6} tokens "
                  f"${node.cost or 0:.6f}")
    print(f"{'total':>12} {result.status:<10} {result.usage.total_tokens:>6} tokens "
          f"${result.cost or 0:.6f}  {result.wall_time_ms:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT),
                     sys.argv[2] if len(sys.argv) > 2 else "A haiku about tide pools"))
