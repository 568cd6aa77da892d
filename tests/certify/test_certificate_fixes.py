"""The certificate counts the regulariser's strong convexity, and every fix it prints certifies.

- a 3-layer MLP that ``l2sq`` certifies: the verdict changes with the modulus μ, and agrees with
  the smallest eigenvalue of the Hessian of ``q_ρ + (μ/2)‖u_0‖²`` assembled here by
  polarisation of the quadratic form through the operators (not by lbdsl's assembly);
- for a set of networks that are not certified, each fix the certificate prints is applied —
  λ, ρ, the modulus, the `+` sign (by editing the spec's text) — and must certify;
- ``lbdsl check`` takes μ = α·w from the invert task (α fixed), not from a rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lbdsl.certify.certificate import certify
from lbdsl.certify.fixes import round_up
from lbdsl.cli import main
from lbdsl.program import build_module
from lbdsl.lift.compact import lift
from lbdsl.prox.regularisers import L1, TV, L2Squared, Weighted
from lbdsl.syntax.parser import parse


def _mlp(std: float) -> str:
    return f"""network n {{ input u : 8
      param W1 : 6x8 = normal(std = {std}, seed = 1)
      param W2 : 6x6 = normal(std = {std}, seed = 2)
      param W3 : 4x6 = normal(std = {std}, seed = 3)
      h1 = relu(W1 @ u)  h2 = relu(W2 @ h1)  y = relu(W3 @ h2)  output y }}"""


def _chain(layers: int, sign: str) -> str:
    return f"""network n {{ input u : 3
      repeat {layers} {{ param W : 5x3 = normal(std = 0.4, seed = 1)
                        param b : 5 = normal(std = 0.1, seed = 2)
                        u = u {sign} W.T @ relu(W @ u + b) }}
      output u }}"""


def _lifted(source: str) -> Any:
    return lift(build_module(parse(source, "<test>")).networks["n"])


def _hessian_here(lp: Any, lam: float, rho: float, mu: float) -> np.ndarray:
    """Hessian of ``λ/2‖Ku‖² + (μ/2)‖u_0‖² + ½‖z‖² − ⟨z, Wu⟩ + ρ/2‖Mu − Vz‖²`` by polarisation."""
    nu, nz, n0 = lp.u_size, lp.z_size, lp.u_blocks[0].size

    def q(x: np.ndarray) -> float:
        u, z = x[:nu], x[nu:]
        r = lp.M.forward(u) - lp.V.forward(z)
        ku = lp.K.forward(u)
        return (0.5 * lam * ku @ ku + 0.5 * mu * u[:n0] @ u[:n0] + 0.5 * z @ z
                - z @ lp.W.forward(u) + 0.5 * rho * r @ r)

    eye = np.eye(nu + nz)
    diag = np.array([q(e) for e in eye])
    return np.array([[q(eye[i] + eye[j]) - diag[i] - diag[j] if i != j else 2 * diag[i]
                      for j in range(nu + nz)] for i in range(nu + nz)])


@pytest.mark.parametrize("rho", [10.0, 1000.0])
def test_the_l2sq_modulus_changes_the_verdict_as_the_dense_hessian_says(rho: float) -> None:
    lp = _lifted(_mlp(0.12))
    without, with_mu = certify(lp, 1.0, rho), certify(lp, 1.0, rho, modulus=1.0)
    assert not without.certified and with_mu.certified
    for cert, mu in ((without, 0.0), (with_mu, 1.0)):
        smallest = float(np.linalg.eigvalsh(_hessian_here(lp, 1.0, rho, mu))[0])
        if cert.route.startswith("structure"):      # μ = 0: decided without eigenvalues
            assert cert.margin is None and smallest < 0
        else:
            assert cert.margin == pytest.approx(smallest, abs=1e-8)
        assert (smallest > 0) == cert.certified
    assert without.route == "structure: no curvature in the input"
    assert with_mu.modulus == 1.0 and any("μ = 1" in n for n in with_mu.notes)


def _apply(source: str, change: dict[str, Any], lam: float, rho: float | None,
           mu: float) -> Any:
    if change.get("sign") == "+":
        source = source.replace("u - W.T", "u + W.T")
    return certify(_lifted(source), change.get("lam", lam), change.get("rho", rho),
                   change.get("modulus", mu))


UNCERTIFIED = {
    "mlp, needs l2sq": (_mlp(0.12), 1.0, 1000.0, 0.0),
    "mlp, needs l2sq, any rho": (_mlp(0.12), 1.0, None, 0.0),
    "mlp, too little l2sq": (_mlp(0.12), 1.0, 1000.0, 0.1),
    "mlp, large weights": (_mlp(0.3), 1.0, 1000.0, 0.0),
    "plus chain, rho too small": (_chain(2, "+"), 1.0, 3.0, 0.0),
    "plus chain, singular lambda": (_chain(1, "+"), 0.5, None, 0.0),
    "plus chain, small lambda": (_chain(3, "+"), 0.3, 20.0, 0.0),
    "minus chain": (_chain(2, "-"), 1.0, 100.0, 0.0),
    "minus chain, any rho": (_chain(5, "-"), 1.0, None, 0.0),
}


@pytest.mark.parametrize("case", sorted(UNCERTIFIED))
def test_every_printed_fix_certifies_when_applied(case: str) -> None:
    source, lam, rho, mu = UNCERTIFIED[case]
    cert = certify(_lifted(source), lam, rho, mu)
    assert not cert.certified and cert.culprits
    for fix in cert.fixes:
        assert fix.change and fix.text in cert.render()
        assert _apply(source, fix.change, lam, rho, mu).certified, fix.text
    shown = " — or — ".join(f.text for f in cert.fixes) if cert.fixes else None
    for culprit in cert.culprits:
        assert culprit.fix == shown if shown else culprit.fix.startswith("none found")
    json.dumps(cert.to_json())


def test_the_fixes_found_are_the_expected_kinds() -> None:
    """What the search finds where the answer is known (so the test above is not vacuous)."""
    kinds = {case: [sorted(f.change) for f in certify(_lifted(s), lam, rho, mu).fixes]
             for case, (s, lam, rho, mu) in UNCERTIFIED.items()}
    assert ["modulus"] in kinds["mlp, needs l2sq"]
    assert ["rho"] in kinds["plus chain, rho too small"]
    assert any("lam" in k for k in kinds["plus chain, singular lambda"])
    assert any("sign" in k for k in kinds["minus chain"])
    assert kinds["mlp, large weights"] == []


def test_the_modulus_found_is_close_to_the_smallest_that_certifies() -> None:
    source, lam, rho, _ = UNCERTIFIED["mlp, needs l2sq"]
    cert = certify(_lifted(source), lam, rho)
    mu = next(f.change["modulus"] for f in cert.fixes if "modulus" in f.change)
    lp = _lifted(source)
    assert certify(lp, lam, rho, mu).certified and not certify(lp, lam, rho, 0.9 * mu).certified


def test_round_up_never_rounds_below() -> None:
    for x in (5.04891, 1.0, 0.0012345, 987654.3, 2.618033988749895):
        assert x <= round_up(x) <= x * 1.001


def test_the_regularisers_moduli() -> None:
    assert L2Squared().modulus == 1.0 and Weighted(L2Squared(), 3.0).modulus == 3.0
    assert L1().modulus == 0.0 and TV((3, 3)).modulus == 0.0
    assert Weighted(L1(), 2.0).modulus == 0.0


def _spec(tmp_path: Path, regulariser: str, alpha: str) -> Path:
    path = tmp_path / "mlp.lbn"
    path.write_text(_mlp(0.12) + f"""
invert n {{
    truth = linspace(0, 1)
    data = forward(truth) + gaussian(sigma = 0.01, seed = 1)
    regulariser = {regulariser}
    alpha = {alpha}
}}
""")
    return path


@pytest.mark.parametrize("regulariser, alpha, modulus, certified", [
    ("1.0 * l2sq", "1", 1.0, True), ("2 * l2sq + 0.1 * tv", "0.5", 1.0, True),
    ("0.1 * tv", "1", 0.0, False), ("1.0 * l2sq", "0.01", 0.01, False),
    ("1.0 * l2sq", "discrepancy(delta = 0.1)", 0.0, False),
])
def test_lbdsl_check_counts_the_invert_tasks_l2sq(tmp_path: Path, capsys: Any,
                                                  regulariser: str, alpha: str, modulus: float,
                                                  certified: bool) -> None:
    code = main(["check", str(_spec(tmp_path, regulariser, alpha)), "--json"])
    out = json.loads(capsys.readouterr().out)["networks"]["n"]
    assert out["modulus"] == pytest.approx(modulus) and out["certified"] is certified
    assert code == (0 if certified else 3)
