"""Single-layer inversion problems for the ``pdhg`` and α-rule tests, and their CVXPY oracle.

Problems are built through the real front end (spec text → IR → lift), with the weights then
replaced by the test's own matrix, so ``pdhg`` sees the operators a run of ``lbdsl solve`` sees.
The oracle writes the objective from the definitions, independently of lbdsl: for ReLU
``B_Ψ(f, z) = ½‖f‖² + ½‖max(z, 0)‖² − ⟨f, z⟩`` (f ≥ 0), for the identity ``½‖z − f‖²``; TV with
Kronecker-product Neumann forward differences (``cp.tv`` differs at the boundary in 2-D).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import cvxpy as cp
import numpy as np

from lbdsl.backend import to_numpy
from lbdsl.program import build_module
from lbdsl.lift.compact import LiftedProblem, lift
from lbdsl.prox.regularisers import TV, L1, Box, L2Squared, NonNeg
from lbdsl.solvers.problems import InverseProblem, Term
from lbdsl.syntax.parser import parse

#: regulariser cases: weights of tv, l1, l2sq and the box (lo, hi) (None: no constraint)
CASES: dict[str, dict[str, Any]] = {
    "tv": dict(tv=0.5),
    "tv+nonneg": dict(tv=0.5, lo=0.0),
    "l1": dict(l1=0.3),
    "tv+l1+box": dict(tv=0.3, l1=0.1, lo=0.0, hi=0.8),
    "tv+l2sq": dict(tv=0.5, l2sq=0.2),
}


def lifted_single_layer(W: np.ndarray, b: np.ndarray, psi: str, shape: tuple[int, ...],
                        xp: Any = None, dtype: Any = None) -> LiftedProblem:
    """``h = psi(W @ u + b)`` on an input of ``shape`` (``psi = "identity"``: a linear layer)."""
    m, n = W.shape
    dims = "x".join(str(d) for d in shape)
    layer = "W @ u + b" if psi == "identity" else f"{psi}(W @ u + b)"
    src = (f"network n {{ input u : {dims}  param W : {m}x{n} = zeros  param b : {m} = zeros\n"
           f"  h = {layer}  output h }}")
    net = build_module(parse(src, "<pdhg test>")).networks["n"]
    net.params["W"] = dataclasses.replace(net.params["W"], source=np.asarray(W, dtype=float))
    net.params["b"] = dataclasses.replace(net.params["b"], source=np.asarray(b, dtype=float))
    return lift(net, xp, dtype) if xp is not None else lift(net)


@functools.lru_cache(maxsize=None)
def instance(shape: tuple[int, ...], m: int, psi: str, seed: int = 0,
             noise: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(W, b, f, truth)``: Gaussian W, b; a bright rectangle; noisy data in dom Ψ."""
    n = math.prod(shape)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, n)) / math.sqrt(n) * 4.0
    b = rng.standard_normal(m)
    truth = np.zeros(shape)
    sl = tuple(slice(k // 4, k // 4 + max(k // 2, 1)) for k in shape)
    truth[sl] = 1.0
    z = W @ truth.reshape(-1) + b
    f = (np.maximum(z, 0) if psi == "relu" else z) + noise * rng.standard_normal(m)
    if psi == "relu":
        f = np.maximum(f, 0.0)
    return W, b, f, truth


def inverse_problem(lp: LiftedProblem, f: Any, shape: tuple[int, ...], tv: float = 0.0,
                    l1: float = 0.0, l2sq: float = 0.0, lo: float | None = None,
                    hi: float | None = None) -> InverseProblem:
    terms = []
    if tv:
        terms.append(Term(tv, TV(shape)))
    if l1:
        terms.append(Term(l1, L1()))
    if l2sq:
        terms.append(Term(l2sq, L2Squared()))
    cons: list[Any] = []
    if hi is not None:
        cons.append(Box(-math.inf if lo is None else lo, hi))
    elif lo is not None:
        cons.append(NonNeg() if lo == 0.0 else Box(lo, math.inf))
    xp = lp.xp
    return InverseProblem(lp, xp.asarray(np.asarray(f), dtype=lp.dtype), terms=tuple(terms),
                          constraints=tuple(cons))


def difference_matrices(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Forward differences along each axis on row-major flat vectors, last difference 0."""
    mats = []
    for a in range(len(shape)):
        m = np.ones((1, 1))
        for c, n in enumerate(shape):
            if c == a:
                d = np.zeros((n, n))
                for i in range(n - 1):
                    d[i, i], d[i, i + 1] = -1.0, 1.0
            else:
                d = np.eye(n)
            m = np.kron(m, d)
        mats.append(m)
    return mats


def objective_np(W: np.ndarray, b: np.ndarray, f: np.ndarray, u: np.ndarray, psi: str,
                 shape: tuple[int, ...], tv: float = 0.0, l1: float = 0.0, l2sq: float = 0.0,
                 lo: float | None = None, hi: float | None = None) -> float:
    """The objective from its definition (constraints not checked: callers assert them)."""
    u = np.asarray(u, dtype=float).reshape(-1)
    z = W @ u + b
    if psi == "relu":
        data = 0.5 * f @ f + 0.5 * np.sum(np.maximum(z, 0) ** 2) - f @ z
    else:
        data = 0.5 * np.sum((z - f) ** 2)
    grads = np.stack([m @ u for m in difference_matrices(shape)])
    return float(data + tv * np.sum(np.sqrt(np.sum(grads ** 2, axis=0)))
                 + l1 * np.sum(np.abs(u)) + 0.5 * l2sq * u @ u)


def cvxpy_optimum(W: np.ndarray, b: np.ndarray, f: np.ndarray, psi: str,
                  shape: tuple[int, ...], tv: float = 0.0, l1: float = 0.0, l2sq: float = 0.0,
                  lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, float]:
    """``(u*, F*)`` by Clarabel at tight tolerances."""
    n = W.shape[1]
    u = cp.Variable(n)
    z = W @ u + b
    if psi == "relu":
        data = 0.5 * float(f @ f) + 0.5 * cp.sum_squares(cp.pos(z)) - f @ z
    else:
        data = 0.5 * cp.sum_squares(z - f)
    obj = data
    if tv:
        obj = obj + tv * cp.sum(cp.norm(cp.vstack([m @ u for m in difference_matrices(shape)]),
                                        2, axis=0))
    if l1:
        obj = obj + l1 * cp.norm1(u)
    if l2sq:
        obj = obj + 0.5 * l2sq * cp.sum_squares(u)
    cons = ([u >= lo] if lo is not None else []) + ([u <= hi] if hi is not None else [])
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal", prob.status
    uu = np.asarray(u.value)
    return uu, objective_np(W, b, f, uu, psi, shape, tv, l1, l2sq)


def host(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=float)
