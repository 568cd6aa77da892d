"""A vectorised safeguarded Newton method for increasing scalar equations ``g(x) = 0``.

The scaled proxes of the Legendre Ψ's (tanh, sigmoid, softmax) have no closed form: each
reduces to one strictly increasing scalar equation per entry with a known bracket.  This module
solves a whole array of them at once, on any array-API namespace, to machine precision.

The method is Newton's, safeguarded as in *rtsafe* (Numerical Recipes §9.4): every evaluation
shrinks the bracket ``[lo, hi]``, and a Newton step that leaves the bracket, or that would not at
least halve the step before last, is replaced by bisection.  So the iteration converges for any
increasing ``g`` (bisection alone gains one bit per step) and quadratically near a simple root.
Two additions: brackets spanning orders of magnitude are split geometrically, and the caller's
bracket ends (never evaluated, and only as exact as the caller's rounding) may be visited by a
Newton step that points past them, so that a root sitting on an end is found in one step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_namespace

__all__ = ["solve_increasing", "lambert_w_exp"]

#: ``fun(x) -> (g(x), g'(x), size(x))`` with ``g`` increasing, all of ``x``'s shape; ``size``
#: bounds the magnitude of the terms summed in ``g`` (its rounding error is ~eps·size).
IncreasingFunction = Callable[[Any], tuple[Any, Any, Any]]


def solve_increasing(fun: IncreasingFunction, lo: Any, hi: Any, x0: Any, *,
                     max_iter: int = 200) -> Any:
    """The root of ``g(x) = 0`` in ``[lo, hi]``, entrywise, for ``g`` increasing.

    ``fun(x)`` returns ``(g(x), g'(x), size(x))`` entrywise (see :data:`IncreasingFunction`);
    ``g(lo) <= 0 <= g(hi)`` must hold (finite brackets) and ``x0`` is the starting guess
    (clipped into the bracket).  An entry stops when ``|g(x)|`` is at its rounding level
    ``4·eps·size(x)`` (the root is then known as well as ``g`` can tell), or when its step or
    bracket is below a few ulps of ``x``; the loop stops when every entry has.  ``max_iter``
    bounds the work: bisection alone needs about ``log2(width / ulp)`` steps (fewer with the
    geometric splits of :func:`_split`).
    """
    xp = array_namespace(x0, lo, hi)
    finfo = xp.finfo(x0.dtype)
    rtol, atol = 4.0 * float(finfo.eps), float(finfo.smallest_normal)
    lo, hi = lo + 0.0 * x0, hi + 0.0 * x0  # broadcast to x0's shape (and copy)
    hi = xp.maximum(hi, lo)  # a bracket inverted by rounding is a point
    x = xp.clip(x0, lo, hi)
    step_before = hi - lo  # rtsafe's |dx_old|: a Newton step must beat half of it
    step = step_before
    done = xp.zeros(x.shape, dtype=xp.bool)
    lo_seen, hi_seen = done, done  # whether g was evaluated at the current ends
    for _ in range(max_iter):
        g, dg, size = fun(x)
        done = done | (xp.abs(g) <= rtol * size)
        if bool(xp.all(done)):
            break
        lo_seen, hi_seen = lo_seen | (g < 0), hi_seen | (g > 0)
        lo = xp.where(g < 0, x, lo)
        hi = xp.where(g > 0, x, hi)
        newton = g / xp.where(dg > 0, dg, 1.0)
        target = x - newton
        # Newton is trusted only with a positive slope, inside the bracket, and when it at
        # least halves the step before last (otherwise it may creep along a flat tail).
        trusted = ((dg > 0) & (target >= lo) & (target <= hi)
                   & (xp.abs(newton) <= 0.5 * xp.abs(step_before)))
        # A root at (or, by rounding of the caller's bracket, just beyond) an end that was never
        # evaluated would be approached by bisection forever: Newton pointing past such an end
        # goes to the end instead, whose value then closes the bracket.
        to_lo = (dg > 0) & (target < lo) & ~lo_seen
        to_hi = (dg > 0) & (target > hi) & ~hi_seen
        delta = xp.where(trusted, newton, x - _split(xp, lo, hi))
        delta = xp.where(to_lo, x - lo, xp.where(to_hi, x - hi, delta))
        delta = xp.where(done, 0.0, delta)
        x = x - delta
        step_before, step = step, delta
        small = xp.abs(delta) <= rtol * xp.abs(x) + atol
        collapsed = (hi - lo) <= rtol * xp.maximum(xp.abs(lo), xp.abs(hi)) + atol
        done = done | small | collapsed
        if bool(xp.all(done)):
            break
    return x


def _split(xp: Any, lo: Any, hi: Any) -> Any:
    """The bisection point of ``[lo, hi]``: arithmetic, or geometric across orders of magnitude.

    A bracket like ``[1e-2, 1e6]`` (scaled proxes with c = 1e-6) holds a root of size ~10;
    halving it arithmetically costs ~20 steps, geometrically ~5.  So: a bracket that straddles 0
    widely is split at 0; one on one side of 0 whose ends differ by more than a factor 4 (with
    1 as the floor of the small end) is split at the geometric mean; else at the midpoint.
    """
    small = xp.minimum(xp.abs(lo), xp.abs(hi))
    large = xp.maximum(xp.abs(lo), xp.abs(hi))
    straddles = (lo < 0) & (hi > 0)
    floor = xp.maximum(small, 1.0)
    geometric = xp.sqrt(floor) * xp.sqrt(large)
    geometric = xp.where(hi > 0, geometric, -geometric)
    middle = 0.5 * lo + 0.5 * hi  # not (lo + hi)/2: no overflow near the float32 range
    wide = large > 4.0 * floor
    return xp.where(wide, xp.where(straddles, 0.0, geometric), middle)


def lambert_w_exp(log_x: Any) -> Any:
    """The Lambert function ``W(x)`` (``W e^W = x``) at ``x = e^{log_x}``, to a few ulps.

    Start from Winitzki's ``W ≈ ℓ(1 − log(1 + ℓ)/(2 + ℓ))``, ``ℓ = log(1 + x)`` (≈2% relative),
    then three Newton steps in ``y = log w`` on ``e^y + y = log_x``.  Taking ``log x`` as
    the argument makes ``x = e^{1000}`` fine.  Below ``x = e^{−20}``, ``W(x) = x(1 − x + …)`` is
    Winitzki's value to rounding and no refinement is needed.  The scaled proxes use it to start
    Newton near the roots of ``A e^{−δ} = c δ`` in exponential tails (``δ = W((A/c))``).
    """
    xp = array_namespace(log_x)
    ell = xp.maximum(log_x, 0.0) + xp.log1p(xp.exp(-xp.abs(log_x)))  # log(1 + x), stably
    w = ell * (1.0 - xp.log1p(ell) / (2.0 + ell))
    refine = log_x > -20.0
    # Newton in y = log w on e^y + y = log x: convex and increasing, so from any start it
    # stays real and converges (after at most one overshoot) monotonically.
    y = xp.log(xp.where(refine, w, 1.0))  # w > 0 wherever refinement is wanted
    for _ in range(3):
        e = xp.exp(xp.minimum(y, 80.0))
        y = y - (e + y - log_x) / (e + 1.0)
    return xp.where(refine, xp.exp(xp.minimum(y, 80.0)), w)
