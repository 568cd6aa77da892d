"""The floating-point route of the block certificate (:mod:`.symbolic`) for chains longer than
its exact limit: Sturm counts in float64 on the tridiagonal ``B``, with a proven rounding
bound, so that a bracket of ``λ_min(B)`` is still a proof — conservative, never optimistic."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["Floats", "down_up"]


def down_up(num: int, den: int) -> tuple[float, float]:
    """The float64 values just below and just above ``num/den`` (equal when it is a float)."""
    f = num / den                      # correctly rounded
    n, d = f.as_integer_ratio()
    above = n * den - num * d          # the sign of f − num/den (d, den > 0)
    if above == 0:
        return f, f
    return (math.nextafter(f, -math.inf), f) if above > 0 else (f, math.nextafter(f, math.inf))


class Floats:
    """The tridiagonal ``B`` (a ``symbolic._Tridiagonal``: integers ``a_int``, ``off_int`` over
    ``den``) in float64, for the floating-point route: the diagonal rounded down and up, the
    off-diagonal to nearest, and the bound ``delta`` of :meth:`count`.

    A Sturm count ``d_i = (a_i − t) − b_{i−1}²/d_{i−1}`` in IEEE arithmetic is the exact count
    of a matrix with the *same* diagonal and off-diagonals ``b_i(1 + η_i)``, ``|η_i| ≤ 2.5ε``
    (Kahan 1966; Demmel, *Applied Numerical Linear Algebra*, Lemma 5.3: the rounding of each
    step is pushed into the next ``b²``).  With the rounding of ``b`` itself that is an
    off-diagonal perturbation of at most ``3.01ε|b_i|``, which is bounded below and above by a
    diagonal one of ``±6.02ε·max|b|`` (``[[0, δ], [δ, 0]] ⪰ −|δ|I``); and a diagonal rounded
    down (up) is below (above) ``B`` in the Loewner order.  So a count of 0 at ``t`` on the
    rounded-down matrix proves ``λ_min(B) ≥ t − delta``, and a count ≥ 1 at ``t`` on the
    rounded-up one proves ``λ_min(B) < t + delta``, ``delta = 8ε·max|b| + 4·pivmin`` — whatever
    the size of the diagonal (a huge λ or μ does not widen it).  A pivot below ``pivmin`` in
    magnitude is replaced by ``−pivmin`` (as LAPACK does), a diagonal change under ``2·pivmin``.
    """

    def __init__(self, tri: Any) -> None:
        cache: dict[int, tuple[float, float]] = {}
        down, up = [], []
        for a in tri.a_int:
            if a not in cache:
                cache[a] = down_up(a, tri.den)
            lo, hi = cache[a]
            down.append(lo)
            up.append(hi)
        self.down, self.up = down, up
        self.off = [o / tri.den for o in tri.off_int]
        self.off2 = [0.0] + [b * b for b in self.off]   # fl(b²), the recurrence's own rounding
        eps, tiny = float(np.finfo(float).eps), float(np.finfo(float).tiny)
        self.bmax = max((abs(b) for b in self.off), default=0.0)
        self.pivmin = tiny * max(1.0, self.bmax * self.bmax)
        self.delta = 8 * eps * self.bmax * (1 + eps) + 4 * self.pivmin

    def count(self, t: float, rounded_up: bool) -> int:
        """Pivots of ``B − tI`` below zero, in float64 (the class docstring bounds it)."""
        pivmin = self.pivmin
        count, d = 0, 1.0
        for a, e2 in zip(self.up if rounded_up else self.down, self.off2):
            d = (a - t) - e2 / d
            if -pivmin < d < pivmin:
                d = -pivmin
            if d < 0:
                count += 1
        return count

    def bracket(self, estimate: float) -> tuple[Fraction, Fraction]:
        """A proven bracket ``lo ≤ λ_min(B) ≤ hi`` around ``estimate``: a count of 0 at the
        lower end (diagonal rounded down), ≥ 1 at the upper (rounded up), widened by
        ``delta``; the search width starts at the estimate's expected error."""
        eps = float(np.finfo(float).eps)
        width = 8 * eps * (self.bmax + abs(estimate)) + self.pivmin
        for _ in range(100):
            lo, hi = estimate - width, estimate + width
            if not (math.isfinite(lo) and math.isfinite(hi)):
                break                                                   # pragma: no cover
            if self.count(lo, False) == 0 and self.count(hi, True) >= 1:
                delta = Fraction(self.delta)
                return Fraction(lo) - delta, Fraction(hi) + delta
            width *= 4
        raise ArithmeticError("could not bracket the smallest eigenvalue")  # pragma: no cover

    def certifies(self, t: Fraction) -> bool:
        """Whether ``λ_min(B) ≥ t`` is proven: a count of 0 at ``t + delta`` rounded up."""
        q = t + Fraction(self.delta)
        return self.count(down_up(q.numerator, q.denominator)[1], False) == 0
