"""Certificates against independent numeric computations (math.md §4).

The tied residual thresholds are recomputed here from the seed's own block matrices (built in
this file, not by the lifting pass) with NumPy eigenvalues; the numeric route is compared with a
Hessian assembled by polarisation of the quadratic form evaluated through the operators.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp

from lbdsl.certify.certificate import FIX_LIMIT, certify
from lbdsl.certify.numeric import certify_numeric
from lbdsl.program import build_module
from lbdsl.lift.compact import lift
from lbdsl.syntax.parser import parse


def _residual_spec(layers: int, sign: str = "+", width: int = 3) -> str:
    return f"""
    network n {{ input u : {width}
      repeat {layers} {{ param W : 5x{width} = normal(std = 0.4, seed = 1)
                        param b : 5 = normal(std = 0.1, seed = 2)
                        u = u {sign} W.T @ relu(W @ u + b) }}
      output u }}"""


def _lifted(source: str):  # noqa: ANN202
    return lift(build_module(parse(source, "<test>")).networks["n"])


def _seed_threshold(layers: int, lam: float, n: int = 2) -> float:
    """1/λ_min(λKᵀK − M − Mᵀ) from the seed's displayed M (rows [−I, I], zero last row)."""
    p = layers + 1
    eye = np.eye(n)
    M = np.zeros((p * n, p * n))
    for k in range(layers):
        M[k * n:(k + 1) * n, k * n:(k + 1) * n] = -eye
        M[k * n:(k + 1) * n, (k + 1) * n:(k + 2) * n] = eye
    K = np.zeros((n, p * n))
    K[:, layers * n:] = eye
    smallest = np.linalg.eigvalsh(lam * K.T @ K - M - M.T)[0]
    return 1.0 / smallest if abs(smallest) > 1e-13 else math.inf


@pytest.mark.parametrize("layers, expected", [(1, 2.618), (2, 5.049), (5, 17.21), (20, 187.43)])
def test_tied_plus_thresholds_match_the_eigenvalue_computation(layers: int, expected: float
                                                               ) -> None:
    cert = certify(_lifted(_residual_spec(layers)), lam=1.0, rho=None)
    assert cert.kind == "symbolic" and cert.certified
    independent = _seed_threshold(layers, 1.0)
    assert cert.rho_min == pytest.approx(independent, rel=1e-9)
    assert cert.rho_min == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("lam", [0.25, 0.5, 2.0, 7.0])
@pytest.mark.parametrize("layers", [1, 3, 8])
def test_thresholds_for_other_lambdas(lam: float, layers: int) -> None:
    lp = _lifted(_residual_spec(layers))
    cert = certify(lp, lam=lam, rho=None)
    independent = _seed_threshold(layers, lam)
    if 0 < independent < 1e12:  # λ = 1/2, l = 1 is singular: λ_min = 0, certified for no ρ
        assert cert.certified and cert.rho_min == pytest.approx(independent, rel=1e-9)
        # the exact verdict flips across the threshold
        assert certify(lp, lam=lam, rho=independent * (1 + 1e-6)).certified
        assert not certify(lp, lam=lam, rho=independent * (1 - 1e-6)).certified
    else:
        assert not cert.certified and cert.rho_min is None


@pytest.mark.parametrize("layers", [1, 2, 5, 20])
@pytest.mark.parametrize("lam", [0.5, 1.0, 10.0])
def test_minus_variants_are_never_certified(layers: int, lam: float) -> None:
    lp = _lifted(_residual_spec(layers, "-"))
    cert = certify(lp, lam=lam, rho=None)
    assert not cert.certified and cert.kind == "symbolic" and cert.rho_min is None
    for rho in (1e-3, 1.0, 1e3, 1e9):
        assert not certify(lp, lam=lam, rho=rho).certified
    assert cert.culprits and all("`+`" in c.fix for c in cert.culprits)
    assert cert.culprits[0].line is not None
    if layers == 1:  # math.md: λ_min(A) < −2 for every ρ
        assert certify(lp, lam=1.0, rho=1e12).margin < -2


def test_exact_threshold_for_one_layer_is_the_golden_ratio_squared() -> None:
    cert = certify(_lifted(_residual_spec(1)), lam=1.0, rho=None)
    exact = sp.sympify(cert.rho_min_exact)
    assert sp.simplify(exact - (3 + sp.sqrt(5)) / 2) == 0


def test_rho_below_threshold_names_rho_as_culprit() -> None:
    cert = certify(_lifted(_residual_spec(2)), lam=1.0, rho=3.0)
    assert not cert.certified
    assert cert.culprits[0].layer == "ρ" and "5.04" in cert.culprits[0].fix


def test_single_layer_is_certified_for_any_weights() -> None:
    lp = _lifted("""network n { input u : 4  param W : 3x4 = normal(seed = 1)
                    h = relu(W @ u)  output h }""")
    cert = certify(lp, lam=1.0, rho=None)
    assert cert.certified and cert.route == "single layer"


def _h_by_polarisation(lp, lam: float, rho: float) -> np.ndarray:  # noqa: ANN001
    """Hessian of q(u, z) = λ/2‖Ku‖² + ½‖z‖² − ⟨z, Wu⟩ + ρ/2‖Mu − Vz‖², entry by entry."""
    nu, nz = lp.u_size, lp.z_size

    def q(x: np.ndarray) -> float:
        u, z = x[:nu], x[nu:]
        r = lp.M.forward(u) - lp.V.forward(z)
        ku = lp.K.forward(u)
        return 0.5 * lam * ku @ ku + 0.5 * z @ z - z @ lp.W.forward(u) + 0.5 * rho * r @ r

    n = nu + nz
    eye = np.eye(n)
    diag = np.array([q(eye[i]) for i in range(n)])
    h = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            # q(e_i + e_j) − q(e_i) − q(e_j) = H_ij for a quadratic form q(x) = ½ xᵀHx
            h[i, j] = h[j, i] = (q(eye[i] + eye[j]) - diag[i] - diag[j]) if i != j else 2 * diag[i]
    return h


@pytest.mark.parametrize("source", [
    """network n { input u : 2  param W : 3x2 = normal(std = 0.3, seed = 4)
       param V : 2x3 = normal(std = 0.3, seed = 5)
       u = u + V @ relu(W @ u)  u = u + V @ relu(W @ u)  output u }""",
    """network n { input u : 3  h = relu(dense(u, 3))  y = dense(h, 2)  output y }""",
])
@pytest.mark.parametrize("rho", [0.1, 10.0])
def test_numeric_route_matches_a_polarised_hessian(source: str, rho: float) -> None:
    lp = _lifted(source)
    res = certify_numeric(lp, 1.5, rho)
    h = _h_by_polarisation(lp, 1.5, rho)
    assert res.margin == pytest.approx(np.linalg.eigvalsh(h)[0], abs=1e-9)


@pytest.mark.parametrize("layers", [1, 3])
def test_numeric_condition_is_implied_by_the_seed_condition(layers: int) -> None:
    """Q ⪰ 0 ⇒ H_ρ ⪰ 0 (docs/certificate.md): above ρ_min the numeric route agrees."""
    lp = _lifted(_residual_spec(layers))
    rho_min = certify(lp, 1.0, None).rho_min
    for factor in (1.01, 10.0):
        assert certify_numeric(lp, 1.0, rho_min * factor).certified


def test_feedforward_is_not_certified_and_says_why() -> None:
    lp = _lifted("""network n { input u : 3  h = relu(dense(u, 4))  y = relu(dense(h, 2))
                    output y }""")
    cert = certify(lp, lam=1.0, rho=None)
    # decided from the structure at any size (docs/certificate.md): no eigenvalue for it
    assert not cert.certified and cert.kind == "symbolic" and cert.margin is None
    assert cert.route == "structure: no curvature in the input"
    assert "bilinear" in cert.culprits[0].reason and cert.culprits[0].line == 1


@pytest.mark.parametrize("spec", [
    "network n { input u : 30x30  h = relu(dense(u, 60))  y = relu(dense(h, 40))  output y }",
    "network n { input u : 1x24x24  h = tanh(conv2d(u, 1, kernel = 3, padding = 1))  "
    "y = dense(h, 20)  output y }",
    "network n { input u : 1000  h = relu(dense(u, 16))  param V : 16x16 = normal(seed = 2)  "
    "param A : 16x16 = normal(seed = 3)  h = h + V @ relu(A @ h)  y = dense(h, 2)  output y }",
])
def test_the_structural_refusal_is_the_numeric_verdict_at_every_rho_and_lambda(spec) -> None:
    """Beyond FIX_LIMIT the structure decides without eigenvalues (H_ρ's u_0 block is 0, its
    (u_0, z) block is not); the dense eigenvalues must agree at every (λ, ρ) tried."""
    lp = _lifted(spec)
    cert = certify(lp, lam=1.0, rho=None)
    assert lp.u_size + lp.z_size > FIX_LIMIT
    assert not cert.certified and cert.route == "structure: no curvature in the input"
    assert cert.margin is None and "bilinear" in cert.culprits[0].reason
    for lam, rho in ((0.1, 1e-2), (1.0, 1.0), (100.0, 1e3)):
        res = certify_numeric(lp, lam, rho)
        assert not res.certified and res.margin < -res.tolerance, (lam, rho)
    # with curvature on the input the structure no longer decides: the numeric test runs
    assert certify(lp, lam=1.0, rho=100.0, modulus=10.0).kind == "numeric"


def test_json_has_the_contract_keys() -> None:
    cert = certify(_lifted(_residual_spec(2)), lam=1.0, rho=100.0)
    obj = json.loads(json.dumps(cert.to_json()))
    for key in ("certified", "kind", "rho_min", "margin", "tolerance", "culprits", "a_matrix"):
        assert key in obj
    assert obj["certified"] is True and obj["kind"] == "symbolic"
    assert math.isclose(obj["rho_min"], _seed_threshold(2, 1.0), rel_tol=1e-9)
    assert len(obj["a_matrix"]) == 3 and "lambda" in obj["a_matrix"][2][2]
