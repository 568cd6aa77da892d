"""Every regulariser against its definition: prox, conjugate prox and conjugate by CVXPY brute
force; Moreau's identity; the Fenchel–Young equality; values against NumPy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lbdsl.backend import asarray, to_numpy
from reg_oracles import CASE_IDS, CASES, brute_conj, brute_prox, gradient_matrices, sample

# TV's prox is iterative: ask for a certified error far below the comparison tolerance
OPTIONS = {"tv1d": dict(tol=1e-9, max_iter=200_000), "tv2d": dict(tol=1e-9, max_iter=200_000)}


def opts(case) -> dict:
    return OPTIONS.get(case.name, {})


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("c", [0.1, 0.7, 3.0])
def test_prox_matches_cvxpy(xp, case, c):
    v = sample(case, 0)
    got = to_numpy(case.make().prox(asarray(xp, v), c, **opts(case)))
    np.testing.assert_allclose(got, brute_prox(case.name, 0, c, False), atol=2e-6)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("c", [0.1, 0.7, 3.0])
def test_conj_prox_matches_cvxpy(xp, case, c):
    v = sample(case, 0)
    got = to_numpy(case.make().conj_prox(asarray(xp, v), c, **opts(case)))
    np.testing.assert_allclose(got, brute_prox(case.name, 0, c, True), atol=2e-6)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("c", [1e-3, 0.5, 20.0])
def test_moreau_identity(xp, case, c):
    """``v = prox_{cJ}(v) + c·prox_{J*/c}(v/c)``."""
    reg = case.make()
    v = asarray(xp, sample(case, 1))
    total = reg.prox(v, c, **opts(case)) + c * reg.conj_prox(v / c, 1.0 / c, **opts(case))
    np.testing.assert_allclose(to_numpy(total), to_numpy(v), atol=1e-9 * max(1.0, c))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conj_matches_brute_force_sup(xp, case):
    reg = case.make()
    for scale in (1.0, 0.1, 0.01):  # points outside and inside the indicators' sets
        v = scale * sample(case, 2)
        if not case.conj_closed_form:
            with pytest.raises(NotImplementedError, match="no closed form"):
                reg.conj(asarray(xp, v))
            return
        got = float(reg.conj(asarray(xp, v)))
        expected = brute_conj(case.name, v)
        if math.isinf(expected):
            assert got == math.inf
        else:
            assert got == pytest.approx(expected, abs=1e-7, rel=1e-7)


@pytest.mark.parametrize("case", [c for c in CASES if c.conj_closed_form],
                         ids=[c.name for c in CASES if c.conj_closed_form])
@pytest.mark.parametrize("c", [0.2, 1.0, 5.0])
def test_fenchel_young_equality(xp, case, c):
    """``w = (v − p)/c ∈ ∂J(p)`` at ``p = prox_{cJ}(v)``, so ``J(p) + J*(w) = ⟨p, w⟩``."""
    reg = case.make()
    v = asarray(xp, sample(case, 3))
    p = reg.prox(v, c)
    w = (v - p) / c
    lhs = float(reg.value(p)) + float(reg.conj(w))
    assert lhs == pytest.approx(float(np.sum(to_numpy(p) * to_numpy(w))), abs=1e-9)


def test_values_against_numpy_formulas(xp):
    rng = np.random.default_rng(4)
    u = rng.standard_normal((4, 5))
    cases = {c.name: c.make() for c in CASES}
    assert float(cases["l1"].value(asarray(xp, u))) == pytest.approx(np.abs(u).sum())
    assert float(cases["l2sq"].value(asarray(xp, u))) == pytest.approx(0.5 * (u**2).sum())
    dx, dy = gradient_matrices((4, 5))
    tv = np.sqrt((dx @ u.ravel()) ** 2 + (dy @ u.ravel()) ** 2).sum()
    assert float(cases["tv2d"].value(asarray(xp, u))) == pytest.approx(tv, rel=1e-13)
    g = rng.standard_normal((2, 3, 4))
    l21 = np.sqrt((g**2).sum(axis=0)).sum()
    assert float(cases["l21"].value(asarray(xp, g))) == pytest.approx(l21, rel=1e-13)
    for name, inside, outside in [("nonneg", np.abs(u), u), ("box", np.clip(u, -0.5, 1.5), u),
                                  ("box_above", np.abs(u), u - 5),
                                  ("box_below", -np.abs(u), u + 5)]:
        assert float(cases[name].value(asarray(xp, inside))) == 0.0
        assert float(cases[name].value(asarray(xp, outside))) == math.inf


def test_indicators_never_give_nan(xp):
    bad = asarray(xp, np.array([np.nan, 1.0, -np.inf, np.inf]))
    for case in CASES:
        reg = case.make()
        if reg.name in ("nonneg", "box"):
            assert float(reg.value(bad)) == math.inf
    # the support function with an infinite bound: ∞·0 must not appear
    for case in CASES:
        if case.name.startswith("box_"):
            reg = case.make()
            z = asarray(xp, np.zeros(5))
            assert float(reg.conj(z)) == 0.0
            assert float(reg.conj(asarray(xp, np.array([0.0, 1.0, -1.0])))) == math.inf


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_is_kept_and_accurate(xp, case):
    reg = case.make()
    v = sample(case, 5)
    loose = {"tol": 1e-3} if case.name.startswith("tv") else {}
    for method in (reg.prox, reg.conj_prox):
        out32 = method(asarray(xp, v, xp.float32), 0.7, **loose)
        assert out32.dtype == xp.float32
        out64 = to_numpy(method(asarray(xp, v), 0.7, **opts(case)))
        np.testing.assert_allclose(to_numpy(out32), out64, atol=5e-3 if loose else 1e-5)


def test_separable_proxes_take_one_step_per_entry(xp):
    """Diagonal preconditioning passes an array c; each entry uses its own step."""
    case_v = np.random.default_rng(6).standard_normal(6) * 2
    steps = np.array([0.1, 0.5, 1.0, 2.0, 4.0, 8.0])
    for case in CASES:
        if case.shape != (11,):
            continue
        reg = case.make()
        got = to_numpy(reg.prox(asarray(xp, case_v), asarray(xp, steps)))
        each = [float(to_numpy(reg.prox(asarray(xp, case_v[i:i + 1]), float(steps[i])))[0])
                for i in range(6)]
        np.testing.assert_allclose(got, each, rtol=1e-14)


def test_bad_steps_are_refused(xp):
    v = asarray(xp, np.ones(3))
    for case in CASES:
        reg = case.make()
        for c in (0.0, -1.0, math.inf, math.nan):
            with pytest.raises(ValueError, match="positive finite"):
                reg.prox(v, c)
            with pytest.raises(ValueError, match="positive finite"):
                reg.conj_prox(v, c)
