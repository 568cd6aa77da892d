"""The smooth data term of the inverse problem as a function of the input alone, for the
solvers that differentiate through the network (``gradient``, ``lbfgs``)::

    fidelity = l2:       S(u_0) = ½‖N(u_0) − f‖²,   ∇S = (∂N/∂u_0)ᵀ (N(u_0) − f)
    fidelity = bregman:  S(u_0) = B_Ψ(f, W u_0 + b),  ∇S = Wᵀ(σ(W u_0 + b) − f)   (one layer)

The first by the network runtime's reverse pass
(:meth:`~lbdsl.lift.network.LiftedNetwork.vjp`, the one place σ' is used); the second needs no
σ'.  The solver table lets the Bregman form reach here only for a single layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import SolveError
from ..lift.compact import LiftedProblem
from ..lift.network import terms_adjoint
from .fista import norm

__all__ = ["Misfit"]


@dataclass(frozen=True, eq=False)
class Misfit:
    """``S`` of the module docstring on flat rows ``u_0 (*batch, n_0)``; ``f`` on the
    problem's backend."""

    lp: LiftedProblem
    f: Any
    bregman: bool

    def __post_init__(self) -> None:
        if self.bregman and not math.isfinite(
                float(self.lp.xp.sum(self.lp.layers[0].psi.phi(self.f)))):
            raise SolveError(f"the data lies outside the domain of `{self.lp.layers[0].psi}` "
                             "(B_Ψ(f, ·) = +inf): project it first")

    def value(self, u0: Any) -> float:
        xp, lp = self.lp.xp, self.lp
        tape = lp.tape(u0)
        if self.bregman:
            return float(xp.sum(lp.bregman(self.f, tape.pre[0])))
        r = tape.blocks[lp.output_block] - self.f
        return 0.5 * float(xp.sum(r * r))

    def value_grad(self, u0: Any) -> tuple[float, Any]:
        xp, lp = self.lp.xp, self.lp
        tape = lp.tape(u0)
        if self.bregman:
            v = tape.pre[0]
            value = float(xp.sum(lp.bregman(self.f, v)))
            # one layer, reading the input: the adjoint of its terms
            return value, terms_adjoint(lp.layers[0].terms, lp.params, lp.prox(v) - self.f)
        r = tape.blocks[lp.output_block] - self.f
        g, _ = lp.vjp(tape, {lp.output_block: r})
        return 0.5 * float(xp.sum(r * r)), g

    def misfit(self, u0: Any) -> float:
        """``‖N(u_0) − f‖`` (what a check reports, whatever the fidelity)."""
        return norm(self.lp.tape(u0).blocks[self.lp.output_block] - self.f)
