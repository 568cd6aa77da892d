"""The regulariser on the network input as ONE proximable function, for proximal-gradient solvers.

    G(u_0) = a·TV(u_0) + b‖u_0‖₁ + (c/2)‖u_0‖² + χ_{[lo, hi]}(u_0)

collects an :class:`~.problems.InverseProblem`'s weighted terms (``Weighted`` wrappers unwrapped,
weights of repeated kinds added) and its constraints (``nonneg`` is ``[0, ∞)``, boxes are
intersected).  ``prox_{τG}`` of the *sum*, not a sum of proxes:

- ``l2sq`` folds into any prox: ``prox_{τ(h + (c/2)‖·‖²)}(v) = prox_{sh}(v/(1 + τc))`` with
  ``s = τ/(1 + τc)`` (complete the square);
- ``l1`` and the box are separable and scalar, and for a scalar convex ``φ`` and an interval
  ``I``, ``prox_{φ + χ_I} = P_I ∘ prox_φ``: ``clip(soft(v, s·b), lo, hi)``;
- TV alone: its own dual solver (:meth:`TV.prox_with_dual`), warm-started from the previous dual;
- TV with ``l1`` or a box: the same dual projected gradient (FGP, Beck & Teboulle 2009) with the
  inner minimiser ``u(q) = prox_{s·k}(v + div q)``, ``k = b‖·‖₁ + χ_{[lo,hi]}``.  From
  ``s·a·TV(u) = max_{‖q_i‖ ≤ s·a} ⟨q, ∇u⟩`` the dual function ``D(q) = min_u ½‖u − v‖² + s·k(u)
  + ⟨q, ∇u⟩`` has gradient ``∇u(q)``, Lipschitz with constant ``‖∇‖²`` (``prox`` is
  1-Lipschitz), so ``q ← P(q + ∇u(q)/‖∇‖²)``.  Primal and dual are evaluated at the same
  ``u = u(q)``, so the gap is ``Σ_i (s·a‖(∇u)_i‖ − ⟨(∇u)_i, q_i⟩)`` as for TV alone, and the
  1-strong convexity of the primal certifies ``‖u − u*‖ ≤ sqrt(2·gap)``.

A regulariser of another kind is accepted when it is the only non-smooth one (its own ``prox``);
anything else is refused with a one-line reason.  Arrays are flat ``(..., size(u_0))``, batch
axes allowed; TV sees them in the input's declared shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

from ..errors import SolveError
from ..prox.regularisers.base import Regulariser, unweighted
from ..prox.regularisers.indicators import Box, NonNeg
from ..prox.regularisers.l1 import L1, soft_threshold
from ..prox.regularisers.l2sq import L2Squared
from ..prox.regularisers.mixed_norm import project_balls
from ..prox.regularisers.tv import TV
from .problems import InverseProblem

__all__ = ["InputProx"]


@dataclass
class InputProx:
    """``G`` of the module docstring; ``prox`` keeps the last TV dual for its warm start."""

    shape: tuple[int, ...]
    tv: TV | None = None
    tv_weight: float = 0.0
    l1: float = 0.0
    l2sq: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    other: tuple[Regulariser, float] | None = None
    inner_max_iter: int = 300
    floor: float = 1e-7          # the smallest accuracy an adaptive TV prox is asked for
    inner_iterations: int = 0    # TV dual steps taken so far (reported by the solvers)
    _dual: Any = None
    _last: Any = None

    @classmethod
    def from_problem(cls, problem: InverseProblem) -> "InputProx":
        g = cls(shape=tuple(problem.input_shape))
        others: list[tuple[Regulariser, float]] = []
        for term in problem.terms:
            reg, weight = unweighted(term.reg, float(term.weight))
            if weight == 0.0:
                continue
            if isinstance(reg, TV):
                if g.tv is not None and tuple(g.tv.shape) != tuple(reg.shape):
                    raise SolveError("two TV terms on different shapes cannot be combined")
                g.tv, g.tv_weight = reg, g.tv_weight + weight
            elif isinstance(reg, L1):
                g.l1 += weight
            elif isinstance(reg, L2Squared):
                g.l2sq += weight
            elif isinstance(reg, (NonNeg, Box)):
                g._intersect(reg)
            else:
                others.append((reg, weight))
        for con in problem.constraints:
            reg, _ = unweighted(con, 1.0)
            if isinstance(reg, (NonNeg, Box)):
                g._intersect(reg)
            else:
                others.append((reg, 1.0))
        if others:
            if len(others) > 1 or g.tv is not None or g.l1 or g.has_box:
                names = ", ".join(r.name for r, _ in others)
                raise SolveError(f"cannot combine the regulariser(s) {names} with the other terms "
                                 "in one proximal step (supported: tv, l1, l2sq, nonneg, box)")
            g.other = others[0]
        if g.lo > g.hi:
            raise SolveError(f"the constraints on the input are empty (lo = {g.lo:g} > "
                             f"hi = {g.hi:g})")
        return g

    def _intersect(self, reg: Regulariser) -> None:
        if isinstance(reg, NonNeg):
            lo, hi = 0.0, math.inf
        else:
            lo, hi = reg.lo, reg.hi  # type: ignore[attr-defined]
        self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)

    @property
    def has_box(self) -> bool:
        return self.lo > -math.inf or self.hi < math.inf

    @property
    def is_zero(self) -> bool:
        return (self.tv is None and not self.l1 and not self.l2sq and not self.has_box
                and self.other is None)

    def describe(self) -> str:
        parts = []
        if self.tv is not None:
            parts.append(f"{self.tv_weight:g}·tv")
        if self.l1:
            parts.append(f"{self.l1:g}·l1")
        if self.l2sq:
            parts.append(f"{self.l2sq:g}·l2sq")
        if self.has_box:
            parts.append(f"box({self.lo:g}, {self.hi:g})")
        if self.other is not None:
            parts.append(f"{self.other[1]:g}·{self.other[0].name}")
        return " + ".join(parts) or "0"

    # ------------------------------------------------------------------------------------------
    def _image(self, u: Any) -> Any:
        xp = array_namespace(u)
        return xp.reshape(u, (*u.shape[:-1], *self.shape))

    def _flat(self, u: Any, like: Any) -> Any:
        return array_namespace(u).reshape(u, like.shape)

    def value(self, u: Any) -> float:
        """``G(u)`` summed over batch axes (``+inf`` outside the box, with rounding slack)."""
        xp = array_namespace(u)
        total = 0.0
        if self.tv is not None:
            total += self.tv_weight * float(self.tv.value(self._image(u)))
        if self.l1:
            total += self.l1 * float(xp.sum(xp.abs(u)))
        if self.l2sq:
            total += 0.5 * self.l2sq * float(xp.sum(u * u))
        if self.has_box:
            slack = math.sqrt(float(xp.finfo(u.dtype).eps))
            if self.lo > -math.inf and float(xp.min(u)) < self.lo - slack * max(1.0, abs(self.lo)):
                return math.inf
            if self.hi < math.inf and float(xp.max(u)) > self.hi + slack * max(1.0, abs(self.hi)):
                return math.inf
        if self.other is not None:
            reg, weight = self.other
            total += weight * float(reg.value(self._image(u)))
        return total

    def _separable(self, v: Any, s: float) -> Any:
        xp = array_namespace(v)
        out = soft_threshold(v, s * self.l1) if self.l1 else v
        if self.has_box:
            lo = None if math.isinf(self.lo) else self.lo
            hi = None if math.isinf(self.hi) else self.hi
            out = xp.clip(out, min=lo, max=hi)
        return out

    def state(self) -> dict[str, Any]:
        """What ``prox`` keeps between calls (the TV warm start, the last input, the count)."""
        return {"dual": self._dual, "last": self._last, "inner_iterations": self.inner_iterations}

    def restore(self, state: dict[str, Any]) -> None:
        self._dual, self._last = state["dual"], state["last"]
        self.inner_iterations = int(state["inner_iterations"])

    def prox(self, v: Any, tau: float, tol: float | None = None) -> Any:
        """``prox_{τG}(v)``; ``tol`` is the relative accuracy asked of an iterative TV prox.

        ``tol`` None adapts it to the outer iteration: a tenth of the relative change of ``v``
        since the previous call, between :attr:`floor` and 1e-2 — an outer method that moves
        little needs, and gets, an accurate prox, and an early one does not pay for it.
        """
        if tol is None and self.tv is not None:
            tol = 1e-2
            if self._last is not None and self._last.shape == v.shape:
                xp = array_namespace(v)
                moved = float(xp.linalg.vector_norm(xp.reshape(v - self._last, (-1,))))
                size = float(xp.linalg.vector_norm(xp.reshape(v, (-1,))))
                tol = min(max(0.1 * moved / max(size, 1e-30), self.floor), 1e-2)
            self._last = v
        tol = 1e-4 if tol is None else tol
        if self.l2sq:
            v = v / (1.0 + tau * self.l2sq)
            tau = tau / (1.0 + tau * self.l2sq)
        if self.other is not None:
            reg, weight = self.other
            return self._flat(reg.prox(self._image(v), tau * weight), v)
        if self.tv is None:
            return self._separable(v, tau)
        c = tau * self.tv_weight
        image = self._image(v)
        if not self.l1 and not self.has_box:
            res = self.tv.prox_with_dual(image, c, tol=tol, max_iter=self.inner_max_iter,
                                         p0=self._dual)
            self._dual = res.p
            self.inner_iterations += res.iterations
            return self._flat(res.u, v)
        u, self._dual = self._tv_separable(image, c, tau, tol)
        return self._flat(u, v)

    def _tv_separable(self, v: Any, c: float, s: float, tol: float) -> tuple[Any, Any]:
        """``prox`` of ``c·TV + s·k`` by FGP on TV's dual (module docstring); ``(u, q/c)``."""
        assert self.tv is not None
        xp = array_namespace(v)
        grad = self.tv.operator
        axis = -len(self.shape) - 1
        step = 1.0 / grad.norm_squared_bound
        inner = lambda q: self._separable(v + grad.divergence(q), s)  # noqa: E731
        if self._dual is None or tuple(self._dual.shape[:v.ndim - len(self.shape)]) != \
                tuple(v.shape[:v.ndim - len(self.shape)]):
            q = xp.zeros((*v.shape[:v.ndim - len(self.shape)], *grad.shape_out),
                         dtype=v.dtype, device=device(v))
        else:
            q = c * project_balls(xp.astype(self._dual, v.dtype), 1.0, axis)
        scale = max(float(xp.linalg.vector_norm(xp.reshape(v, (-1,)))), 1e-30)
        eps = float(xp.finfo(v.dtype).eps)
        floor = 4.0 * len(self.shape) * eps * c * math.prod(v.shape) * \
            float(xp.max(xp.abs(v)) + 1.0)
        target = max(0.5 * (tol * scale) ** 2, floor)
        r, t = q, 1.0
        for k in range(1, self.inner_max_iter + 1):
            q_next = project_balls(r + step * grad.forward(inner(r)), c, axis)
            if float(xp.sum((r - q_next) * (q_next - q))) > 0:
                r, t = q_next, 1.0
            else:
                t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
                r = q_next + ((t - 1.0) / t_next) * (q_next - q)
                t = t_next
            q = q_next
            self.inner_iterations += 1
            if k % 5 == 0:
                g = grad.forward(inner(q))
                gap = float(xp.sum(c * xp.linalg.vector_norm(g, axis=axis)
                                   - xp.sum(g * q, axis=axis)))
                if gap <= target:
                    break
        return inner(q), q / c
