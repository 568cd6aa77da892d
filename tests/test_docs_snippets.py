"""The code the docs show runs as written: docs/architecture.md's inversion without any spec
(the numerical library on arrays alone), in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _block_after(doc: str, heading: str) -> str:
    text = (DOCS / doc).read_text(encoding="utf-8")
    after = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_the_numerical_library_inverts_a_perceptron_from_arrays_alone() -> None:
    code = _block_after("architecture.md", "The numerical library without any spec")
    assert "lbdsl.ir.tasks" not in code and ".lbn" not in code        # no spec anywhere
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    reason, _, error = proc.stdout.strip().partition(" error ")
    assert reason == "tol" and float(error) < 0.1          # the comment's numbers, recomputed


def test_the_readmes_python_snippet_runs_as_written(tmp_path: Path) -> None:
    """README.md's 'From Python' block, run in a fresh interpreter from a folder holding the
    spec it names (it writes results/ and models/ there, not into the repository)."""
    readme = DOCS.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    code = re.search(r"## From Python\n.*?```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "perceptron.lbn").write_text(
        (DOCS.parent / "specs" / "perceptron.lbn").read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(4, 512)" in proc.stdout and "(32,) (32,)" in proc.stdout
    assert (tmp_path / "results" / "invert-perceptron" / "result.npz").exists()
    assert (tmp_path / "models" / "model.lbn").exists()
