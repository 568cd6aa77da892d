"""A sum of regularisers, normalised once: what every solver (and training's state penalties)
reads instead of collapsing ``Σ_i w_i J_i`` by hand.

    J = a·TV + b‖·‖₁ + (c/2)‖·‖² + χ_{[lo, hi]}  (+ w·K, one term of any other kind)

:meth:`RegulariserSum.of` takes ``(regulariser, weight)`` pairs — ``Weighted`` wrappers
unwrapped, weights of one kind added, ``nonneg`` as ``[0, ∞)``, boxes intersected — and refuses
(``SolveError``) what cannot be normalised: a negative or infinite weight, TV on the wrong
shape, an empty box.  It gives

* ``value`` (summed over everything) and ``row_values`` (per batch row), ``+∞`` outside the box
  with each indicator's rounding slack;
* the **l2sq fold** ``prox_{τ(h + (c/2)‖·‖²)}(v) = prox_{sh}(v/(1 + τc))``, ``s = τ/(1 + τc)``
  (complete the square), :meth:`fold`;
* the prox of the **separable part** ``g = b‖·‖₁ + (c/2)‖·‖² + χ_{[lo,hi]}``: the fold, then, for
  a scalar convex φ and an interval I, ``prox_{φ + χ_I} = P_I ∘ prox_φ``:
  ``clip(soft(v/(1 + sc), s'b), lo, hi)`` (:meth:`prox_separable`; ``s`` may be an array, one
  step per entry, for diagonal preconditioning);
* the **conjugate prox** of ``a‖·‖_{2,1}``, the projection onto balls of radius a
  (:meth:`project_tv_dual`), through which the primal–dual solvers reach TV;
* a **subgradient** ``ξ ∈ ∂J(u)`` (TV's of least norm on flat parts, ``sign`` for l1) —
  backpropagation through state penalties and the source condition of the α rules use it;
* the **smoothed** value and gradient ``J_ε``, ``∇J_ε`` (TV and l1 through ``(|·|² + ε²)^½``)
  for quasi-Newton solvers (:meth:`smoothed`).

``kinds`` names what is present: a solver says what it accepts by looking at it.  TV's prox,
iterative and warm-started, is an algorithm and lives with the solvers
(:class:`lbdsl.solvers.input_prox.InputProx`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ...errors import SolveError
from ...ops.gradient import Gradient
from .base import Regulariser, feasibility_tol, unweighted
from .indicators import Box, NonNeg
from .l1 import L1, soft_threshold
from .l2sq import L2Squared
from .mixed_norm import project_balls
from .tv import TV

__all__ = ["RegulariserSum"]


@dataclass(frozen=True)
class RegulariserSum:
    """``J`` of the module docstring on arrays whose last axis flattens ``shape``."""

    shape: tuple[int, ...]
    tv: TV | None = None
    tv_weight: float = 0.0
    l1: float = 0.0
    l2sq: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    other: tuple[Regulariser, float] | None = None

    @classmethod
    def of(cls, items: Iterable[tuple[Regulariser, float]],
           shape: tuple[int, ...]) -> "RegulariserSum":
        """The sum of ``weight · regulariser`` over ``items`` (module docstring)."""
        shape = tuple(int(n) for n in shape)
        acc: dict[str, Any] = {"tv": None, "tv_weight": 0.0, "l1": 0.0, "l2sq": 0.0,
                               "lo": -math.inf, "hi": math.inf}
        others: list[tuple[Regulariser, float]] = []
        for reg, weight in items:
            reg, weight = unweighted(reg, float(weight))
            if isinstance(reg, (NonNeg, Box)):
                lo, hi = (0.0, math.inf) if isinstance(reg, NonNeg) else (reg.lo, reg.hi)
                acc["lo"], acc["hi"] = max(acc["lo"], lo), min(acc["hi"], hi)
                continue
            if not (math.isfinite(weight) and weight >= 0):
                raise SolveError(f"the weight of `{reg.name}` must be finite and >= 0, got "
                                 f"{weight:g}")
            if weight == 0.0:
                continue
            if isinstance(reg, TV):
                _check_tv(reg, acc["tv"], shape)
                acc["tv"], acc["tv_weight"] = reg, acc["tv_weight"] + weight
            elif isinstance(reg, (L1, L2Squared)):
                acc[reg.name] += weight
            else:
                others.append((reg, weight))
        if acc["lo"] > acc["hi"]:
            raise SolveError(f"the constraints on the input are empty (lo = {acc['lo']:g} > "
                             f"hi = {acc['hi']:g})")
        if len(others) > 1:
            names = ", ".join(r.name for r, _ in others)
            raise SolveError(f"cannot combine the regularisers {names} in one sum (supported "
                             "with each other: tv, l1, l2sq, nonneg, box)")
        if acc["tv"] is not None:
            shape = tuple(acc["tv"].shape)
        return cls(shape, other=others[0] if others else None, **acc)

    # -- what is present ---------------------------------------------------------------------
    @property
    def has_box(self) -> bool:
        return self.lo > -math.inf or self.hi < math.inf

    @property
    def separable(self) -> bool:
        """Whether the separable part ``g`` is not identically zero."""
        return bool(self.l1 or self.l2sq or self.has_box)

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds present: ``tv``, ``l1``, ``l2sq``, ``box`` and the other term's name."""
        present = {"tv": self.tv is not None, "l1": bool(self.l1), "l2sq": bool(self.l2sq),
                   "box": self.has_box}
        names = {k for k, on in present.items() if on}
        return frozenset(names | ({self.other[0].name} if self.other else set()))

    @property
    def gradient(self) -> Gradient | None:
        """``∇`` on the input's shape when TV is present."""
        return Gradient(self.shape) if self.tv is not None else None

    def describe(self) -> str:
        parts = [f"{w:g}·{name}" for name, w in (("tv", self.tv_weight), ("l1", self.l1),
                                                 ("l2sq", self.l2sq)) if w]
        if self.has_box:
            parts.append(f"box({self.lo:g}, {self.hi:g})")
        if self.other is not None:
            parts.append(f"{self.other[1]:g}·{self.other[0].name}")
        return " + ".join(parts) or "0"

    # -- values ------------------------------------------------------------------------------
    def image(self, u: Any) -> Any:
        """Flat ``u (..., n)`` in the declared shape."""
        return array_namespace(u).reshape(u, (*u.shape[:-1], *self.shape))

    def value(self, u: Any) -> float:
        """``J(u)`` summed over batch axes (``+inf`` outside the box, with rounding slack)."""
        xp = array_namespace(u)
        total = 0.0
        if self.tv is not None:
            total += self.tv_weight * float(self.tv.value(self.image(u)))
        if self.l1:
            total += self.l1 * float(xp.sum(xp.abs(u)))
        if self.l2sq:
            total += 0.5 * self.l2sq * float(xp.sum(u * u))
        if self.has_box and not bool(xp.all(self._inside(u))):
            return math.inf
        if self.other is not None:
            reg, weight = self.other
            total += weight * float(reg.value(self.image(u)))
        return total

    def row_values(self, u: Any) -> Any:
        """``J`` of each batch row of ``u (B, n)``: shape ``(B,)`` (``other`` excluded)."""
        xp = array_namespace(u)
        total = xp.zeros(u.shape[:1], dtype=u.dtype)
        if self.tv is not None:
            g = self.gradient.forward(xp.reshape(u, (u.shape[0], *self.shape)))
            norms = xp.linalg.vector_norm(g, axis=1)
            total = total + self.tv_weight * xp.sum(xp.reshape(norms, (u.shape[0], -1)), axis=1)
        if self.l1:
            total = total + self.l1 * xp.sum(xp.abs(u), axis=-1)
        if self.l2sq:
            total = total + 0.5 * self.l2sq * xp.sum(u * u, axis=-1)
        if self.has_box:
            inside = xp.all(self._inside(u), axis=-1)
            total = xp.where(inside, total, xp.full_like(total, math.inf))
        return total

    def _inside(self, u: Any) -> Any:
        """Entrywise ``lo ≤ u ≤ hi`` with each bound's slack ``√ε·max(1, |bound|)``."""
        slack = feasibility_tol(u)
        lo = self.lo - slack * max(1.0, abs(self.lo))
        hi = self.hi + slack * max(1.0, abs(self.hi))
        return (u >= lo) & (u <= hi)

    # -- proxes ------------------------------------------------------------------------------
    def fold(self, v: Any, tau: Any) -> tuple[Any, Any]:
        """``(v/(1 + τc), τ/(1 + τc))``: the l2sq term folded into any other prox."""
        if not self.l2sq:
            return v, tau
        return v / (1.0 + tau * self.l2sq), tau / (1.0 + tau * self.l2sq)

    def prox_folded(self, v: Any, s: Any) -> Any:
        """``prox_{s(b‖·‖₁ + χ_{[lo,hi]})}(v) = clip(soft(v, s·b), lo, hi)`` (after the fold)."""
        xp = array_namespace(v)
        out = soft_threshold(v, s * self.l1) if self.l1 else v
        if self.has_box:
            out = xp.clip(out, min=None if math.isinf(self.lo) else self.lo,
                          max=None if math.isinf(self.hi) else self.hi)
        return out

    def prox_separable(self, v: Any, s: Any) -> Any:
        """``prox_{s·g}(v)`` for the separable part ``g`` (module docstring)."""
        return self.prox_folded(*self.fold(v, s))

    def project_tv_dual(self, p: Any) -> Any:
        """``prox_{σ(a‖·‖_{2,1})*}(p)``: each ``p_i`` onto the ball of radius ``a`` (every σ)."""
        return project_balls(p, self.tv_weight, -len(self.shape) - 1)

    # -- subgradients ------------------------------------------------------------------------
    def subgradient(self, u: Any) -> Any:
        """``ξ ∈ ∂(a·TV + b‖·‖₁ + (c/2)‖·‖²)(u)`` for rows ``u (B, n)``: ``a·∇ᵀq`` with
        ``q = ∇u/‖∇u‖`` where the gradient jumps and ``q = 0`` on flat parts, ``b·sign(u)``
        (0 at 0), ``c·u``."""
        xp = array_namespace(u)
        xi = xp.zeros_like(u)
        if self.tv is not None:
            grad = self.gradient
            g = grad.forward(xp.reshape(u, (u.shape[0], *self.shape)))
            norms = xp.linalg.vector_norm(g, axis=1, keepdims=True)
            scale = float(xp.max(xp.abs(u))) if u.shape[1] else 1.0
            jump = norms > 1e-12 * max(scale, 1.0)
            q = xp.where(jump, g / xp.where(jump, norms, xp.ones_like(norms)), xp.zeros_like(g))
            xi = xi + self.tv_weight * xp.reshape(grad.adjoint(q), u.shape)
        if self.l1:
            xi = xi + self.l1 * xp.sign(u)
        if self.l2sq:
            xi = xi + self.l2sq * u
        return xi

    # -- smoothing ---------------------------------------------------------------------------
    def smoothed(self, u: Any, eps: float) -> tuple[float, Any]:
        """``(J_ε(u), ∇J_ε(u))`` for rows ``u (B, n)``, the box and ``other`` left out::

            J_ε(u) = a·Σ_i (|∇u|_i² + ε²)^½ + b·Σ_i (u_i² + ε²)^½ + (c/2)‖u‖²

        smooth for ``ε > 0``, with ``0 ≤ J_ε − J ≤ ε·(a + b)·n`` per row (``n`` entries) and
        ``∇J_ε = a·∇ᵀ(∇u / (|∇u|² + ε²)^½) + b·u / (u² + ε²)^½ + c·u``."""
        xp = array_namespace(u)
        value, grad = 0.0, xp.zeros_like(u)
        if self.tv is not None:
            op = self.gradient
            g = op.forward(xp.reshape(u, (u.shape[0], *self.shape)))
            mag = xp.sqrt(xp.sum(g * g, axis=1, keepdims=True) + eps * eps)
            value += self.tv_weight * float(xp.sum(mag))
            grad = grad + self.tv_weight * xp.reshape(op.adjoint(g / mag), u.shape)
        if self.l1:
            mag = xp.sqrt(u * u + eps * eps)
            value += self.l1 * float(xp.sum(mag))
            grad = grad + self.l1 * (u / mag)
        if self.l2sq:
            value += 0.5 * self.l2sq * float(xp.sum(u * u))
            grad = grad + self.l2sq * u
        return value, grad


def _check_tv(reg: TV, seen: TV | None, shape: tuple[int, ...]) -> None:
    if math.prod(reg.shape) != math.prod(shape):
        raise SolveError(f"tv acts on shape {reg.shape} but the input has shape {shape}")
    if seen is not None and tuple(seen.shape) != tuple(reg.shape):
        raise SolveError("two TV terms on different shapes cannot be combined")
