"""``PDHGSettings``: which variant, its step sizes or penalties, and the shared stopping rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ...errors import SolveError
from ...options import option
from ..base import Stopping

__all__ = ["PDHGSettings", "StepSizeError", "Variant", "VARIANTS"]

Variant = Literal["auto", "admm", "precond", "condat_vu"]
VARIANTS: tuple[str, ...] = ("auto", "admm", "precond", "condat_vu")


class StepSizeError(SolveError, ValueError):
    """User step sizes that break a variant's convergence condition (the message states it)."""


def _positive_or_none(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class PDHGSettings:
    """Settings of :func:`lbdsl.solvers.pdhg.pdhg`.

    ``variant``:
      * ``"admm"`` — ADMM on ``z₁ = W u + b``, ``z₂ = ∇u`` (, ``z₃ = u``) with the exact
        ``u``-solve (Woodbury through an m×m eigendecomposition plus the DCT-diagonalised
        Neumann Laplacian), over-relaxation ``relaxation`` and residual balancing of the
        penalties (``adapt``).  ADMM is PDHG in the metric of ``KᵀRK`` (Chambolle & Pock 2011,
        §4.3), which is why it lives here.  Needs a dense copy of ``W`` in the DCT basis
        (``m·n ≤ max_dense`` entries).
      * ``"precond"`` — PDHG with the diagonal preconditioners of Pock & Chambolle (2011), the
        data term in the dual; ``tau``/``sigma`` scale the diagonal steps (``τσ ≤ 1``).
      * ``"condat_vu"`` — the seed's Condat–Vũ iteration: explicit gradient of the data term,
        TV in the dual; ``tau``/``sigma`` must satisfy ``1/τ − σ‖∇‖² ≥ ‖W‖²/2``.
      * ``"auto"`` — ``condat_vu`` when ``tau`` or ``sigma`` is given, else ``admm`` when
        ``m·n ≤ max_dense`` and ``m ≤ max_gram`` (its setup costs ``O(m²n + m³)``: an m×m
        eigendecomposition), else ``precond`` (dense or conv2d ``W``), else ``condat_vu``.

    ``adapt``: ADMM's residual balancing of the penalties (default on) or ``precond``'s
    adaptive step balancing (default off: on experiment 1 it was slower than the fixed
    ``τ = 1/σ = (‖W‖²/‖∇‖²)^{½}``); None takes the variant's default.

    ``rho`` is ADMM's initial penalty on the TV block (the others start in proportion to the
    squared column norms of their operators); ``norm_safety`` multiplies the power-iteration
    estimate of ‖W‖ before a step rule uses it.
    """

    stopping: Stopping = field(default_factory=Stopping)
    variant: Variant = "auto"
    tau: float | None = option("positive", None, doc="the primal step")
    sigma: float | None = option("positive", None, doc="the dual step")
    rho: float | None = None
    adapt: bool | None = None
    adapt_every: int = 10
    adapt_until: int = 5000
    relaxation: float = 1.6
    norm_safety: float = 1.01
    max_dense: int = 64_000_000
    max_gram: int = 4096

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown pdhg variant {self.variant!r}: choose one of "
                             f"{', '.join(VARIANTS)}")
        _positive_or_none("tau", self.tau)
        _positive_or_none("sigma", self.sigma)
        _positive_or_none("rho", self.rho)
        if self.variant == "admm" and (self.tau is not None or self.sigma is not None):
            raise ValueError("tau and sigma are step sizes of `condat_vu` and `precond`; "
                             "`admm` takes rho")
        if not 0.0 < self.relaxation < 2.0:
            raise ValueError(f"relaxation must lie in (0, 2), got {self.relaxation!r}")
        if not self.norm_safety >= 1.0:
            raise ValueError(f"norm_safety must be >= 1, got {self.norm_safety!r}")
        for name in ("adapt_every", "adapt_until", "max_dense", "max_gram"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
