"""``pdhg`` against independent optima: CVXPY + Clarabel, and scikit-image's TV denoiser.

Tolerances: 1e-5 relative in the objective and 1e-3 relative in ``u`` against CVXPY's optimum of
the same problem (ReLU and identity Ψ; TV, l1, l2sq, nonneg and box); the W = I case is the
ROF model, which ``denoise_tv_chambolle(f, weight = α)`` solves (the mapping is derived in
tests/regularisers/test_tv.py).  The other backends and float32 are checked on tiny problems
against NumPy's float64 answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.restoration import denoise_tv_chambolle

from lbdsl.backend import namespace
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from pdhg_cases import (CASES, cvxpy_optimum, host, instance, inverse_problem,
                        lifted_single_layer, objective_np)

SMALL = ((8, 8), 48)
LARGER = ((16, 16), 128)


def _check_against_cvxpy(shape, m, psi, case, variant, tol=1e-7, max_iter=60000):
    W, b, f, _ = instance(shape, m, psi)
    lp = lifted_single_layer(W, b, psi, shape)
    params = CASES[case]
    result = pdhg(inverse_problem(lp, f, shape, **params),
                  PDHGSettings(Stopping(max_iter=max_iter, tol=tol), variant=variant))
    assert result.stop_reason == "tol", result.message
    u_ref, f_ref = cvxpy_optimum(W, b, f, psi, shape, **params)
    u = host(result.u).reshape(-1)
    assert u.shape == (math.prod(shape),) and host(result.u).shape == shape
    if params.get("lo") is not None:
        assert u.min() >= params["lo"] - 1e-9
    if params.get("hi") is not None:
        assert u.max() <= params["hi"] + 1e-9
    ours = objective_np(W, b, f, u, psi, shape, **params)
    assert abs(ours - f_ref) <= 1e-5 * abs(f_ref)
    assert abs(result.objective - ours) <= 1e-8 * abs(ours)   # the reported value is the true one
    assert np.linalg.norm(u - u_ref) <= 1e-3 * np.linalg.norm(u_ref)


@pytest.mark.parametrize("psi", ["relu", "identity"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_admm_matches_cvxpy(psi, case):
    _check_against_cvxpy(*SMALL, psi, case, "admm")


@pytest.mark.parametrize("psi", ["relu", "identity"])
def test_admm_matches_cvxpy_16x16(psi):
    _check_against_cvxpy(*LARGER, psi, "tv+nonneg", "admm")


@pytest.mark.parametrize("variant", ["precond", "condat_vu"])
@pytest.mark.parametrize("psi,case", [("relu", "tv+nonneg"), ("identity", "tv+l1+box"),
                                      ("relu", "l1")])
def test_first_order_variants_match_cvxpy(variant, psi, case):
    _check_against_cvxpy(*SMALL, psi, case, variant, max_iter=100000)


def test_default_variant_is_admm_and_matches_cvxpy():
    W, b, f, _ = instance(*SMALL, "relu")
    shape = SMALL[0]
    lp = lifted_single_layer(W, b, "relu", shape)
    result = pdhg(inverse_problem(lp, f, shape, **CASES["tv"]),
                  PDHGSettings(Stopping(max_iter=20000, tol=1e-8)))
    assert result.solver == "pdhg (admm)"
    _, f_ref = cvxpy_optimum(W, b, f, "relu", shape, **CASES["tv"])
    assert abs(result.objective - f_ref) <= 1e-5 * abs(f_ref)


def test_identity_with_W_eye_is_rof_as_skimage_solves_it():
    """``W = I``, identity Ψ: ``min ½‖u − f‖² + α TV(u)`` = ``denoise_tv_chambolle(f, α)``."""
    shape, alpha = (16, 16), 0.1
    rng = np.random.default_rng(3)
    f = np.zeros(shape)
    f[4:12, 5:11] = 1.0
    f = f + 0.1 * rng.standard_normal(shape)
    n = math.prod(shape)
    lp = lifted_single_layer(np.eye(n), np.zeros(n), "identity", shape)
    result = pdhg(inverse_problem(lp, f.reshape(-1), shape, tv=alpha),
                  PDHGSettings(Stopping(max_iter=50000, tol=1e-7)))
    assert result.stop_reason == "tol"
    sk = denoise_tv_chambolle(f, weight=alpha, eps=1e-12, max_num_iter=20000)
    ours = host(result.u)

    def rof(u):
        gx = np.diff(u, axis=0, append=u[-1:, :])
        gy = np.diff(u, axis=1, append=u[:, -1:])
        return 0.5 * np.sum((u - f) ** 2) + alpha * np.sum(np.hypot(gx, gy))

    # 1-strong convexity: ‖u − u*‖² ≤ 2(P(u) − P*) for both; P* ≤ min of the two values
    p_star = min(rof(ours), rof(sk))
    bound = math.sqrt(2 * (rof(ours) - p_star)) + math.sqrt(2 * (rof(sk) - p_star))
    scale = np.linalg.norm(f - f.mean())
    assert np.linalg.norm(ours - sk) <= bound + 1e-6 * scale
    assert np.linalg.norm(ours - sk) <= 1e-4 * scale
    assert rof(ours) <= rof(sk) + 1e-9 * rof(sk)   # at least as good as the reference


TINY = ((4, 5), 12)


@pytest.mark.parametrize("variant", ["admm", "precond", "condat_vu"])
def test_every_backend_agrees_with_numpy(xp, variant):
    """Strict array-API (tiny sizes: each op is ~30× slower there) against NumPy float64."""
    shape, m = TINY
    W, b, f, _ = instance(shape, m, "relu", seed=4)
    params = CASES["tv+nonneg"]
    settings = PDHGSettings(Stopping(max_iter=20000, tol=1e-7), variant=variant)
    ref = pdhg(inverse_problem(lifted_single_layer(W, b, "relu", shape), f, shape, **params),
               settings)
    lp = lifted_single_layer(W, b, "relu", shape, xp, xp.float64)
    result = pdhg(inverse_problem(lp, f, shape, **params), settings)
    assert result.stop_reason == "tol"
    assert np.linalg.norm(host(result.u) - host(ref.u)) <= 1e-4 * np.linalg.norm(host(ref.u))
    assert abs(result.objective - ref.objective) <= 1e-6 * abs(ref.objective)


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_float32_smoke(backend):
    xp = namespace(backend)
    shape, m = TINY
    W, b, f, _ = instance(shape, m, "relu", seed=4)
    params = CASES["tv"]
    lp = lifted_single_layer(W, b, "relu", shape, xp, xp.float32)
    result = pdhg(inverse_problem(lp, f, shape, **params),
                  PDHGSettings(Stopping(max_iter=3000, tol=1e-4)))
    assert result.u.dtype == xp.float32
    assert result.stop_reason in ("tol", "max_iter")
    u_ref, f_ref = cvxpy_optimum(W, b, f, "relu", shape, **params)
    u = host(result.u).reshape(-1)
    assert np.all(np.isfinite(u))
    assert abs(objective_np(W, b, f, u, "relu", shape, **params) - f_ref) <= 1e-3 * abs(f_ref)
    assert np.linalg.norm(u - u_ref) <= 2e-2 * np.linalg.norm(u_ref)


def test_a_pre_activation_of_several_terms_is_the_single_map_of_their_sum(tmp_path):
    """``relu(A @ u + 0.5 * u + b)`` and ``relu(M @ u + b)`` with ``M = A + ½I`` declared:
    the same Bregman problem, so pdhg (checked against CVXPY on the single map) reaches the
    same point from the operator of the sum of terms."""
    import lbdsl

    rng = np.random.default_rng(3)
    A = 0.1 * rng.standard_normal((36, 36))
    np.savez(tmp_path / "w.npz", A=A, M=A + 0.5 * np.eye(36))
    task = ('invert n { truth = image("camera", 6x6)  data = forward(truth)  '
            'regulariser = 1e-3 * tv  solver = pdhg(max_iter = 20000, tol = 1e-11)  '
            'figures = false }')
    net = ('network n {{ input u : 6x6  param {p} : 36x36 = load("{f}", "{p}")  '
           'param b : 36 = zeros  y = relu({pre} + b)  output y }}\n')
    f = tmp_path / "w.npz"
    terms = lbdsl.loads(net.format(p="A", f=f, pre="A @ u + 0.5 * u") + task)
    single = lbdsl.loads(net.format(p="M", f=f, pre="M @ u") + task)
    (a,), (b,) = (s.solve(out=tmp_path / name, verbose=False)
                  for s, name in ((terms, "t"), (single, "s")))
    assert a.ok and b.ok and a.report["solver"]["name"] == b.report["solver"]["name"] == "pdhg"
    np.testing.assert_allclose(a.u, b.u, rtol=0, atol=1e-7)
