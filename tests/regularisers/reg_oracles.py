"""Independent CVXPY models of each regulariser J and of its conjugate J*, for brute force.

Written from the definitions, not from lbdsl's code: TV through Kronecker-product difference
matrices (forward differences, last difference 0), indicators as constraints, the box's conjugate
as its support function.  ``cp.tv`` is used only in 1-D: in 2-D it sums over the
``(H−1)×(W−1)`` interior pixels and drops the last row's and column's one-sided differences,
so it is not the Neumann TV that math.md §3 defines.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from lbdsl.prox.regularisers import (TV, L1, Box, L2Squared, MixedNorm21, NonNeg, Regulariser,
                                     Weighted)

Model = Callable[[cp.Variable], tuple[Any, list[Any]]]  # variable -> (objective term, constraints)


def difference_matrix(n: int) -> np.ndarray:
    """``(D u)_i = u_{i+1} − u_i`` for ``i < n − 1``, and 0 in the last row."""
    d = np.zeros((n, n))
    for i in range(n - 1):
        d[i, i], d[i, i + 1] = -1.0, 1.0
    return d


def gradient_matrices(shape: tuple[int, ...]) -> list[np.ndarray]:
    """One matrix per axis acting on row-major flattened arrays: ``I ⊗ … ⊗ D_{n_a} ⊗ … ⊗ I``."""
    mats = []
    for a in range(len(shape)):
        m = np.ones((1, 1))
        for b, n in enumerate(shape):
            m = np.kron(m, difference_matrix(n) if a == b else np.eye(n))
        mats.append(m)
    return mats


def tv_model(shape: tuple[int, ...]) -> tuple[Model, Model]:
    mats = gradient_matrices(shape)

    def j(u: cp.Variable) -> tuple[Any, list[Any]]:
        if len(shape) == 1:
            return cp.tv(u), []  # cp.tv is Σ|u_{i+1} − u_i| in 1-D: the same TV
        return cp.sum(cp.norm(cp.vstack([m @ u for m in mats]), 2, axis=0)), []

    def jstar(w: cp.Variable) -> tuple[Any, list[Any]]:
        # TV* = ι{∇ᵀp : ‖p_i‖ ≤ 1}
        ps = [cp.Variable(w.shape[0]) for _ in mats]
        cons = [w == sum(m.T @ p for m, p in zip(mats, ps)),
                cp.norm(cp.vstack(ps), 2, axis=0) <= 1]
        return 0, cons

    return j, jstar


def l21_model(shape: tuple[int, ...]) -> tuple[Model, Model]:
    groups = (shape[0], math.prod(shape[1:]))  # component axis first (axis = −ndim)

    def j(u: cp.Variable) -> tuple[Any, list[Any]]:
        return cp.sum(cp.norm(cp.reshape(u, groups, order="C"), 2, axis=0)), []

    def jstar(w: cp.Variable) -> tuple[Any, list[Any]]:
        return 0, [cp.norm(cp.reshape(w, groups, order="C"), 2, axis=0) <= 1]

    return j, jstar


def box_model(lo: float, hi: float) -> tuple[Model, Model]:
    def j(u: cp.Variable) -> tuple[Any, list[Any]]:
        cons = ([u >= lo] if math.isfinite(lo) else []) + ([u <= hi] if math.isfinite(hi) else [])
        return 0, cons

    def jstar(w: cp.Variable) -> tuple[Any, list[Any]]:
        # support function sup_{lo ≤ u ≤ hi} ⟨u, w⟩
        if math.isinf(hi):
            return cp.sum(lo * w), [w <= 0]
        if math.isinf(lo):
            return cp.sum(hi * w), [w >= 0]
        return cp.sum(cp.maximum(lo * w, hi * w)), []

    return j, jstar


@dataclass(frozen=True)
class Case:
    """A regulariser, the shape it is tested on, and its CVXPY models (J, J*)."""

    name: str
    make: Callable[[], Regulariser]
    shape: tuple[int, ...]
    models: Callable[[], tuple[Model, Model]]
    conj_closed_form: bool = True


def _weighted_l1() -> tuple[Model, Model]:
    alpha = 0.3
    return (lambda u: (alpha * cp.norm1(u), []),
            lambda w: (0, [cp.abs(w) <= alpha]))  # (αJ)*(w) = α ι_{‖w/α‖∞ ≤ 1}


CASES = [
    Case("l1", L1, (11,), lambda: (lambda u: (cp.norm1(u), []),
                                   lambda w: (0, [cp.abs(w) <= 1]))),
    Case("l2sq", L2Squared, (11,), lambda: (lambda u: (0.5 * cp.sum_squares(u), []),
                                            lambda w: (0.5 * cp.sum_squares(w), []))),
    Case("nonneg", NonNeg, (11,), lambda: (lambda u: (0, [u >= 0]), lambda w: (0, [w <= 0]))),
    Case("box", lambda: Box(-0.5, 1.5), (11,), lambda: box_model(-0.5, 1.5)),
    Case("box_above", lambda: Box(-1.0, math.inf), (11,), lambda: box_model(-1.0, math.inf)),
    Case("box_below", lambda: Box(-math.inf, 0.25), (11,), lambda: box_model(-math.inf, 0.25)),
    Case("l21", lambda: MixedNorm21(axis=-3), (2, 3, 4), lambda: l21_model((2, 3, 4))),
    Case("tv1d", lambda: TV((9,)), (9,), lambda: tv_model((9,)), conj_closed_form=False),
    Case("tv2d", lambda: TV((4, 5)), (4, 5), lambda: tv_model((4, 5)), conj_closed_form=False),
    Case("weighted_l1", lambda: Weighted(L1(), 0.3), (11,), _weighted_l1),
]
CASE_IDS = [c.name for c in CASES]

_SOLVER = dict(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)


def sample(case: Case, seed: int, scale: float = 2.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(case.shape)


@functools.lru_cache(maxsize=None)
def brute_prox(name: str, seed: int, c: float, conjugate: bool) -> np.ndarray:
    """``argmin_u ½‖u − v‖² + c·J(u)`` (or ``c·J*``) by CVXPY, for ``v = sample(case, seed)``."""
    case = CASES[CASE_IDS.index(name)]
    v = sample(case, seed).ravel()
    model = case.models()[1 if conjugate else 0]
    u = cp.Variable(v.size)
    term, cons = model(u)
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(u - v) + c * term), cons).solve(**_SOLVER)
    return np.asarray(u.value).reshape(case.shape)


def brute_conj(name: str, v: np.ndarray) -> float:
    """``J*(v) = sup_u ⟨u, v⟩ − J(u)`` by CVXPY (+inf when unbounded)."""
    case = CASES[CASE_IDS.index(name)]
    u = cp.Variable(v.size)
    term, cons = case.models()[0](u)
    problem = cp.Problem(cp.Maximize(v.ravel() @ u - term), cons)
    problem.solve(**_SOLVER)
    if problem.status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
        return math.inf
    assert problem.status == cp.OPTIMAL, problem.status
    return float(problem.value)
