#!/usr/bin/env python3
"""Black-box test of `chorus validate`: exit codes, one line per problem naming the node or edge
and the field, --json output. Exits 77 (skipped) when the chorus program was not built.

usage: check_cli_validate.py CHORUS_BINARY EXAMPLES_DIR
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

BAD = {
    "nodes": [
        {"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "data": {}},
        {"id": "draft", "type": "llm", "position": {"x": 1, "y": 0},
         "data": {"provider": "simulated", "model": "sim-huge", "temperature": 3,
                  "prompt": "About {{nodes.later.output}}"}},
        {"id": "later", "type": "llm", "position": {"x": 2, "y": 0},
         "data": {"provider": "simulated", "model": "sim-fast"}},
        {"id": "out", "type": "output", "position": {"x": 3, "y": 0}, "data": {}},
    ],
    "edges": [
        {"id": "e1", "source": "in", "target": "draft"},
        {"id": "e2", "source": "draft", "target": "later"},
        {"id": "e3", "source": "later", "target": "out"},
        {"id": "e4", "source": "later", "target": "ghost"},
    ],
}


def run(binary, *args, stdin=None):
    return subprocess.run([binary, "validate", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def main() -> int:
    binary, examples = sys.argv[1], pathlib.Path(sys.argv[2])
    if not os.access(binary, os.X_OK):
        print(f"{binary} not built: skipped")
        return 77
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    files = sorted(str(p) for p in examples.glob("*.json"))
    r = run(binary, "--provider", "simulated=sim-fast,sim-smart", *files)
    check(r.returncode == 0, f"examples: exit {r.returncode}, stdout {r.stdout!r} stderr {r.stderr!r}")
    check(r.stdout == "ok\n", f"examples: stdout {r.stdout!r}")

    with tempfile.TemporaryDirectory() as tmp:
        bad = pathlib.Path(tmp) / "bad.json"
        bad.write_text(json.dumps(BAD))
        r = run(binary, "--provider", "simulated=sim-fast,sim-smart", str(bad))
        check(r.returncode == 1, f"bad: exit {r.returncode}")
        lines = r.stdout.splitlines()
        expected = [
            f"{bad}: error: node 'draft': data.temperature: temperature must be a number in [0, 2] (got 3) [invalid_value]",
            f"{bad}: error: edge 'e4': target: target \"ghost\" is not the id of any node [dangling_edge]",
            f"{bad}: error: node 'draft': data.model: provider \"simulated\" has no model \"sim-huge\" (known: \"sim-fast\", \"sim-smart\") [unknown_model]",
            f"{bad}: error: node 'draft': data.prompt: {{{{nodes.later.output}}}}: node \"later\" is not upstream of \"draft\" (no path of edges leads from it here), so its output is not available [bad_reference]",
        ]
        check(lines == expected, "bad: lines\n  " + "\n  ".join(lines))

        # Default: the built-in providers; an unknown model of a known provider is a warning.
        r = run(binary, "--json", str(bad))
        check(r.returncode == 1, f"--json: exit {r.returncode}")
        problems = json.loads(r.stdout)
        check([(p.get("nodeId") or p.get("edgeId"), p["severity"], p["code"]) for p in problems] == [
            ("draft", "error", "invalid_value"), ("e4", "error", "dangling_edge"),
            ("draft", "error", "bad_reference"), ("draft", "warning", "unknown_model")],
              f"--json: {problems}")
        check(all(p["file"] == str(bad) and p["field"] for p in problems), f"--json fields: {problems}")
        r = run(binary, "--json", "-q", str(bad))
        check(len(json.loads(r.stdout)) == 3, f"--json -q: {r.stdout}")

        typo = json.loads(json.dumps(BAD))
        typo["nodes"][2]["data"]["provider"] = "opanai"
        r = run(binary, "-", stdin=json.dumps(typo))
        check(r.returncode == 1 and "node 'later': data.provider: unknown provider \"opanai\"" in r.stdout,
              f"provider typo: {r.stdout!r}")
        r = run(binary, "--no-provider-check", "-q", "-", stdin=json.dumps(typo))
        check("opanai" not in r.stdout, f"--no-provider-check: {r.stdout!r}")

        r = run(binary, "-", stdin=json.dumps(BAD))
        check(r.returncode == 1 and r.stdout.startswith("-: error: "), f"stdin: {r.stdout!r}")

        r = run(binary, "-", stdin="{not json")
        check(r.returncode == 1 and "[invalid_json]" in r.stdout, f"not json: {r.stdout!r}")

    r = run(binary, "/nonexistent/workflow.json")
    check(r.returncode == 2 and "cannot read" in r.stderr, f"missing file: {r.returncode} {r.stderr!r}")
    r = run(binary)
    check(r.returncode == 2, f"no args: {r.returncode}")
    r = run(binary, "--frobnicate", "x.json")
    check(r.returncode == 2, f"unknown option: {r.returncode}")

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
