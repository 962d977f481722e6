#!/usr/bin/env python3
"""`chorus run` end to end, as a user runs it: bin/chorus against bin/chorus-fake-llm (OpenAI wire
format over loopback HTTP) and the in-process `simulated` provider. Checks stdout (result JSON,
event lines, final output), stderr's last line and the documented exit codes.

usage: cli_run_test.py --bin BUILD/bin
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

BIN = None


def node(id_, type_, data=None, parent=None):
    n = {"id": id_, "type": type_, "position": {"x": 0, "y": 0}, "data": data or {}}
    if parent:
        n["parentId"] = parent
    return n


def edge(id_, s, t, handle=None):
    e = {"id": id_, "source": s, "target": t}
    if handle:
        e["sourceHandle"] = handle
    return e


def llm(id_, prompt, provider="openai", model="gpt-4o-mini", **extra):
    data = {"provider": provider, "model": model, "prompt": prompt}
    data.update(extra)
    return node(id_, "llm", data)


def chain(*middle):
    nodes = [node("in", "input")] + list(middle) + [node("out", "output")]
    ids = [n["id"] for n in nodes]
    edges = [edge(f"e{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:]))]
    return {"id": "t", "name": "test", "nodes": nodes, "edges": edges}


class CliRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = subprocess.Popen(
            [os.path.join(BIN, "chorus-fake-llm"), "--port", "0"],
            stdout=subprocess.PIPE, text=True)
        line = cls.server.stdout.readline().strip()
        assert line.startswith("chorus-fake-llm listening on "), line
        cls.base = line.rsplit(" ", 1)[1]
        cls.tmp = tempfile.TemporaryDirectory()
        cls.env = dict(os.environ)
        for k in list(cls.env):
            if k.endswith("_API_KEY") or k.endswith("_BASE_URL"):
                del cls.env[k]
        cls.env.update({
            "OPENAI_BASE_URL": cls.base + "/v1",
            "OPENAI_API_KEY": "sk-cli-test-0000000000",
            "ANTHROPIC_BASE_URL": cls.base,
            "ANTHROPIC_API_KEY": "sk-ant-cli-test-000000",
            "CHORUS_SIMULATED_TOKEN_DELAY_MS": "0",
        })

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGTERM)
        cls.server.wait(timeout=30)
        cls.server.stdout.close()
        cls.tmp.cleanup()

    def write(self, doc, name="wf.json"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def chorus(self, *args, stdin=None, env=None):
        return subprocess.run([os.path.join(BIN, "chorus"), "run", *args], input=stdin,
                              capture_output=True, text=True, env=env or self.env, timeout=120)

    def test_json_result_shape(self):
        wf = self.write(chain(llm("ask", "[[reply:Hello from the fake server]] {{input}}")))
        p = self.chorus(wf, "--input", "hi", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        for key in ("status", "output", "nodes", "usage", "cost", "wallTimeMs"):
            self.assertIn(key, r)
        self.assertEqual(r["status"], "succeeded")
        self.assertEqual(r["output"], "Hello from the fake server")
        self.assertEqual(set(r["nodes"]), {"in", "ask", "out"})
        for key in ("status", "output", "usage", "cost", "latencyMs", "attempts", "error"):
            self.assertIn(key, r["nodes"]["ask"])
        self.assertEqual(r["nodes"]["ask"]["attempts"], 1)
        self.assertGreater(r["usage"]["totalTokens"], 0)
        self.assertGreater(r["cost"], 0)  # gpt-4o-mini has a price
        for key in ("promptTokens", "completionTokens", "totalTokens"):
            self.assertIn(key, r["usage"])

    def test_plain_output_and_cost_table(self):
        wf = self.write(chain(llm("ask", "[[reply:plain answer]]")))
        p = self.chorus(wf, "--input", "hi")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "plain answer\n")
        self.assertIn("total", p.stderr)
        self.assertIn("ask", p.stderr)

    def test_events_are_json_lines_in_order(self):
        wf = self.write(chain(llm("ask", "[[reply:one two three]]")))
        p = self.chorus(wf, "--input", "hi", "--events")
        self.assertEqual(p.returncode, 0, p.stderr)
        events = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual(events[0]["type"], "run_started")
        self.assertEqual(events[-1]["type"], "run_finished")
        self.assertEqual([e["seq"] for e in events], list(range(len(events))))
        text = "".join(e["text"] for e in events if e["type"] == "token")
        self.assertEqual(text, "one two three")
        types = [(e["type"], e.get("nodeId")) for e in events]
        self.assertLess(types.index(("node_started", "ask")), types.index(("node_finished", "ask")))

    def test_follow_prints_each_nodes_text_whole_even_when_branches_run_in_parallel(self):
        doc = {"id": "par", "name": "par", "nodes": [
            node("in", "input"),
            node("a", "llm", {"provider": "simulated", "model": "sim-fast",
                              "prompt": "[[reply:alpha beta gamma]] [[token-delay:5]]"}),
            node("b", "llm", {"provider": "simulated", "model": "sim-fast",
                              "prompt": "[[reply:one two three]] [[token-delay:5]]"}),
            node("m", "merge", {"mode": "all"}),
            node("out", "output")],
            "edges": [edge("e1", "in", "a"), edge("e2", "in", "b"), edge("e3", "a", "m"),
                      edge("e4", "b", "m"), edge("e5", "m", "out")]}
        p = self.chorus(self.write(doc), "--input", "x", "--follow")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stderr.splitlines()
        # Tokens of the two parallel branches never interleave: each speaks on one line.
        self.assertIn("[a] alpha beta gamma", lines)
        self.assertIn("[b] one two three", lines)
        self.assertTrue(any(l.startswith("-- a succeeded") for l in lines), p.stderr)
        self.assertLess(lines.index("[a] alpha beta gamma"),
                        next(i for i, l in enumerate(lines) if l.startswith("-- a succeeded")))
        self.assertIn("total", p.stderr)

    def test_input_from_stdin_and_simulated_provider_is_deterministic(self):
        wf = self.write(chain(llm("ask", "Summarise: {{input}}", provider="simulated",
                                  model="sim-fast")))
        a = self.chorus(wf, "--input", "-", "--json", stdin="the quick brown fox")
        b = self.chorus(wf, "--input", "-", "--json", stdin="the quick brown fox")
        self.assertEqual(a.returncode, 0, a.stderr)
        ra, rb = json.loads(a.stdout), json.loads(b.stdout)
        self.assertTrue(ra["output"])
        self.assertEqual(ra["output"], rb["output"])
        self.assertEqual(ra["nodes"]["in"]["output"], "the quick brown fox")

    def test_budget_exceeded_exit_code(self):
        wf = self.write(chain(llm("a", "[[reply:first]]", maxTokens=50),
                              llm("b", "[[reply:second]]", maxTokens=50)))
        # a reserves 4 + 50 tokens (<= 55); b would reserve 4 + 50 more on top of a's usage.
        p = self.chorus(wf, "--input", "x", "--json", "--max-tokens", "55")
        self.assertEqual(p.returncode, 4, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual(r["status"], "budget_exceeded")
        self.assertEqual(r["nodes"]["a"]["status"], "succeeded")
        self.assertEqual(r["nodes"]["b"]["error"]["kind"], "budget_exceeded")
        self.assertTrue(p.stderr.strip().splitlines()[-1].startswith("error: budget_exceeded"))

    def test_failed_node_exit_code_and_message(self):
        env = dict(self.env, OPENAI_API_KEY="invalid-key-for-test")
        wf = self.write(chain(llm("ask", "[[reply:x]]")))
        p = self.chorus(wf, "--input", "x", "--json", env=env)
        self.assertEqual(p.returncode, 1, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual(r["status"], "failed")
        self.assertEqual(r["nodes"]["ask"]["error"]["kind"], "auth")
        self.assertEqual(r["nodes"]["out"]["status"], "cancelled")
        last = p.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("error: node_failed: node 'ask' failed"), last)
        self.assertEqual(last.count("(provider openai"), 1, last)  # the context, said once
        self.assertNotIn("invalid-key-for-test", p.stdout + p.stderr)

    def chat(self, *args, env=None, stderr=subprocess.PIPE):
        return subprocess.run([os.path.join(BIN, "chorus"), "chat", *args], stdout=subprocess.PIPE,
                              stderr=stderr, text=True, env=env or self.env, timeout=120)

    def test_chat_text_then_summary_on_its_own_line(self):
        # stdout alone (a pipe of its own): the exact answer, no newline added.
        p = self.chat("-p", "openai", "-m", "gpt-4o-mini", "[[reply:plain answer]]")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "plain answer")
        self.assertTrue(p.stderr.startswith("[gpt-4o-mini via openai] tokens:"), p.stderr)
        # stdout and stderr to the same place (2>&1): the summary starts a line of its own.
        p = self.chat("-p", "openai", "-m", "gpt-4o-mini", "[[reply:plain answer]]",
                      stderr=subprocess.STDOUT)
        self.assertTrue(p.stdout.startswith("plain answer\n[gpt-4o-mini via openai]"), p.stdout)

    def test_chat_failed_before_any_tokens_has_no_cost_rather_than_an_unknown_price(self):
        env = dict(self.env, OPENAI_BASE_URL="http://127.0.0.1:1/v1")
        p = self.chat("-p", "openai", "-m", "gpt-4o-mini", "--retries", "1", "hi", env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cost: none (the call failed before any tokens)", p.stderr)
        self.assertNotIn("no price for this model", p.stderr)

    def test_invalid_workflow_exit_code(self):
        doc = chain(llm("ask", "[[reply:x]]"))
        doc["edges"].append(edge("dangling", "ask", "ghost"))
        wf = self.write(doc)
        p = self.chorus(wf, "--input", "x")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("dangling", p.stderr)
        self.assertIn("invalid_workflow", p.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.chorus().returncode, 2)
        self.assertEqual(self.chorus("nope.json").returncode, 2)
        wf = self.write(chain(llm("ask", "x")))
        self.assertEqual(self.chorus(wf, "--max-cost", "lots").returncode, 2)
        self.assertEqual(self.chorus(wf, "--bogus").returncode, 2)

    def test_ctrl_c_cancels_and_reports(self):
        wf = self.write(chain(llm("slow", "[[token-delay:3000]][[lorem:40]]")))
        proc = subprocess.Popen([os.path.join(BIN, "chorus"), "run", wf, "--input", "x",
                                 "--events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env)
        lines = []
        for line in proc.stdout:
            lines.append(json.loads(line))
            if lines[-1]["type"] == "node_started" and lines[-1].get("nodeId") == "slow":
                proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(proc.returncode, 130)
        self.assertEqual(lines[-1]["type"], "run_finished")
        self.assertEqual(lines[-1]["status"], "cancelled")
        self.assertEqual(lines[-1]["result"]["nodes"]["slow"]["status"], "cancelled")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args, rest = ap.parse_known_args()
    BIN = args.bin
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
