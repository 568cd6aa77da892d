"""An ``invert`` task up to its solve — data, lifted problem, projected data — and the solve
of one group of rows of a ``chunk`` task (what a worker runs for that group, too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...backend import float_dtype
from ...lift.compact import lift
from .. import data as dt
from ..context import RunContext
from . import chunks, lower, solve
from .threshold import Snapping, threshold

__all__ = ["Prepared", "prepare", "solve_group"]


@dataclass
class Prepared:
    """An ``invert`` task up to its solve: the data, the lifted problem, the data projected
    onto dom Ψ and thresholded (what the projection and the threshold did)."""

    observed: Any
    lp: Any
    f_raw: np.ndarray
    f_solver: np.ndarray
    projection: Any
    snapping: Snapping | None = None


def prepare(ctx: RunContext, task: Any) -> Prepared:
    """Truth and data, the lifted problem on the backend, the data projected onto dom Ψ and
    thresholded at the noise level (:mod:`.threshold`) for the Bregman fidelity."""
    net = ctx.networks[task.network]
    truth = (dt.make_truth(task.truth, net, ctx.spec_dir, ctx.given)
             if task.truth is not None else None)
    observed = dt.make_data(task, net, truth, ctx.spec_dir, ctx.given)
    lp = lift(net, ctx.xp, float_dtype(ctx.xp, task.dtype))
    f_raw = observed.f.reshape(*observed.batch, -1)
    if task.stage_fidelity != "bregman":
        return Prepared(observed, lp, f_raw, f_raw,
                        lower.Projection("none", 0.0, 0, int(f_raw.size)))
    projected, projection = lower.project_data(lp, f_raw, task.dtype)
    f_solver, snapping = threshold(task, lower.output_psi(lp), observed, f_raw, projected)
    return Prepared(observed, lp, f_raw, f_solver, projection, snapping)


def solve_group(task: Any, prep: Prepared, rows: slice, console: Any) -> Any:
    """The solve of the rows ``rows`` of a ``chunk`` task's batch, as a task of its own."""
    return solve.run(task, prep.lp, prep.f_solver[rows], prep.f_raw[rows],
                     chunks.part(prep.observed, rows), console, None)
