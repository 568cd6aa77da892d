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
