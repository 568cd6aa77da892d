"""bench/gpu.py's dry run: every code path the GPU run takes, on array_api_strict, at small
sizes — so that the few minutes of a lent GPU are not spent finding a bug the CPU could find.
It also checks what the GPU run checks: the optimum on the backend equals NumPy's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_gpu_benchmark_runs_every_path_on_array_api_strict(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["backend"] == "array_api_strict" and report["dry_run"]
    assert report["experiment1"]["same_optimum"]
    assert report["experiment1"]["backend"]["stop"] == "tol"
    for key in ("batch", "large_perceptron", "dae_epoch"):
        assert report[key]["backend"] and report[key]["numpy"]
    lifted = report["dae_epoch"]["backend"]["lifted_implicit_sgd"]
    assert lifted["mse_loss"] == report["dae_epoch"]["numpy"]["lifted_implicit_sgd"]["mse_loss"]
