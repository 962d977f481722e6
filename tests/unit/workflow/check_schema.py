#!/usr/bin/env python3
"""Checks docs/workflow.schema.json: it is a valid draft 2020-12 schema, every shipped workflow
(examples/workflows/*.json) conforms to it, and documents with a known mistake do not.

usage: check_schema.py SCHEMA EXAMPLES_DIR
"""
import copy
import json
import pathlib
import sys

from jsonschema import Draft202012Validator


def main() -> int:
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    failures = 0

    examples = sorted(pathlib.Path(sys.argv[2]).glob("*.json"))
    if len(examples) < 6:
        print(f"expected at least 6 shipped workflows, found {len(examples)}")
        failures += 1
    by_name = {}
    for path in examples:
        doc = json.loads(path.read_text(encoding="utf-8"))
        by_name[path.stem] = doc
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            print(f"{path.name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
        failures += len(errors)
    if not by_name:
        return 1

    # Each mutation of a valid document must be rejected.
    base = by_name.get("draft-critique-rewrite") or next(iter(by_name.values()))

    def node_of(doc, kind):
        return next(n for n in doc["nodes"] if n["type"] == kind)

    def mutate(label, change):
        doc = copy.deepcopy(base)
        change(doc)
        if validator.is_valid(doc):
            print(f"schema accepted an invalid document: {label}")
            return 1
        return 0

    failures += mutate("unknown node type", lambda d: d["nodes"][0].update(type="scripty"))
    failures += mutate("temperature 3", lambda d: node_of(d, "llm")["data"].update(temperature=3))
    failures += mutate("maxTokens 0", lambda d: node_of(d, "llm")["data"].update(maxTokens=0))
    failures += mutate("maxTokens 1.5", lambda d: node_of(d, "llm")["data"].update(maxTokens=1.5))
    failures += mutate("llm without model", lambda d: node_of(d, "llm")["data"].pop("model"))
    failures += mutate("bad onError", lambda d: node_of(d, "llm")["data"].update(onError="retry"))
    failures += mutate("loop without maxIterations",
                       lambda d: node_of(d, "loop")["data"].pop("maxIterations"))
    failures += mutate("bad condition op",
                       lambda d: node_of(d, "loop")["data"]["exitCondition"].update(op="like"))
    failures += mutate("edge without target", lambda d: d["edges"][0].pop("target"))
    failures += mutate("nodes not an array", lambda d: d.update(nodes={}))
    failures += mutate("router without routes", lambda d: d["nodes"].append(
        {"id": "r", "type": "router", "data": {"mode": "condition"}}))
    failures += mutate("classify without labels", lambda d: d["nodes"].append(
        {"id": "r", "type": "router", "data": {"mode": "classify", "provider": "p", "model": "m"}}))
    failures += mutate("truncate without maxTokens", lambda d: d["nodes"].append(
        {"id": "t", "type": "transform", "data": {"op": "truncate"}}))
    failures += mutate("map with separator format and no separator", lambda d: d["nodes"].append(
        {"id": "m", "type": "map", "data": {"itemsFormat": "separator"}}))

    # Editor fields anywhere are fine.
    doc = copy.deepcopy(base)
    doc["viewport"] = {"x": 0, "y": 0, "zoom": 1}
    doc["nodes"][0]["selected"] = True
    doc["nodes"][0]["data"]["label"] = "In"
    doc["edges"][0]["animated"] = True
    if not validator.is_valid(doc):
        print("schema rejected editor fields")
        failures += 1

    print(f"{len(examples)} workflows checked, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
