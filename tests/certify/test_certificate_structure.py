"""The structural "cannot hold" rules (lbdsl/certify/structural.py) agree with the eigenvalues.

- the hidden-layer rule's 4×4 matrix ``T(σ)``: positive semidefinite exactly when
  ``σ² ≤ f(ρ) = ρ/(1+ρ)·(1 + ρλ′/(ρ+λ′))``, and ``f < 1 + λ′`` at every ρ;
- on small random networks, each rule that fires is checked against the dense Hessian of
  ``q_ρ + (μ/2)‖u_0‖²`` (written out here from K, M, V, W): its smallest eigenvalue is below
  the numeric route's tolerance at every ρ, λ and μ the rule covers; the input rule only at
  μ = 0, the hidden-layer rule at every μ;
- the certificate answered from the structure equals the one the eigenvalues give (the same
  certificate with the rules switched off): verdict and fixes;
- the smallest modulus (a Schur complement) is the smallest that certifies;
- ``lbdsl check`` says which conditions it tried and why each fails.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from lbdsl.certify import certificate as certificate_module
from lbdsl.certify.certificate import FIX_GRID, RHO_GRID, certify
from lbdsl.certify.numeric import least_modulus, hessian_blocks
from lbdsl.certify.structural import GAP, Obstructions, obstructions
from lbdsl.cli import main
from lbdsl.lift.compact import lift
from spec_helpers import build_net

EPS = np.finfo(float).eps


def _t(sigma: float, rho: float, lam_out: float) -> np.ndarray:
    return np.array([[1 + rho, -rho, 0, 0], [-rho, rho, -sigma, 0],
                     [0, -sigma, 1 + rho, -rho], [0, 0, -rho, rho + lam_out]])


def _f(rho: float, lam_out: float) -> float:
    return rho / (1 + rho) * (1 + rho * lam_out / (rho + lam_out))


@pytest.mark.parametrize("lam_out", [0.0, 0.3, 1.0, 100.0])
def test_the_hidden_blocks_are_psd_exactly_below_f(lam_out: float) -> None:
    for rho in (1e-3, 0.1, 1.0, 10.0, 1e4):
        f = _f(rho, lam_out)
        assert f < 1 + lam_out
        assert np.linalg.eigvalsh(_t(np.sqrt(f) * (1 - 1e-6), rho, lam_out))[0] > -1e-9
        assert np.linalg.eigvalsh(_t(np.sqrt(f) * (1 + 1e-3), rho, lam_out))[0] < 0
        assert np.linalg.eigvalsh(_t(np.sqrt(1 + lam_out), rho, lam_out))[0] < 0


def _dense(op: Any, n: int) -> np.ndarray:
    return np.asarray(op.forward(np.eye(n))).T


def _hessian(lp: Any, lam: float, rho: float, mu: float) -> np.ndarray:
    """``H_ρ + μE₀`` written out from the block operators (not the library's assembly)."""
    K, M = _dense(lp.K, lp.u_size), _dense(lp.M, lp.u_size)
    V, W = _dense(lp.V, lp.z_size), _dense(lp.W, lp.u_size)
    h = np.block([[lam * K.T @ K + rho * M.T @ M, -W.T - rho * M.T @ V],
                  [-W - rho * V.T @ M, np.eye(lp.z_size) + rho * V.T @ V]])
    n0 = lp.u_blocks[0].size
    h[range(n0), range(n0)] += mu
    return h


def _random_mlp(seed: int) -> str:
    """A random plain network: 2 or 3 layers, widths 2–6, weights of std 0.1–2, activations
    from relu, tanh, soft and a linear last layer (some with a skip term)."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 4))
    widths = [int(w) for w in rng.integers(2, 7, size=depth + 1)]
    stds = rng.choice([0.1, 0.3, 0.6, 1.0, 2.0], size=depth)
    acts = [str(a) for a in rng.choice(["relu", "tanh", "soft"], size=depth)]
    lines = [f"network n {{ input u : {widths[0]}"]
    prev = "u"
    for k in range(depth):
        lines.append(f"param W{k} : {widths[k + 1]}x{widths[k]} = "
                     f"normal(std = {stds[k]}, seed = {seed * 10 + k})")
        act = acts[k]
        pre = f"W{k} @ {prev}"
        if k == depth - 1 and rng.random() < 0.4:
            lines.append(f"h{k} = {pre}")
        elif act == "soft":
            lines.append(f"h{k} = soft({pre}, theta = 0.1)")
        else:
            lines.append(f"h{k} = {act}({pre})")
        prev = f"h{k}"
    lines.append(f"output {prev} }}")
    return "\n".join(lines)


SEEDS = range(40)


def _tolerance(h: np.ndarray) -> float:
    """The numeric route's tolerance for ``h`` (lbdsl/certify/numeric.py), at most."""
    return 100 * EPS * h.shape[0] * max(np.abs(np.linalg.eigvalsh(h)).max(), 1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_each_rule_that_fires_agrees_with_the_dense_eigenvalues(seed: int) -> None:
    lp = lift(build_net(_random_mlp(seed)))
    obs = obstructions(lp)
    for lam in (0.5, 1.0, 10.0):
        for rho in RHO_GRID[::4] + (1e6,):
            if obs.input:
                h = _hessian(lp, lam, rho, 0.0)
                assert np.linalg.eigvalsh(h)[0] < -_tolerance(h), (lam, rho)
            if obs.every_modulus(lam) is not None:
                for mu in (1e-2, 1.0, 1e3, 1e6):
                    h = _hessian(lp, lam, rho, mu)
                    assert np.linalg.eigvalsh(h)[0] < -_tolerance(h), (lam, rho, mu)
                assert least_modulus(lp, lam, rho, hessian_blocks(lp)) is None


def test_the_random_networks_exercise_both_rules_and_neither() -> None:
    """So that the test above is not vacuous: some networks fire each rule, some none."""
    seen = {"input": 0, "hidden": 0, "hidden, output": 0, "no hidden rule": 0}
    for seed in SEEDS:
        obs = obstructions(lift(build_net(_random_mlp(seed))))
        seen["input"] += obs.input
        seen["hidden"] += any(not h.output for h in obs.hidden)
        seen["hidden, output"] += any(h.output for h in obs.hidden)
        seen["no hidden rule"] += obs.every_modulus(1.0) is None
    assert all(count >= 3 for count in seen.values()), seen


def _slow(lp: Any, lam: float, rho: float | None, mu: float,
          monkeypatch: pytest.MonkeyPatch) -> Any:
    """The certificate with the structural rules switched off: the eigenvalues decide all."""
    with monkeypatch.context() as m:
        m.setattr(certificate_module, "obstructions",
                  lambda lp: Obstructions(False, []))
        return certify(lp, lam, rho, mu)


@pytest.mark.parametrize("seed", SEEDS[::3])
@pytest.mark.parametrize("lam, rho, mu", [(1.0, None, 0.0), (1.0, 100.0, 0.0),
                                          (10.0, None, 0.5)])
def test_the_structural_answer_is_the_eigenvalues_answer(seed: int, lam: float,
                                                          rho: float | None, mu: float,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    lp = lift(build_net(_random_mlp(seed)))
    fast, slow = certify(lp, lam, rho, mu), _slow(lp, lam, rho, mu, monkeypatch)
    assert fast.certified == slow.certified, (fast.render(), slow.render())
    assert [f.change for f in fast.fixes] == [f.change for f in slow.fixes], \
        (fast.render(), slow.render())
    if fast.route.startswith("structure"):
        assert fast.margin is None and not fast.certified


def test_the_least_modulus_is_the_smallest_that_certifies() -> None:
    lp = lift(build_net("""network n { input u : 5
        param A : 6x5 = normal(std = 0.3, seed = 1)  param B : 3x6 = normal(std = 0.3, seed = 2)
        h = relu(A @ u)  y = tanh(B @ h)  output y }"""))
    mats = hessian_blocks(lp)
    assert least_modulus(lp, 1.0, 1.0, mats) is None     # ‖B‖² > f(1) = 0.75: no μ at ρ = 1
    for rho in (100.0, 1e4):
        mu = least_modulus(lp, 1.0, rho, mats)
        assert mu is not None and mu > 0
        assert np.linalg.eigvalsh(_hessian(lp, 1.0, rho, mu * (1 + 1e-9)))[0] > -1e-9
        assert np.linalg.eigvalsh(_hessian(lp, 1.0, rho, mu * 0.99))[0] < -1e-6
    cert = certify(lp, 1.0, 100.0)
    (fix,) = [f for f in cert.fixes if "modulus" in f.change]
    rho = fix.change.get("rho", 100.0)       # where the smallest μ of the grid is found
    least = min(least_modulus(lp, 1.0, r, mats) for r in (100.0, *FIX_GRID)
                if least_modulus(lp, 1.0, r, mats) is not None)
    assert least <= fix.change["modulus"] <= least * 1.01
    assert certify(lp, 1.0, rho, fix.change["modulus"]).certified
    assert not certify(lp, 1.0, rho, 0.99 * least).certified


MLP = """network mlp {
    input  u  : 64
    param  W1 : 96x64 = normal(std = 1, seed = 0)
    param  b1 : 96    = normal(std = 1, seed = 1)
    param  W2 : 48x96 = normal(std = 1, seed = 2)
    param  b2 : 48    = normal(std = 1, seed = 3)
    z1 = relu(W1 @ u + b1)
    z2 = tanh(W2 @ z1 + b2)
    output z2
}
"""


def test_check_says_which_conditions_it_tried_and_why_each_fails(tmp_path: Any, capsys: Any,
                                                                  monkeypatch: Any) -> None:
    """The issue's 64→96→48 network: answered from the structure, no eigenvalue of H_ρ."""
    spec = tmp_path / "mlp.lbn"
    spec.write_text(MLP)
    lams: list[float] = []      # λ of every eigenvalue problem (H_ρ or its Schur complement)
    for name in ("certify_numeric", "least_modulus"):
        real = getattr(certificate_module, name)
        monkeypatch.setattr(certificate_module, name,
                            lambda *a, real=real, **k: lams.append(a[1]) or real(*a, **k))
    assert main(["check", str(spec)]) == 3
    out = capsys.readouterr().out
    assert "NOT certified (symbolic; structure: no curvature in the input)" in out
    assert "tried: single layer (route 1): does not apply" in out
    assert "tried: tied residual chain, Q = A(λ, ρ) ⊗ I ⪰ 0 (route 2): does not apply" in out
    assert "tried: H_ρ ⪰ 0 (route 3): fails at every λ and ρ — u_0 has no curvature" in out
    assert ("tried: H_ρ + μE₀ ⪰ 0, an l2sq weight μ = α·w on the input (§4): fails at every "
            "μ and ρ at λ = 1 — z2 (line 8) reads the hidden layer z1 through W2 with "
            "‖W2‖² ≥ 269 > 1 + λ = 2") in out
    assert "culprit: z2 (line 8)" in out and "culprit: z1 (line 7)" in out
    # the eigenvalues ran only for the λ the structure leaves open (λ > ‖W2‖² − 1 = 268): the
    # fix at λ = 1000 with its smallest modulus
    assert lams and all(lam > 268 for lam in lams)
    assert "fix (tested): set lambda = 1000 and regularise the input" in out
    obj = json.loads(json.dumps(certify(lift(build_net(MLP)), 1.0).to_json()))
    assert [c["status"] for c in obj["conditions"]][:3] == [
        "does not apply", "does not apply", "fails at every λ and ρ"]


def test_the_gap_leaves_the_threshold_to_the_eigenvalues() -> None:
    """‖A‖² just above 1 + λ′ (within GAP): the rule does not fire, the eigenvalues decide."""
    for scale, fires in ((1 + GAP / 10, False), (1 + 10 * GAP, True)):
        norm = float(np.sqrt(2.0 * scale))      # λ′ = λ = 1: threshold ‖A‖² = 2
        lp = lift(build_net(f"""network n {{ input u : 1  param w : 1x1 = ones
            param c : 1x1 = {norm!r}  h = relu(w @ u)  y = c @ h  output y }}"""))
        assert (obstructions(lp).every_modulus(1.0) is not None) == fires
