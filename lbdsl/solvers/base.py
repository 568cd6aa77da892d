"""What every solver shares: the stopping rule, the history, the result.

One stopping rule for all solvers and the training loop (:class:`Stopping`): stop after
``max_iter`` iterations, or when the relative change ``‖x_{k+1} − x_k‖ / max(‖x_k‖, 1e-12)`` and
the solver's optimality measure (primal–dual gap, KKT residual) both fall below ``tol``
(``None``: never); checked every ``check_every`` iterations.  The loop that applies it — the
divergence guard, the monitor, Ctrl-C, resuming — is :func:`lbdsl.solvers.driver.run`.

An interrupted result — and one stopped at a ``max_iter`` on the check grid, which a longer run
passes through too — carries the solver's whole state at that check (``SolveResult.state``:
iterates, duals, step sizes or penalties, the iteration count, the history); handed back as
``solve(problem, settings, resume=state)`` it continues to exactly the result (bit for bit, on
the same backend) that a run which was never stopped reaches.  ``max_iter`` may differ between
the two calls; every other setting and the problem must be the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from array_api_compat import array_namespace

from ..options import option

__all__ = ["Stopping", "SolveResult", "Monitor", "History", "is_finite", "relative_change"]

StopReason = Literal["tol", "max_iter", "diverged", "interrupted", "stalled"]

#: ``monitor(iteration, metrics)`` is called every ``check_every`` iterations with the
#: solver's current metrics (``objective``, ``residual``, ``change``, and ``psnr`` when the
#: caller wraps it with a truth); a progress bar, a logger, or a test probe.
Monitor = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Stopping:
    """The stopping rule shared by all solvers."""

    max_iter: int = option("count", 5000, doc="iterations at most")
    tol: float | None = option("positive", 1e-6, doc="the relative change to stop at")
    check_every: int = option("count", 10, doc="iterations between checks")

    def __post_init__(self) -> None:
        if not (isinstance(self.max_iter, int) and self.max_iter >= 0):
            raise ValueError(f"max_iter must be an integer >= 0, got {self.max_iter!r}")
        if self.tol is not None and not (math.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol must be a positive number, got {self.tol!r}")
        if not (isinstance(self.check_every, int) and self.check_every >= 1):
            raise ValueError(f"check_every must be an integer >= 1, got {self.check_every!r}")


@dataclass
class History:
    """Metrics recorded at every check: parallel lists keyed by metric name."""

    iteration: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def record(self, it: int, values: dict[str, float]) -> None:
        self.iteration.append(it)
        for key, value in values.items():
            self.metrics.setdefault(key, []).append(float(value))

    def copy(self) -> "History":
        return History(list(self.iteration), {k: list(v) for k, v in self.metrics.items()})

    def as_arrays(self) -> dict[str, list[float]]:
        """``{"iteration": [...], "objective": [...], ...}`` (for ``result.npz``)."""
        return {"iteration": [float(i) for i in self.iteration], **self.metrics}


@dataclass
class SolveResult:
    """What a solver returns: the reconstruction, the lifted variables, and how it stopped."""

    u: Any                              # the input, in its declared shape
    iterations: int
    stop_reason: StopReason
    objective: float
    residual: float                     # constraint residual ‖Mu − Vz‖ or the optimality measure
    history: History
    lifted: dict[str, Any] = field(default_factory=dict)   # e.g. {"u": full u, "z": z, "p": dual}
    message: str = ""
    solver: str = ""
    state: dict[str, Any] | None = None  # where the solver stood, to go on (``resume=``)

    @property
    def converged(self) -> bool:
        return self.stop_reason == "tol"


def is_finite(x: Any) -> bool:
    """Whether every entry of ``x`` is finite (one reduction, one host sync)."""
    xp = array_namespace(x)
    return bool(xp.all(xp.isfinite(x)))


def relative_change(new: Any, old: Any) -> float:
    """``‖new − old‖ / max(‖old‖, 1e-12)``."""
    xp = array_namespace(new)
    diff = float(xp.linalg.vector_norm(xp.reshape(new - old, (-1,))))
    ref = float(xp.linalg.vector_norm(xp.reshape(old, (-1,))))
    return diff / max(ref, 1e-12)
