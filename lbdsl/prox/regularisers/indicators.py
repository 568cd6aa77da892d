"""Indicators of simple sets: ``nonneg`` (``u ≥ 0``) and ``box(lo, hi)`` (``lo ≤ u ≤ hi``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from array_api_compat import array_namespace

from ...options import option
from .base import Fold, Regulariser, feasibility_tol

__all__ = ["Interval", "NonNeg", "Box"]


def _indicator(inside: Any, like: Any) -> Any:
    """``0`` if every entry of ``inside`` holds, else ``+∞`` (a NaN entry counts as outside)."""
    xp = array_namespace(like)
    return xp.sum(xp.where(inside, xp.zeros_like(like), xp.full_like(like, math.inf)))


class Interval(Regulariser):
    """A constraint ``lo ≤ u_i ≤ hi`` on every entry: what a sum intersects and projects on
    after its separable prox (``interval``)."""

    fold: ClassVar[Fold] = "interval"
    indicator: ClassVar[bool] = True


@dataclass(frozen=True)
class NonNeg(Interval):
    """``J = ι_{u ≥ 0}``; ``prox_{cJ}(v) = max(v, 0)`` for every c; ``J* = ι_{v ≤ 0}``.

    Membership is tested with slack ``√ε·1`` (:func:`feasibility_tol`), for rounding.
    """

    name: ClassVar[str] = "nonneg"
    summary: ClassVar[str] = "indicator of u ≥ 0"

    @property
    def interval(self) -> tuple[float, float]:
        return 0.0, math.inf

    def _value(self, u: Any) -> Any:
        return _indicator(u >= -feasibility_tol(u), u)

    def _prox(self, v: Any, c: Any, **_options: Any) -> Any:
        xp = array_namespace(v)
        return xp.clip(v, min=0.0)

    def _conj(self, v: Any) -> Any:
        return _indicator(v <= feasibility_tol(v), v)

    def _conj_prox(self, v: Any, c: Any, **_options: Any) -> Any:
        """``prox_{cJ*}(v) = min(v, 0)``, the projection onto ``dom J*``."""
        xp = array_namespace(v)
        return xp.clip(v, max=0.0)


@dataclass(frozen=True)
class Box(Interval):
    """``J = ι_{lo ≤ u ≤ hi}``; ``prox_{cJ}(v) = min(max(v, lo), hi)`` for every c.

    ``J*(v) = Σ_i max(lo·v_i, hi·v_i) = Σ_i (hi·max(v_i, 0) + lo·min(v_i, 0))`` (the support
    function), +∞ where an infinite bound meets a component of its sign (beyond the slack).
    ``lo`` may be ``−∞`` and ``hi`` ``+∞``; membership is tested with slack
    ``√ε·max(1, |bound|)`` (:func:`feasibility_tol`).
    """

    lo: float = option("number", doc="the lower bound")
    hi: float = option("number", doc="the upper bound")
    name: ClassVar[str] = "box"
    summary: ClassVar[str] = "indicator of lo ≤ u ≤ hi"
    example: ClassVar[str] = "box(0, 1)"

    @property
    def interval(self) -> tuple[float, float]:
        return self.lo, self.hi

    def __post_init__(self) -> None:
        lo, hi = float(self.lo), float(self.hi)
        if math.isnan(lo) or math.isnan(hi) or lo == math.inf or hi == -math.inf or not lo < hi:
            raise ValueError(f"`box` needs lo < hi (with lo < +inf and hi > -inf), got "
                             f"lo = {lo:g}, hi = {hi:g}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def _value(self, u: Any) -> Any:
        tol = feasibility_tol(u)
        inside = ((u >= self.lo - tol * max(1.0, abs(self.lo)))
                  & (u <= self.hi + tol * max(1.0, abs(self.hi))))
        return _indicator(inside, u)

    def _prox(self, v: Any, c: Any, **_options: Any) -> Any:
        xp = array_namespace(v)
        lo = None if math.isinf(self.lo) else self.lo
        hi = None if math.isinf(self.hi) else self.hi
        return xp.clip(v, min=lo, max=hi)

    def _conj(self, v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(_bound_times(xp, v, self.hi, 1.0) + _bound_times(xp, v, self.lo, -1.0))

    def _conj_prox(self, v: Any, c: Any, **_options: Any) -> Any:
        """``prox_{cJ*}(v) = v − min(max(v, c·lo), c·hi)``: 0 inside ``[c·lo, c·hi]``, else the
        excess over the nearer end (exactly 0 there, and exactly ``v`` beyond an infinite end)."""
        xp = array_namespace(v)
        lo = None if math.isinf(self.lo) else c * self.lo
        hi = None if math.isinf(self.hi) else c * self.hi
        return v - xp.clip(v, min=lo, max=hi)


def _bound_times(xp: Any, v: Any, bound: float, sign: float) -> Any:
    """``bound·v`` where ``sign·v > 0``, else 0; an infinite bound gives +∞ there, not ``∞·0``.

    With an infinite bound ``J*`` is an indicator (of ``v ≤ 0`` for ``hi = +∞``), tested with
    slack :func:`feasibility_tol` like the others.
    """
    if math.isinf(bound):
        outside = sign * v > feasibility_tol(v)
        return xp.where(outside, xp.full_like(v, math.inf), xp.zeros_like(v))
    return xp.where(sign * v > 0, bound * v, xp.zeros_like(v))
