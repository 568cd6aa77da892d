"""A tiny stand-in solver with the real solver contract, for testing the task runner alone.

It does not minimise anything interesting: u moves linearly from 0 towards ``target`` over
``max_iter`` iterations; the objective is the quadratic misfit ½‖N(u) − f‖², so its numbers are
real.  It records every problem and settings it was given, calls the monitor every
``check_every`` iterations, and turns a ``KeyboardInterrupt`` from the monitor into
``stop_reason = "interrupted"`` as the contract says.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lbdsl.options import option
from lbdsl.solvers.base import History, SolveResult, Stopping
from lbdsl.solvers.info import SolverInfo


@dataclass(frozen=True)
class StandInSettings:
    stopping: Stopping = field(default_factory=Stopping)
    tau: float | None = option("positive", None)
    sigma: float | None = option("positive", None)
    lr: float | None = option("positive", None)
    momentum: float | None = option("unit", None)


@dataclass
class StandIn:
    """A solver that records its calls; :meth:`info` puts it in a real solver's place."""

    name: str
    target: float = 0.5
    calls: list[tuple[Any, Any, Any]] = field(default_factory=list)

    def info(self, real: SolverInfo) -> SolverInfo:
        """The registry entry of the solver ``real`` with this stand-in's solve and settings
        (what ``real`` accepts, and the warm start it takes, stay its own)."""
        return dataclasses.replace(real, solve=self.solve, settings=StandInSettings)

    def solve(self, problem: Any, settings: StandInSettings, *, x0: Any = None,
              monitor: Any = None) -> SolveResult:
        self.calls.append((problem, settings, x0))
        xp, lp = problem.xp, problem.lifted
        batch = tuple(problem.f.shape[:-1])
        n = lp.u_blocks[0].size
        stop = settings.stopping
        history = History()
        u = xp.zeros((*batch, n), dtype=lp.dtype)
        reason = "max_iter"
        it = 0
        objective = residual = float("nan")
        for it in range(1, stop.max_iter + 1):
            u = xp.full((*batch, n), self.target * it / stop.max_iter, dtype=lp.dtype)
            if it % stop.check_every == 0 or it == stop.max_iter:
                misfit = lp.output(lp.forward(u)) - problem.f
                objective = 0.5 * float(xp.sum(misfit * misfit))
                residual = 1.0 / it
                metrics = {"objective": objective, "residual": residual, "change": 1.0 / it}
                history.record(it, metrics)
                if monitor is not None:
                    try:
                        monitor(it, metrics)
                    except KeyboardInterrupt:
                        reason = "interrupted"
                        break
        full = lp.forward(u)
        return SolveResult(u=xp.reshape(u, (*batch, *problem.input_shape)), iterations=it,
                           stop_reason=reason, objective=objective, residual=residual,
                           history=history, lifted={"u": full, "z": lp.W.forward(full) + lp.b},
                           solver=self.name)
