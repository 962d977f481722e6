"""docs/python.md is a user guide whose examples run: every ```python block is executed, as are
the example programs, which must also pass mypy --strict. And `import chorus` stays light."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any, List

import pytest

from conftest import BINDINGS, ROOT, python_env

DOC = ROOT / "docs" / "python.md"
EXAMPLES = sorted((BINDINGS / "examples").glob("*.py"))


def python_blocks() -> List[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_guide_has_examples() -> None:
    assert len(python_blocks()) >= 6


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_doc_example_runs(index: int, fake_llm: Any, tmp_path: pathlib.Path) -> None:
    code = python_blocks()[index]
    script = tmp_path / f"doc_example_{index}.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=python_env(fake_llm.env()))
    assert proc.returncode == 0, f"block {index}:\n{code}\n--- stderr:\n{proc.stderr}"
    assert proc.stdout.strip() != ""


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: pathlib.Path, fake_llm: Any) -> None:
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=python_env(fake_llm.env()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() != ""


def test_custom_provider_example_output(fake_llm: Any) -> None:
    proc = subprocess.run([sys.executable, str(BINDINGS / "examples" / "custom_provider.py")],
                          capture_output=True, text=True, timeout=120,
                          env=python_env(fake_llm.env()))
    assert proc.stdout.splitlines()[0] == "four three two one"


def test_quickstart_against_a_real_vendor_wire_format(fake_llm: Any) -> None:
    env = python_env(fake_llm.env())
    env.update(CHORUS_PROVIDER="openai", CHORUS_MODEL="gpt-4o-mini")
    proc = subprocess.run([sys.executable, str(BINDINGS / "examples" / "quickstart.py")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr


def test_examples_pass_mypy_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    mypy = pytest.importorskip("mypy.api")
    import chorus

    where = pathlib.Path(chorus.__file__).resolve().parents[1]
    if "site-packages" not in where.parts:
        # An editable install is found through an import hook mypy does not follow.
        monkeypatch.setenv("MYPYPATH", str(where))
    stdout, stderr, status = mypy.run(["--strict", "--no-incremental", "--cache-dir=/dev/null",
                                       *[str(p) for p in EXAMPLES]])
    assert status == 0, stdout + stderr


def test_import_is_light() -> None:
    code = ("import sys, chorus; heavy = [m for m in ('asyncio', 'json', 'threading_extra') "
            "if m in sys.modules]; print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import chorus imported {proc.stdout.strip()}"


def test_package_ships_types() -> None:
    import chorus

    pkg = pathlib.Path(chorus.__file__).parent
    assert (pkg / "py.typed").exists()
    assert (pkg / "_core.pyi").exists()
