"""The lowered inverse problem every inversion solver accepts.

    min_u  F(N(u_0), f) + Σ_i α_i J_i(u_0) + Σ_j χ_{C_j}(u_0)

with ``N`` a network in compact form (``K u``, ``M u = V prox_Ψ(W u + b)``) and the fidelity
``F`` either the lifted Bregman energy ``E^ρ_Ψ`` (``fidelity = "bregman"``; for one layer simply
``B_Ψ(f, W u + b)``) or the quadratic misfit ``½‖N(u_0) − f‖²`` (``"l2"``, the baseline).
A solver takes what it needs from here and refuses, with a one-line reason, a problem it
cannot handle (its :class:`~lbdsl.solvers.info.SolverInfo`: ``pdhg`` one layer, ``coordinate``
a shallow sum with ``l2sq``, …).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from ..lift.compact import LiftedProblem
from ..lift.structure import Structure, structure
from ..prox.regularisers.base import Regulariser
from ..prox.regularisers.composite import RegulariserSum

__all__ = ["Term", "InverseProblem"]


@dataclass(frozen=True, eq=False)
class Term:
    """``weight · J`` on the network input (``J`` acts on the input's declared shape)."""

    weight: float
    reg: Regulariser


@dataclass(frozen=True, eq=False)
class InverseProblem:
    """Recover ``u_0`` from data ``f ≈ N(u_0)`` (flat, on the problem's backend and dtype).

    ``terms`` are the weighted regularisers with α already multiplied in (``α·w_i``);
    ``constraints`` the unweighted indicators (``nonneg``, ``box``).  ``f`` has already been
    projected onto the domain of the last layer's Ψ where the fidelity is ``bregman``.
    """

    lifted: LiftedProblem
    f: Any
    terms: tuple[Term, ...] = ()
    constraints: tuple[Regulariser, ...] = ()
    fidelity: Literal["bregman", "l2"] = "bregman"
    lam: float = 1.0
    rho: float = 1e3

    @property
    def xp(self) -> Any:
        return self.lifted.xp

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.lifted.u_blocks[0].shape

    @property
    def structure(self) -> Structure:
        """The network's structure (single layer, shallow sum, …)."""
        return structure(self.lifted)

    @functools.cached_property
    def regulariser(self) -> RegulariserSum:
        """``Σ α_i J_i + Σ_j χ_{C_j}`` normalised once (``SolveError`` if it cannot be)."""
        items = [(t.reg, t.weight) for t in self.terms] + [(c, 1.0) for c in self.constraints]
        return RegulariserSum.of(items, tuple(int(n) for n in self.input_shape))
