"""``prox_{τJ}`` of the regulariser on the network input, for proximal-gradient solvers.

``J`` is the problem's :class:`~lbdsl.prox.regularisers.composite.RegulariserSum`
``a·TV + φ + (c/2)‖·‖² + χ_{[lo, hi]}`` (TV: its gradient term; φ its separable term, e.g.
``b‖·‖₁``), or one term reached only through its own prox (with the quadratic).  ``prox_{τJ}``
of the *sum*, not a sum of proxes: the sum folds the quadratic and gives the separable part's
closed form; what is left here is the gradient term, whose prox is iterative:

- TV alone: its own dual solver (:meth:`TV.prox_with_dual`), warm-started from the previous dual;
- TV with a separable part: the same dual projected gradient (FGP, Beck & Teboulle 2009) with
  the inner minimiser ``u(q) = prox_{s·k}(v + div q)``, ``k = φ + χ_{[lo,hi]}``.  From
  ``s·a·TV(u) = max_{‖q_i‖ ≤ s·a} ⟨q, ∇u⟩`` the dual function ``D(q) = min_u ½‖u − v‖² + s·k(u)
  + ⟨q, ∇u⟩`` has gradient ``∇u(q)``, Lipschitz with constant ``‖∇‖²`` (``prox`` is
  1-Lipschitz), so ``q ← P(q + ∇u(q)/‖∇‖²)``.  Primal and dual are evaluated at the same
  ``u = u(q)``, so the gap is ``Σ_i (s·a‖(∇u)_i‖ − ⟨(∇u)_i, q_i⟩)`` as for TV alone, and the
  1-strong convexity of the primal certifies ``‖u − u*‖ ≤ sqrt(2·gap)``.

Arrays are flat ``(..., size(u_0))``, batch axes allowed; TV sees them in the input's declared
shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

from ..errors import SolveError
from ..prox.regularisers.composite import CAPABILITIES, RegulariserSum
from .problems import InverseProblem

__all__ = ["InputProx"]


@dataclass
class InputProx:
    """``prox_{τJ}`` of the module docstring; keeps the last TV dual for its warm start."""

    reg: RegulariserSum
    inner_max_iter: int = 300
    floor: float = 1e-7          # the smallest accuracy an adaptive TV prox is asked for
    inner_iterations: int = 0    # TV dual steps taken so far (reported by the solvers)
    _dual: Any = None
    _last: Any = None

    @classmethod
    def from_problem(cls, problem: InverseProblem) -> "InputProx":
        reg = problem.regulariser
        reason = CAPABILITIES["proximable"](reg.form)
        if reason is not None:
            raise SolveError(reason)
        return cls(reg)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.reg.shape

    def value(self, u: Any) -> float:
        """``J(u)`` summed over batch axes."""
        return self.reg.value(u)

    def state(self) -> dict[str, Any]:
        """What ``prox`` keeps between calls (the TV warm start, the last input, the count)."""
        return {"dual": self._dual, "last": self._last, "inner_iterations": self.inner_iterations}

    def restore(self, state: dict[str, Any]) -> None:
        self._dual, self._last = state["dual"], state["last"]
        self.inner_iterations = int(state["inner_iterations"])

    def _flat(self, u: Any, like: Any) -> Any:
        return array_namespace(u).reshape(u, like.shape)

    def prox(self, v: Any, tau: float, tol: float | None = None) -> Any:
        """``prox_{τJ}(v)``; ``tol`` is the relative accuracy asked of an iterative TV prox.

        ``tol`` None adapts it to the outer iteration: a tenth of the relative change of ``v``
        since the previous call, between :attr:`floor` and 1e-2 — an outer method that moves
        little needs, and gets, an accurate prox, and an early one does not pay for it.
        """
        reg = self.reg
        if tol is None and reg.gradient_term is not None:
            tol = 1e-2
            if self._last is not None and self._last.shape == v.shape:
                xp = array_namespace(v)
                moved = float(xp.linalg.vector_norm(xp.reshape(v - self._last, (-1,))))
                size = float(xp.linalg.vector_norm(xp.reshape(v, (-1,))))
                tol = min(max(0.1 * moved / max(size, 1e-30), self.floor), 1e-2)
            self._last = v
        tol = 1e-4 if tol is None else tol
        v, tau = reg.fold(v, tau)
        if reg.prox_term is not None:
            other, weight = reg.prox_term
            return self._flat(other.prox(reg.image(v) if other.needs_shape else v,
                                         tau * weight), v)
        if reg.gradient_term is None:
            return reg.prox_folded(v, tau)
        tv, weight = reg.gradient_term
        c = tau * weight
        image = reg.image(v)
        if reg.separable_term is None and not reg.has_box:
            res = tv.prox_with_dual(image, c, tol=tol, max_iter=self.inner_max_iter,
                                    p0=self._dual)
            self._dual = res.p
            self.inner_iterations += res.iterations
            return self._flat(res.u, v)
        u, self._dual = self._tv_separable(image, c, tau, tol)
        return self._flat(u, v)

    def _tv_separable(self, v: Any, c: float, s: float, tol: float) -> tuple[Any, Any]:
        """``prox`` of ``c·TV + s·k`` by FGP on TV's dual (module docstring); ``(u, q/c)``."""
        reg = self.reg
        xp = array_namespace(v)
        grad = reg.gradient
        assert grad is not None
        step = 1.0 / grad.norm_squared_bound
        inner = lambda q: reg.prox_folded(v + grad.divergence(q), s)  # noqa: E731
        if self._dual is None or tuple(self._dual.shape[:v.ndim - len(self.shape)]) != \
                tuple(v.shape[:v.ndim - len(self.shape)]):
            q = xp.zeros((*v.shape[:v.ndim - len(self.shape)], *grad.shape_out),
                         dtype=v.dtype, device=device(v))
        else:
            q = c * reg.project_dual(xp.astype(self._dual, v.dtype), 1.0)
        scale = max(float(xp.linalg.vector_norm(xp.reshape(v, (-1,)))), 1e-30)
        eps = float(xp.finfo(v.dtype).eps)
        floor = 4.0 * len(self.shape) * eps * c * math.prod(v.shape) * \
            float(xp.max(xp.abs(v)) + 1.0)
        target = max(0.5 * (tol * scale) ** 2, floor)
        r, t = q, 1.0
        for k in range(1, self.inner_max_iter + 1):
            q_next = reg.project_dual(r + step * grad.forward(inner(r)), c)
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
                axis = -len(self.shape) - 1
                gap = float(xp.sum(c * xp.linalg.vector_norm(g, axis=axis)
                                   - xp.sum(g * q, axis=axis)))
                if gap <= target:
                    break
        return inner(q), q / c
