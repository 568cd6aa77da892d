"""``lbdsl solve`` computes a network's certificate once per run (``RunContext.certificate``):
two invert tasks of one network at the same (λ, ρ, μ) — the Bregman solve and its quadratic
baseline — share it; a task that asks another question (another μ) gets its own."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import lbdsl.certify.certificate as certificate_module
from lbdsl import pipeline

NETWORK = """network n {
    input  u  : 8
    param  W1 : 6x8 = normal(std = 0.3, seed = 1)
    param  W2 : 4x6 = normal(std = 0.3, seed = 2)
    h = relu(W1 @ u)
    y = tanh(W2 @ h)
    output y
}
"""


def _invert(fidelity: str, solver: str, regulariser: str = "0.1 * tv") -> str:
    return f"""
invert n {{
    truth       = linspace(0, 1)
    data        = forward(truth) + gaussian(sigma = 0.01, seed = 1)
    fidelity    = {fidelity}
    regulariser = {regulariser}
    solver      = {solver}
}}
"""


def _count(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list]:
    spec = tmp_path / "spec.lbn"
    spec.write_text(text)
    calls: list[tuple[Any, ...]] = []
    real = certificate_module.certify_network
    monkeypatch.setattr(certificate_module, "certify_network",
                        lambda net, *a: calls.append(a) or real(net, *a))
    quiet = dict(console=Console(file=io.StringIO()), errors=Console(file=io.StringIO()))
    results = pipeline.solve(pipeline.load(str(spec)), out=tmp_path / "out", **quiet)
    return results, calls


def test_two_invert_tasks_of_one_network_compute_its_certificate_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = NETWORK + _invert("bregman", "lifted(max_iter = 5)") + \
        _invert("l2", "lbfgs(max_iter = 5)")
    results, calls = _count(tmp_path, text, monkeypatch)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert len(calls) == 1
    # both tasks report the one certificate
    assert results[0].report["certificate"] == results[1].report["certificate"]


def test_another_modulus_is_another_certificate(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    text = NETWORK + _invert("bregman", "lifted(max_iter = 5)") + \
        _invert("bregman", "lifted(max_iter = 5)", "1.0 * l2sq") + \
        _invert("l2", "lbfgs(max_iter = 5)")
    results, calls = _count(tmp_path, text, monkeypatch)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    assert sorted(c[2] for c in calls) == [0.0, 1.0]      # μ = 0 once, μ = α·w = 1 once
