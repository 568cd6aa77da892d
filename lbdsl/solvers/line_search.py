"""Line searches along ``φ(t) = F(x + t d)``, in scalars: what a quasi-Newton step needs.

* :func:`strong_wolfe` — a step with the strong Wolfe conditions (Nocedal & Wright, *Numerical
  Optimization*, 2nd ed., Algorithms 3.5 and 3.6)::

      φ(t) ≤ φ(0) + c₁ t φ'(0)          (sufficient decrease)
      |φ'(t)| ≤ c₂ |φ'(0)|               (curvature)

  found by expanding the trial step until it brackets such a step, then shrinking the bracket
  by safeguarded cubic interpolation (the minimiser of the cubic through both ends' values and
  slopes, kept at least a tenth of the bracket away from its ends; bisection where the cubic
  has no minimiser).  ReLU networks make ``φ`` piecewise smooth, with jumps in ``φ'`` at every
  kink: a bracket can then shrink to a kink without meeting the curvature condition, and the
  search returns its best point with sufficient decrease (``wolfe = False``), which the
  quasi-Newton update may still use if its curvature pair is positive.
* :func:`backtracking` — Armijo backtracking along a path ``t ↦ P(x + t d)`` (a projection onto
  a box makes the path bend, where the Wolfe conditions mean nothing)::

      F(x_t) ≤ F(x) + c₁ ⟨∇F(x), x_t − x⟩,   t = t₀, t₀/2, t₀/4, …

Both evaluate ``φ`` through a callable returning a :class:`Trial` (its value, its slope where
defined, and whatever the caller wants back, e.g. the point and its gradient), and return the
accepted trial (None: no decrease was found) and the number of evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Trial", "Found", "strong_wolfe", "backtracking", "cubic_step"]


@dataclass(frozen=True)
class Trial:
    """``φ`` at ``t``: ``value = φ(t)``, ``slope = φ'(t)`` (nan where not computed)."""

    t: float
    value: float
    slope: float
    payload: Any = None


@dataclass(frozen=True)
class Found:
    """A line search's answer: the accepted trial (None: no decrease found), the number of
    evaluations of ``φ``, and whether the strong Wolfe conditions hold there."""

    trial: Trial | None
    evaluations: int
    wolfe: bool = False


def cubic_step(a: Trial, b: Trial, lo: float, hi: float) -> float:
    """The minimiser of the cubic through ``(a.t, a.value, a.slope)`` and
    ``(b.t, b.value, b.slope)`` (N&W eq. 3.59), clamped to ``[lo, hi]``; the midpoint of
    ``[lo, hi]`` where it has none (or a value is not finite)."""
    if a.t == b.t:
        return 0.5 * (lo + hi)
    d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.t - b.t)
    disc = d1 * d1 - a.slope * b.slope
    if not (math.isfinite(disc) and disc >= 0.0):
        return 0.5 * (lo + hi)
    d2 = math.copysign(math.sqrt(disc), b.t - a.t)
    denom = b.slope - a.slope + 2.0 * d2
    if denom == 0.0:
        return 0.5 * (lo + hi)
    t = b.t - (b.t - a.t) * (b.slope + d2 - d1) / denom
    return min(max(t, lo), hi) if math.isfinite(t) else 0.5 * (lo + hi)


def _decreases(trial: Trial, start: Trial, c1: float) -> bool:
    return math.isfinite(trial.value) and \
        trial.value <= start.value + c1 * trial.t * start.slope


def strong_wolfe(phi: Callable[[float], Trial], start: Trial, t: float, *, c1: float = 1e-4,
                 c2: float = 0.9, max_evaluations: int = 25) -> Found:
    """A step ``t`` with the strong Wolfe conditions from ``start = φ(0)`` (``slope < 0``), the
    first trial at ``t`` (module docstring)."""
    if not start.slope < 0.0:
        return Found(None, 0)
    prev, n = start, 0
    while n < max_evaluations:
        cur = phi(t)
        n += 1
        if not _decreases(cur, start, c1) or (prev is not start and cur.value >= prev.value):
            return _zoom(phi, start, prev, cur, c1, c2, max_evaluations - n, n)
        if abs(cur.slope) <= -c2 * start.slope:
            return Found(cur, n, True)
        if cur.slope >= 0.0:
            return _zoom(phi, start, cur, prev, c1, c2, max_evaluations - n, n)
        # expand: at least 1.1×, at most 10× the step
        t_next = cubic_step(prev, cur, cur.t + 0.1 * (cur.t - prev.t), 10.0 * cur.t)
        prev, t = cur, t_next
    return Found(prev if prev is not start else None, n)


def _zoom(phi: Callable[[float], Trial], start: Trial, lo: Trial, hi: Trial, c1: float,
          c2: float, budget: int, n: int) -> Found:
    """N&W Algorithm 3.6: ``lo`` has sufficient decrease and the lowest value so far; the
    bracket between ``lo`` and ``hi`` holds a strong Wolfe step."""
    while budget > 0:
        a, b = min(lo.t, hi.t), max(lo.t, hi.t)
        width = b - a
        if width <= 1e-12 * max(b, 1e-300):
            break
        both = math.isfinite(hi.value) and math.isfinite(hi.slope)
        t = cubic_step(lo, hi, a + 0.1 * width, b - 0.1 * width) if both else 0.5 * (a + b)
        cur = phi(t)
        n += 1
        budget -= 1
        if not _decreases(cur, start, c1) or cur.value >= lo.value:
            hi = cur
            continue
        if abs(cur.slope) <= -c2 * start.slope:
            return Found(cur, n, True)
        if cur.slope * (hi.t - lo.t) >= 0.0:
            hi = lo
        lo = cur
    return Found(lo if lo is not start else None, n)


def backtracking(phi: Callable[[float], Trial], start: Trial, decrease: Callable[[Trial], float],
                 t: float, *, c1: float = 1e-4, shrink: float = 0.5,
                 max_evaluations: int = 40) -> Found:
    """The first ``t₀·shrinkʲ`` with ``φ(t) ≤ φ(0) + c₁·decrease(trial)``, where
    ``decrease(trial) = ⟨∇F(x), x_t − x⟩ < 0`` along the (projected) path."""
    for n in range(1, max_evaluations + 1):
        cur = phi(t)
        if math.isfinite(cur.value):
            slope = decrease(cur)
            if slope < 0.0 and cur.value <= start.value + c1 * slope:
                return Found(cur, n)
        t *= shrink
    return Found(None, max_evaluations)
