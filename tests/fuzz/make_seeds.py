#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into OUT/<target>/, one file per seed.

Seeds come from the provider transcripts (../shared/provider-fixtures, else the copy in
tests/fixtures/providers), the shipped example workflows (examples/workflows) and the small
hand-written seeds in tests/fuzz/seeds/<target>/. Each target's input layout is described at the
top of its *_fuzz.cpp; this script encodes the fixtures in that layout.

usage: make_seeds.py OUT
"""
import glob
import hashlib
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
VENDORS = {"openai": 0, "anthropic": 1, "gemini": 2, "deepseek": 3, "openai-compatible": 4}


def fixtures_dir():
    shared = os.path.normpath(os.path.join(ROOT, "..", "shared", "provider-fixtures"))
    if os.path.exists(os.path.join(shared, "README.md")):
        return shared
    return os.path.join(ROOT, "tests", "fixtures", "providers")


def write(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    for path in sorted(glob.glob(os.path.join(fixtures_dir(), "*-*.json"))):
        doc = json.load(open(path, encoding="utf-8"))
        vendor = VENDORS[doc["vendor"]]
        resp = doc["response"]
        status = resp["status"]
        raw = "body_raw" in resp
        body = (resp["body_raw"] if raw else json.dumps(resp["body"], ensure_ascii=False)).encode()
        path_str = doc["request"]["path"]
        req_body = doc["request"].get("body", {})
        stream = ":streamGenerateContent" in path_str or (isinstance(req_body, dict) and req_body.get("stream") is True)
        vendors = [vendor] + ([4] if vendor == 0 else [])
        if 200 <= status < 300 and stream:
            for seed in (0, 7, 200):
                write(out, "sse_fuzz", bytes([seed]) + body)
            for v in vendors:
                write(out, "provider_stream_fuzz", bytes([v, 0]) + body)
                write(out, "provider_stream_fuzz", bytes([v, 91]) + body)
        elif 200 <= status < 300:
            for v in vendors:
                write(out, "provider_response_fuzz", bytes([v]) + body)
        else:
            headers = "".join(f"{k}: {v}\n" for k, v in resp.get("headers", {}).items()).encode()
            for v in vendors:
                for plant in (0, 2 * 40 + 1):
                    write(out, "provider_error_fuzz",
                          bytes([v]) + struct.pack("<H", status) + bytes([plant]) + headers + b"\n" + body)
                hdr = resp.get("headers", {})
                if "retry-after" in hdr or "retry-after-ms" in hdr:
                    when = struct.pack("<HH", 0x6850, 0x1F00)
                    write(out, "retry_after_fuzz", when + hdr.get("retry-after-ms", "").encode() + b"\n" +
                          hdr.get("retry-after", "").encode())

    templates = set()

    def collect(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, str) and ("{{" in x or k in ("prompt", "systemPrompt", "template")):
                    templates.add(x)
                collect(x)
        elif isinstance(v, list):
            for x in v:
                collect(x)

    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "workflows", "*.json"))):
        data = open(path, "rb").read()
        write(out, "workflow_fuzz", data)
        collect(json.loads(data))
    sample = b'{"a": [1, {"b": "c"}], "score": 7, "ok": true}'
    for t in sorted(templates):
        write(out, "template_fuzz", t.encode() + b"\0" + sample)

    # Hand-written seeds (edge cases the fixtures do not show), checked in.
    for d in sorted(glob.glob(os.path.join(HERE, "seeds", "*"))):
        target = os.path.basename(d)
        for f in sorted(glob.glob(os.path.join(d, "*"))):
            write(out, target, open(f, "rb").read())

    for target in sorted(os.listdir(out)):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
