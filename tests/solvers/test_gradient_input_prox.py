"""``prox_{τG}`` of the sum of an inversion's regularisers (lifted and gradient share it),
against its definition ``argmin_u ½‖u − v‖² + τG(u)`` solved by CVXPY."""

from __future__ import annotations

import math
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.regularisers.base import Regulariser, Weighted
from lbdsl.prox.regularisers.indicators import Box, NonNeg
from lbdsl.prox.regularisers.l1 import L1
from lbdsl.prox.regularisers.l2sq import L2Squared
from lbdsl.prox.regularisers.tv import TV
from lbdsl.solvers.input_prox import InputProx
from lbdsl.solvers.problems import InverseProblem, Term

from lifted_zoo import host, lifted

SHAPE = (5, 5)


def _tv_cvxpy(U: Any) -> Any:
    n = U.shape[0]
    dx = cp.vstack([U[1:, :] - U[:-1, :], np.zeros((1, n))])
    dy = cp.hstack([U[:, 1:] - U[:, :-1], np.zeros((n, 1))])
    return cp.sum(cp.norm(cp.vstack([cp.vec(dx, order="C"), cp.vec(dy, order="C")]), 2, axis=0))


def _g(terms: tuple[Term, ...], constraints: tuple[Regulariser, ...] = ()) -> InputProx:
    problem = InverseProblem(lifted("linear_image"), np.zeros(15), terms=terms,
                             constraints=constraints)
    return InputProx.from_problem(problem)


CASES = {
    "tv": ((Term(0.3, TV(SHAPE)),), ()),
    "tv+box": ((Term(0.3, TV(SHAPE)),), (Box(-0.2, 0.6),)),
    "tv+l1+nonneg": ((Term(0.3, TV(SHAPE)), Term(0.1, L1())), (NonNeg(),)),
    "tv+l2sq": ((Term(0.3, TV(SHAPE)), Term(0.5, L2Squared())), ()),
    "l1+l2sq+box": ((Term(0.2, L1()), Term(0.5, L2Squared())), (Box(-0.3, 0.4),)),
    "weighted l1 twice": ((Term(0.1, Weighted(L1(), 2.0)), Term(0.05, L1())), ()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_prox_of_the_sum_matches_its_definition(case: str) -> None:
    terms, constraints = CASES[case]
    g = _g(terms, constraints)
    v = np.random.default_rng(0).normal(size=25)
    tau = 0.7
    got = host(g.prox(v, tau, tol=1e-9))
    U = cp.Variable(SHAPE)
    u = cp.vec(U, order="C")
    parts, cons = [], []
    for term in terms:
        reg, w = term.reg, term.weight
        if isinstance(reg, Weighted):
            reg, w = reg.inner, w * reg.alpha
        parts.append(w * {TV: lambda: _tv_cvxpy(U), L1: lambda: cp.norm1(u),
                          L2Squared: lambda: 0.5 * cp.sum_squares(u)}[type(reg)]())
    for con in constraints:
        lo, hi = (0.0, math.inf) if isinstance(con, NonNeg) else (con.lo, con.hi)
        cons.append(u >= lo)
        if hi < math.inf:
            cons.append(u <= hi)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(u - v) + tau * sum(parts)), cons)
    problem.solve(solver=cp.CLARABEL)
    # interior-point accuracy is ~1e-5 next to the box; the objective decides: the prox is at
    # least as good as CVXPY's point, and G is finite (feasible) there
    assert np.allclose(got, u.value, atol=1e-4)
    value = g.value(got)
    assert math.isfinite(value)
    assert 0.5 * np.sum((got - v) ** 2) + tau * value <= problem.value + 1e-8


def test_the_tv_dual_is_kept_for_a_warm_start() -> None:
    g = _g(*CASES["tv+box"])
    v = np.random.default_rng(1).normal(size=(3, 25))   # batch axes pass through
    first = host(g.prox(v, 0.7, tol=1e-8))
    assert g._dual is not None and first.shape == (3, 25)
    again = host(g.prox(v, 0.7, tol=1e-8))
    assert np.allclose(first, again, atol=1e-6)


def test_the_box_value_is_infinite_outside_and_zero_regulariser_is_the_identity() -> None:
    g = _g((), (Box(0.0, 1.0),))
    assert g.value(np.full(25, 2.0)) == math.inf and g.value(np.full(25, 0.5)) == 0.0
    zero = _g(())
    assert zero.reg.names == frozenset() and zero.reg.describe() == "0"
    v = np.arange(25.0)
    assert np.array_equal(host(zero.prox(v, 3.0)), v)


def test_incompatible_constraints_are_refused() -> None:
    with pytest.raises(SolveError, match="empty"):
        _g((), (Box(0.0, 1.0), Box(2.0, 3.0)))
