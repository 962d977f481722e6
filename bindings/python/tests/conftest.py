"""Shared fixtures: the fake LLM server (a real process on a real socket) and clients pointed at
it. The programs come from $CHORUS_BUILD_DIR/bin (scripts/test sets it to the release build)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import urllib.request
from typing import Dict, Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TESTS = pathlib.Path(__file__).resolve().parent
BINDINGS = TESTS.parent


def build_dirs() -> list[pathlib.Path]:
    env = os.environ.get("CHORUS_BUILD_DIR")
    if env:
        return [pathlib.Path(env)]
    return [ROOT / "build" / d for d in ("release", "python/core", "dev")]


def find_program(name: str) -> pathlib.Path:
    for d in build_dirs():
        p = d / "bin" / name
        if p.exists():
            return p
    raise RuntimeError(
        f"{name} not found in {', '.join(str(d / 'bin') for d in build_dirs())}: build it "
        "(cmake --build --preset release) and set CHORUS_BUILD_DIR to that build folder")


class FakeLlm:
    def __init__(self) -> None:
        exe = find_program("chorus-fake-llm")
        self.proc = subprocess.Popen([str(exe), "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        prefix = "chorus-fake-llm listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"chorus-fake-llm did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line[len(prefix):]

    def stats(self) -> Dict[str, int]:
        with urllib.request.urlopen(self.url + "/_fake/stats", timeout=30) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def base_urls(self) -> Dict[str, str]:
        return {
            "openai": self.url + "/v1",
            "anthropic": self.url,
            "gemini": self.url,
            "deepseek": self.url,
            "openai-compatible": self.url + "/v1",
        }

    def env(self) -> Dict[str, str]:
        """Environment variables pointing every provider at this server with a test key."""
        env = {}
        for pid, url in self.base_urls().items():
            prefix = pid.upper().replace("-", "_")
            env[f"{prefix}_BASE_URL"] = url
            env[f"{prefix}_API_KEY"] = f"test-key-{pid}"
        return env

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLlm]:
    server = FakeLlm()
    yield server
    server.close()


@pytest.fixture(scope="session")
def client(fake_llm: FakeLlm) -> "object":
    import chorus

    keys = {pid: f"test-key-{pid}" for pid in fake_llm.base_urls()}
    return chorus.Client(api_keys=keys, base_urls=fake_llm.base_urls())


@pytest.fixture(scope="session")
def strict_client(fake_llm: FakeLlm) -> "object":
    """No retries: error tests see the first failure."""
    import chorus

    keys = {pid: f"test-key-{pid}" for pid in fake_llm.base_urls()}
    return chorus.Client(api_keys=keys, base_urls=fake_llm.base_urls(), max_retries=0)


@pytest.fixture
def fake_env(fake_llm: FakeLlm, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    env = fake_llm.env()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def python_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


# Test the installed package, never the source folder (it has no compiled _core): running
# `python -m pytest` from bindings/python would otherwise put ./chorus first on sys.path.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != BINDINGS]
sys.path.insert(0, str(TESTS))
