"""What the three variants share under the one loop (:mod:`lbdsl.solvers.driver`): a check.

A variant gives ``measure()`` (the objective per batch row and its optimality measure, max over
the batch), ``extras()`` (its step sizes or penalties) and the current and previous iterate
(``out``, ``out_prev``, ``(B, n)``); a check reports ``objective`` (summed over the batch),
``residual`` (the optimality measure), ``change`` (``‖u_{k+1} − u_k‖ / ‖u_k‖``) and the extras,
and keeps the per-row objective for the result.
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from ..base import relative_change

__all__ = ["PrimalDual"]


class PrimalDual:
    """The check of a pdhg variant (see the module docstring), and ``∇``, ``∇ᵀ`` on its rows.

    A variant sets ``prob`` (the :class:`~.problem.SingleLayer`), ``xp``, ``grad`` (``∇`` on the
    input's shape, None without TV) and its iterates ``x``, ``x_prev`` (ADMM reports its own
    ``out``)."""

    optimality: ClassVar[str] = "residual"
    objective: Any = None          # per batch row, at the last check
    prob: Any
    xp: Any
    grad: Any
    x: Any
    x_prev: Any

    @property
    def out(self) -> Any:
        return self.x

    @property
    def out_prev(self) -> Any:
        return self.x_prev

    def _div_t(self, p: Any) -> Any:
        """``∇ᵀp`` flattened to ``(B, n)``."""
        out = self.grad.adjoint(p)
        return self.xp.reshape(out, (p.shape[0], -1))

    def _grad(self, x: Any) -> Any:
        """``∇x`` of flat rows ``x (B, n)``."""
        return self.grad.forward(self.prob.image(x))

    def measure(self) -> tuple[Any, float]:
        raise NotImplementedError

    def extras(self) -> dict[str, float]:
        return {}

    def check(self, k: int) -> dict[str, float]:
        objective, residual = self.measure()
        self.objective = objective
        xp = array_namespace(objective)
        change = relative_change(self.out, self.out_prev)
        return {"objective": float(xp.sum(objective)), "residual": float(residual),
                "change": change, **self.extras()}
