"""The regulariser sum (``RegulariserSum``) against its terms and independent oracles.

- normalisation: weights of equal terms add, ``Weighted`` wrappers unwrap, intervals intersect,
  ``nonneg`` is ``[0, ∞)``; what cannot be normalised is refused in one line, and so is a
  combination a solver's step cannot take (the capabilities);
- ``value`` / ``row_values`` equal the sum of the terms' own values;
- the prox of the separable part against CVXPY (the l2sq fold and the box composition),
  with scalar and per-entry steps; ``project_dual`` against Moreau's identity for
  ``a‖·‖_{2,1}``;
- the subgradient satisfies the subgradient inequality ``J(w) ≥ J(u) + ⟨ξ, w − u⟩``;
- the smoothed value against one written out here, its bound ``0 ≤ J_ε − J ≤ ε(a + b)n``, and
  its gradient against central finite differences.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.prox.regularisers import TV, L1, Box, L2Squared, MixedNorm21, NonNeg, Weighted
from lbdsl.prox.regularisers.composite import CAPABILITIES, RegulariserSum

SHAPE = (4, 5)


def _sum(*items):
    return RegulariserSum.of(items, SHAPE)


def test_normalisation_adds_unwraps_and_intersects():
    reg = _sum((Weighted(L1(), 2.0), 0.5), (L1(), 0.25), (L2Squared(), 3.0), (NonNeg(), 1.0),
               (Box(-1.0, 0.5), 1.0), (TV(SHAPE), 0.1), (Weighted(TV(SHAPE), 2.0), 0.1))
    weights = {r.name: w for r, w in reg.terms if not r.indicator}
    assert (weights["l1"], weights["l2sq"], reg.lo, reg.hi) == (1.25, 3.0, 0.0, 0.5)
    assert weights["tv"] == pytest.approx(0.3) and reg.quadratic_weight == 3.0
    assert [r.name for r, _ in reg.terms] == ["tv", "l1", "l2sq", "nonneg", "box"]
    assert reg.names == {"tv", "l1", "l2sq", "nonneg", "box"} and reg.has_separable_part
    assert reg.describe() == "0.3·tv + 1.25·l1 + 3·l2sq + box(0, 0.5)"
    assert _sum((L1(), 0.0)).names == frozenset()


@pytest.mark.parametrize("items, message", [
    (((L1(), -1.0),), "must be finite and >= 0"),
    (((L1(), math.inf),), "must be finite and >= 0"),
    (((Box(0.0, 1.0), 1.0), (Box(2.0, 3.0), 1.0)), "constraints on the input are empty"),
    (((TV((3, 3)), 1.0),), "tv acts on shape"),
    (((TV((4, 5)), 1.0), (TV((5, 4)), 1.0)), "act on different shapes"),
])
def test_what_cannot_be_normalised_is_refused_in_one_line(items, message):
    with pytest.raises(SolveError, match=message) as err:
        RegulariserSum.of(items, SHAPE)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("items, capability, message", [
    (((MixedNorm21(axis=-1), 1.0), (Weighted(MixedNorm21(axis=-2), 1.0), 1.0)), "proximable",
     "cannot combine `l21` with `l21`"),
    (((MixedNorm21(axis=-1), 1.0), (L1(), 1.0)), "proximable", "cannot combine `l21` with"),
    (((MixedNorm21(axis=-1), 1.0), (L2Squared(), 1.0)), "proximable", None),
    (((MixedNorm21(axis=-1), 1.0),), "primal_dual", "only through a prox of its own"),
    (((TV(SHAPE), 1.0), (L1(), 1.0), (Box(0, 1), 1.0)), "primal_dual", None),
    (((TV(SHAPE), 1.0), (MixedNorm21(axis=-1), 1.0)), "smoothable", "`l21` has no smoothing"),
    (((L2Squared(), 1.0), (Box(0, 1), 1.0)), "quadratic", "`box` is not ½‖u‖²"),
])
def test_a_combination_a_step_cannot_take_is_refused_by_the_capability(items, capability,
                                                                        message):
    """The sum holds any terms; what a solver's step cannot take together is its capability's
    refusal, in one line."""
    reason = CAPABILITIES[capability](RegulariserSum.of(items, SHAPE).form)
    if message is None:
        assert reason is None
    else:
        assert reason is not None and message in reason and "\n" not in reason


def test_values_are_the_sum_of_the_terms():
    rng = np.random.default_rng(0)
    u = rng.uniform(0.0, 0.5, size=(3, 20))
    terms = [(TV(SHAPE), 0.2), (L1(), 0.3), (L2Squared(), 0.7)]
    reg = _sum(*terms, (Box(0.0, 0.5), 1.0))
    rows = [sum(w * float(j.value(row.reshape(SHAPE))) for j, w in terms) for row in u]
    np.testing.assert_allclose(reg.row_values(u), rows, rtol=1e-12)
    assert reg.value(u) == pytest.approx(sum(rows), rel=1e-12)
    outside = u.copy()
    outside[1, 3] = 0.6
    assert reg.value(outside) == math.inf
    assert list(np.isinf(reg.row_values(outside))) == [False, True, False]


@pytest.mark.parametrize("l1, l2sq, lo, hi", [(0.3, 0.0, -math.inf, math.inf),
                                              (0.0, 0.8, -math.inf, math.inf),
                                              (0.3, 0.8, -0.2, 0.4), (0.5, 2.0, 0.0, math.inf)])
@pytest.mark.parametrize("array_step", [False, True])
def test_the_separable_prox_is_the_argmin(l1, l2sq, lo, hi, array_step):
    rng = np.random.default_rng(1)
    v = rng.normal(size=20)
    s = rng.uniform(0.2, 2.0, size=20) if array_step else 0.7
    items = [(L1(), l1), (L2Squared(), l2sq)]
    if math.isfinite(lo) or math.isfinite(hi):
        items.append((Box(lo, hi), 1.0))
    reg = _sum(*items)
    u = cp.Variable(20)
    step = s if array_step else np.full(20, s)
    objective = cp.sum(cp.multiply(0.5 / step, cp.square(u - v))) + l1 * cp.norm1(u) \
        + 0.5 * l2sq * cp.sum_squares(u)
    cons = [u >= lo] * math.isfinite(lo) + [u <= hi] * math.isfinite(hi)
    cp.Problem(cp.Minimize(objective), cons).solve(solver=cp.CLARABEL, tol_gap_abs=1e-12,
                                                   tol_gap_rel=1e-12, tol_feas=1e-12)
    np.testing.assert_allclose(reg.prox_separable(v, s), u.value, atol=1e-7)


def test_project_dual_is_the_conjugate_prox_of_the_weighted_mixed_norm():
    """``prox_{σ(a‖·‖_{2,1})*}`` by Moreau's identity, for several σ: one projection."""
    reg = _sum((TV(SHAPE), 0.4))
    p = np.random.default_rng(2).normal(size=(3, 2, *SHAPE))
    outer = Weighted(MixedNorm21(axis=-3), 0.4)
    for sigma in (0.1, 1.0, 7.0):
        np.testing.assert_allclose(reg.project_dual(p), outer.conj_prox(p, sigma),
                                   atol=1e-12)


def test_the_subgradient_satisfies_the_subgradient_inequality():
    rng = np.random.default_rng(3)
    reg = _sum((TV(SHAPE), 0.3), (L1(), 0.2), (L2Squared(), 0.5))
    u = rng.normal(size=(2, 20))
    u[:, :4] = 0.0                         # a flat patch and zero entries: the kinks
    xi = reg.subgradient(u)
    for _ in range(50):
        w = u + rng.normal(size=u.shape) * rng.uniform(0.01, 2.0)
        lhs = reg.row_values(w)
        rhs = reg.row_values(u) + np.sum(xi * (w - u), axis=1)
        assert np.all(lhs >= rhs - 1e-12)


# ---------------------------------------------------------------- smoothing

def _smoothed_here(u: np.ndarray, eps: float, a: float, b: float, c: float) -> float:
    """``a·Σ(|∇u|² + ε²)^½ + b·Σ(u² + ε²)^½ + (c/2)‖u‖²``, differences written out here."""
    img = u.reshape(SHAPE)
    gx, gy = np.zeros_like(img), np.zeros_like(img)
    gx[:-1], gy[:, :-1] = img[1:] - img[:-1], img[:, 1:] - img[:, :-1]
    return (a * np.sum(np.sqrt(gx ** 2 + gy ** 2 + eps ** 2))
            + b * np.sum(np.sqrt(u ** 2 + eps ** 2)) + 0.5 * c * np.sum(u ** 2))


@pytest.mark.parametrize("eps", [1e-3, 0.3])
def test_smoothed_value_gradient_and_bound(eps: float) -> None:
    a, b, c = 0.7, 0.4, 1.3
    reg = _sum((TV(SHAPE), a), (L1(), b), (L2Squared(), c), (NonNeg(), 1.0))
    rng = np.random.default_rng(4)
    u = rng.normal(size=(2, 20))
    value, grad = reg.smoothed(u, eps)
    assert value == pytest.approx(sum(_smoothed_here(row, eps, a, b, c) for row in u), rel=1e-13)
    exact = sum(_smoothed_here(row, 0.0, a, b, c) for row in u)
    assert 0.0 <= value - exact <= eps * (a + b) * u.size
    h = 1e-6
    for i, j in ((0, 0), (1, 7), (0, 19)):
        e = np.zeros_like(u)
        e[i, j] = h
        fd = (_smoothed_here(u[i] + e[i], eps, a, b, c)
              - _smoothed_here(u[i] - e[i], eps, a, b, c)) / (2 * h)
        assert grad[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-8)
