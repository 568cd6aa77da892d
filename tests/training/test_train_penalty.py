"""The prox of Ψ plus a state penalty against brute-force scalar minimisation, and penalty names."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from lbdsl.backend import asarray, to_numpy
from lbdsl.errors import SolveError
from lbdsl.ir.tasks.records import PenaltyTerms, PenaltyTerm
from lbdsl.prox.catalogue import (
    ELU, Clip, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, SoftThreshold, Tanh,
)
from lbdsl.training.penalty import (
    state_penalty, prox_phi_penalised, prox_psi_penalised, resolve_penalties,
)
from train_helpers import build_net

ELEMENTWISE = [Identity(), ReLU(), LeakyReLU(0.2), ELU(0.5), SoftThreshold(0.3),
               Clip(-0.5, 1.5), Clip(0.2, 0.9), Tanh(), Sigmoid()]
#: each penalty's weights, written out here for the brute-force oracles
PENALTIES = [{"l1": 0.4}, {"l2sq": 0.7}, {"l1": 0.25, "l2sq": 1.5}]


def _domain(psi) -> tuple[float, float]:
    if isinstance(psi, ReLU):
        return 0.0, 20.0
    if isinstance(psi, Clip):
        return psi.lo, psi.hi
    if isinstance(psi, Tanh):
        return -1.0, 1.0
    if isinstance(psi, Sigmoid):
        return 0.0, 1.0
    if isinstance(psi, ELU):
        return -psi.alpha, 20.0
    return -20.0, 20.0


def _brute(psi, w: float, kappa: float, weights: dict[str, float]) -> float:
    a, c = weights.get("l1", 0.0), weights.get("l2sq", 0.0)

    def f(u: float) -> float:
        value = float(psi.psi(np.array([u])))
        return 0.5 * (u - w) ** 2 + kappa * (value + a * abs(u) + 0.5 * c * u * u)

    lo, hi = _domain(psi)
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-13, "maxiter": 2000})
    best = res.x
    for edge in (lo, hi, 0.0):       # the bounded search may stop next to a kink or an end
        if lo <= edge <= hi and math.isfinite(f(edge)) and f(edge) < f(best):
            best = edge
    return best


@pytest.mark.parametrize("psi", ELEMENTWISE, ids=str)
@pytest.mark.parametrize("weights", PENALTIES, ids=str)
def test_penalised_prox_of_psi_is_the_brute_force_argmin(psi, weights):
    w = np.linspace(-2.5, 2.5, 23)
    kappa = 0.6
    got = prox_psi_penalised(psi, w, kappa, state_penalty(**weights))
    want = np.array([_brute(psi, float(v), kappa, weights) for v in w])
    np.testing.assert_allclose(got, want, atol=2e-6)


@pytest.mark.parametrize("psi", [ReLU(), SoftThreshold(0.3), Tanh()], ids=str)
def test_penalised_prox_of_phi_is_the_brute_force_argmin(psi):
    """``prox_{μ(Φ + R)}(v)`` with ``Φ = ½‖·‖² + Ψ``: the quadratic folds into the scaling."""
    a, c = 0.3, 0.2
    pen = state_penalty(l1=a, l2sq=c)
    mu = 1.7
    v = np.linspace(-3.0, 3.0, 13)
    got = prox_phi_penalised(psi, v, mu, pen)
    lo, hi = _domain(psi)
    for vi, gi in zip(v, got):
        def f(u, vi=vi):
            phi = 0.5 * u * u + float(psi.psi(np.array([u])))
            return 0.5 * (u - vi) ** 2 + mu * (phi + a * abs(u) + 0.5 * c * u * u)
        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
        assert f(gi) <= f(res.x) + 1e-10


def test_softmax_l1_is_constant_on_the_simplex_so_the_prox_ignores_it(xp):
    v = asarray(xp, np.random.default_rng(0).standard_normal((3, 5)))
    psi = Softmax()
    got = prox_psi_penalised(psi, v, 0.5, state_penalty(l1=0.7))
    np.testing.assert_allclose(to_numpy(got), to_numpy(psi.prox_scaled(v, 0.5)), atol=1e-12)


def test_penalty_value_and_gradient(xp):
    x = asarray(xp, np.array([[1.0, -2.0, 0.0], [0.5, 0.0, -0.5]]))
    pen = state_penalty(l1=0.1, l2sq=2.0)
    np.testing.assert_allclose(to_numpy(pen.row_values(x)), [0.3 + 5.0, 0.1 + 0.5])
    assert pen.value(x) == pytest.approx(0.3 + 5.0 + 0.1 + 0.5)
    np.testing.assert_allclose(to_numpy(pen.subgradient(x)), [[2.1, -4.1, 0.0], [1.1, 0.0, -1.1]])


NET = """
network n {
    input u : 4
    param W : 3x4 = ones
    z = relu(W @ u)
    z = soft(W.T @ z, theta = 0.1)
    y = [[1, 1, 1, 1]] @ z
    param c : 4 = ones
    param w : 4x4 = eye
    h = c @ relu(w @ z)
    output h
}
"""


def test_penalties_resolve_to_the_last_binding_and_hidden_ids():
    net = build_net(NET.replace("y = [[1, 1, 1, 1]] @ z\n", ""))
    pens = resolve_penalties(net, PenaltyTerms(terms=(
        PenaltyTerm(name="l1", variable="z", weight=0.5),
        PenaltyTerm(name="l2sq", variable="z", weight=0.25),
        PenaltyTerm(name="l1", variable="h.relu", weight=1.0))))
    assert pens == {"z#2": state_penalty(l1=0.5, l2sq=0.25), "h.relu": state_penalty(l1=1.0)}
    assert resolve_penalties(net, {"z": state_penalty(l1=1.0)}) == {"z#2": state_penalty(l1=1.0)}
    with pytest.raises(SolveError, match="not a variable"):
        resolve_penalties(net, [PenaltyTerm(name="l1", variable="q")])
    with pytest.raises(SolveError, match="cannot be penalised"):
        resolve_penalties(net, [PenaltyTerm(name="l1", variable="u")])
