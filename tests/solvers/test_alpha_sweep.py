"""``alpha = sweep(...)``: the grid, the L-curve's corner and the pick.

The corner is checked against Hansen's closed-form curvature of the Tikhonov L-curve
(P. C. Hansen, *The L-curve and its use in the numerical treatment of inverse problems*, 2000):
with ``ρ = ‖A x_λ − b‖²``, ``η = ‖x_λ‖²``, filter factors ``f_i = σ_i²/(σ_i² + λ²)`` and
``β_i = u_iᵀb``,

    η' = −(4/λ) Σ (1 − f_i) f_i² β_i²/σ_i²,
    κ(λ) = 2 (ηρ/η′) (λ²η′ρ + 2ληρ + λ⁴ηη′) / (λ⁴η² + ρ²)^{3/2},

the curvature of ``(½ log ρ, ½ log η)`` up to its sign: with this ``η' < 0`` it is positive as
*decreasing* λ goes, so ``−κ`` is the curvature as increasing λ goes (the test checks the
formula against finite differences of the curve first); the discrete corner must sit where
``−κ`` peaks.  The pick
is checked on the closed-form problem of ``test_alpha.py`` (``u_α = f/(1 + α)``) against a brute
force over the grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lbdsl.solvers import alpha as rules
from lbdsl.solvers.base import History, SolveResult

F = np.array([3.0, -1.0, 2.0, 0.5])


def test_the_grid_is_geometric_from_hi_down_to_lo():
    grid = rules.sweep_grid(1e-4, 1e-1, 4)
    assert grid == pytest.approx([1e-1, 1e-2, 1e-3, 1e-4], rel=1e-12)
    ratios = np.diff(np.log(rules.sweep_grid(2e-3, 5.0, 9)))
    assert np.allclose(ratios, ratios[0])
    for lo, hi, n in ((1.0, 1.0, 4), (2.0, 1.0, 4), (1e-3, 1.0, 1), (-1.0, 1.0, 3)):
        with pytest.raises(ValueError):
            rules.sweep_grid(lo, hi, n)


def _tikhonov(seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sigma = 10.0 ** (-np.arange(n) / 6.0)                    # a discrete ill-posed problem
    x_true = V @ (sigma ** 0.5 * rng.standard_normal(n))    # a Picard-condition solution
    b = U @ (sigma * (V.T @ x_true)) + 1e-3 * rng.standard_normal(n)
    return U, sigma, V, b


def _hansen_curvature(sigma, beta, lam):
    f = sigma ** 2 / (sigma ** 2 + lam ** 2)
    eta = float(np.sum((f * beta / sigma) ** 2))
    rho = float(np.sum(((1 - f) * beta) ** 2))
    d_eta = -4.0 / lam * float(np.sum((1 - f) * f ** 2 * beta ** 2 / sigma ** 2))
    return (2 * eta * rho / d_eta * (lam ** 2 * d_eta * rho + 2 * lam * eta * rho
                                     + lam ** 4 * eta * d_eta)
            / (lam ** 4 * eta ** 2 + rho ** 2) ** 1.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_corner_is_where_hansens_curvature_peaks(seed):
    U, sigma, V, b = _tikhonov(seed)
    beta = U.T @ b
    lams = np.logspace(-5, 0, 120)                            # increasing λ
    residuals, norms, kappa = [], [], []
    for lam in lams:
        f = sigma ** 2 / (sigma ** 2 + lam ** 2)
        x = V @ (f * beta / sigma)
        residuals.append(float(np.linalg.norm(U @ (sigma * (V.T @ x)) - b)))
        norms.append(float(np.linalg.norm(x)))
        kappa.append(_hansen_curvature(sigma, beta, lam))
    # the formula, against the curvature of the sampled curve by finite differences in log λ
    t, x, y = np.log(lams), np.log(residuals), np.log(norms)
    dx, dy = np.gradient(x, t), np.gradient(y, t)
    fd = (dx * np.gradient(dy, t) - dy * np.gradient(dx, t)) / (dx * dx + dy * dy) ** 1.5
    kappa = -np.array(kappa)
    assert np.allclose(fd[10:-10], kappa[10:-10], rtol=0.05, atol=0.05 * np.abs(kappa).max())
    corner = rules.lcurve_corner(residuals, norms)
    assert corner is not None
    peak = int(np.argmax(kappa))
    assert kappa[peak] > 1.0                                    # a sharp corner
    assert abs(corner - peak) <= 2, (corner, peak)
    # the axes may be scaled alike (norms or squared norms): the corner stays
    assert rules.lcurve_corner([r * r for r in residuals], [x * x for x in norms]) == corner


def test_no_corner_on_a_line_or_a_curve_that_turns_the_other_way():
    t = np.linspace(0.0, 1.0, 9)
    assert rules.lcurve_corner(list(np.exp(t)), list(np.exp(-2 * t))) is None     # straight
    # a "Γ": flat first, then down (turning right, as increasing α goes)
    x, y = np.exp(t), np.exp(np.where(t < 0.5, 0.0, -(t - 0.5) * 4))
    assert rules.lcurve_corner(list(x), list(y)) is None
    assert rules.lcurve_corner([1.0, 2.0], [2.0, 1.0]) is None                      # too few
    # points without a logarithm are left out, and the index is the input's
    r = [0.0, 1e-3, 1e-3 * 1.01, 0.5, 1.0]
    j = [9.0, 1.0, 1e-2, 1e-2 * 0.99, 1e-2 * 0.98]
    assert rules.lcurve_corner(r, j) == 2


def _closed_form():
    """``u_α = f/(1 + α)``: ``‖N(u_α) − f‖ = α‖f‖/(1 + α)``, ``J = ½‖u_α‖²``."""
    calls: list[tuple[float, object]] = []

    def solve(alpha: float, x0: object) -> SolveResult:
        calls.append((alpha, x0))
        return SolveResult(u=F / (1.0 + alpha), iterations=1, stop_reason="tol",
                           objective=float(alpha), residual=0.0, history=History())

    def measure(result: SolveResult) -> dict:
        u = np.asarray(result.u)
        penalty = 0.5 * float(u @ u)
        return {"residual": float(np.linalg.norm(u - F)), "penalty": penalty,
                "lcurve_penalty": math.sqrt(2 * penalty), "psnr": -float(np.linalg.norm(u))}

    return solve, measure, calls


@pytest.mark.parametrize("tau,delta", [(1.1, 0.3), (2.0, 0.05), (1.5, 1.0)])
def test_discrepancy_picks_the_largest_alpha_of_the_grid_within_the_bound(tau, delta):
    solve, measure, calls = _closed_form()
    grid = rules.sweep_grid(1e-3, 10.0, 13)
    choice = rules.sweep(grid, solve, measure, delta=delta, tau=tau)
    assert choice.info["pick"] == "discrepancy" and choice.rule == "sweep"
    norm_f = float(np.linalg.norm(F))
    within = [a for a in grid if a * norm_f / (1 + a) <= tau * delta]         # brute force
    assert choice.alpha == max(within) == choice.info["discrepancy_alpha"]
    assert np.array_equal(choice.result.u, F / (1 + choice.alpha))
    # every α solved once, largest first, each warm-started from the one before
    assert [a for a, _ in calls] == sorted(grid, reverse=True)
    assert calls[0][1] is None and all(x0.u is not None for _, x0 in calls[1:])
    assert [row["alpha"] for row in choice.info["table"]] == sorted(grid, reverse=True)
    assert choice.info["best_psnr_alpha"] == max(grid)        # −‖u‖ is largest at large α


def test_auto_picks_the_lcurve_without_delta_and_a_bound_that_nothing_meets_takes_the_smallest():
    solve, measure, _ = _closed_form()
    grid = rules.sweep_grid(1e-3, 10.0, 13)
    choice = rules.sweep(grid, solve, measure)
    assert choice.info["pick"] == "lcurve" and "delta" not in choice.info
    up = grid[::-1]
    rows = {r["alpha"]: r for r in choice.info["table"]}
    corner = rules.lcurve_corner([rows[a]["residual"] for a in up],
                                 [rows[a]["lcurve_penalty"] for a in up])
    expected = up[corner] if corner is not None else min(grid)
    assert choice.alpha == expected == (choice.info["lcurve_alpha"] or min(grid))
    none = rules.sweep(grid, solve, measure, delta=1e-9, tau=1.1)
    assert none.alpha == min(grid) and none.info["satisfied"] is False
    assert "no α of the sweep" in none.info["note"]
    cold = _closed_form()
    rules.sweep(grid, cold[0], cold[1], delta=0.3, warm_start=False)
    assert all(x0 is None for _, x0 in cold[2])
    with pytest.raises(ValueError, match="needs delta"):
        rules.sweep(grid, solve, measure, pick="discrepancy")
    with pytest.raises(ValueError, match="pick must be"):
        rules.sweep(grid, solve, measure, pick="gcv")
