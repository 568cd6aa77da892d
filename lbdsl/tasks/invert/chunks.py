"""``chunk = K``: a batch of right-hand sides solved ``K`` rows at a time.

The rows of a batch are independent problems, but a batched solver runs them together: one
iteration count, one stopping test over all of them.  So the result of a row depends on the
rows it was solved with; a distributed run can equal the serial one only if both solve the same
groups.  ``chunk`` fixes the groups — rows ``[kK, (k+1)K)`` — and both runs solve each group as
its own task (:func:`solve_chunk`, the same function in a worker and in the serial loop); the
groups' results are then stacked back into one (:func:`merge`) in row order:

* ``u``, ``z`` and every lifted array with the group's rows first: concatenated;
* ``iterations``: the most of any group; ``stop_reason``: ``tol`` if every group met it, else
  the first other reason in row order; ``objective``: the sum (the batch objective is the sum
  of the rows'); ``residual``: the largest; the history: that of the group that took the most
  iterations (the convergence plot shows the slowest group);
* the time: the sum of the groups' solve times (the work, wherever it ran);
* no solver state is kept: ``--resume`` solves a chunked task again;
* the report's ``chunks`` lists each group's rows, iterations, stop reason, objective and time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...backend import to_numpy
from ...errors import SolveError
from ...solvers.base import History, SolveResult
from ..data import Observed

__all__ = ["groups", "part", "merge", "unsolved"]


def groups(task: Any, observed: Observed) -> list[slice] | None:
    """The row groups of ``task``'s batch, or None when it is solved at once (no ``chunk``, no
    batch, or a batch of at most ``chunk`` rows)."""
    if task.chunk is None or not observed.batch:
        return None
    if len(observed.batch) != 1:
        raise SolveError(f"`chunk` splits a batch of rows, but this task's batch has shape "
                         f"{observed.batch}; give the data one batch axis")
    n = observed.batch[0]
    if n <= task.chunk:
        return None
    return [slice(lo, min(lo + task.chunk, n)) for lo in range(0, n, task.chunk)]


def part(observed: Observed, rows: slice) -> Observed:
    """The rows ``rows`` of a batch's arrays (the noise norm is of the whole batch)."""
    return dataclasses.replace(
        observed, truth=None if observed.truth is None else observed.truth[rows],
        clean=observed.clean[rows], f=observed.f[rows],
        batch=(rows.stop - rows.start,))


def _stack(parts: list[Any], rows: list[int]) -> Any:
    arrays = [np.asarray(to_numpy(p)) for p in parts]
    if all(a.ndim >= 1 and a.shape[0] == n for a, n in zip(arrays, rows)):
        return np.concatenate(arrays, axis=0)
    return None


def merge_results(results: list[SolveResult], rows: list[int]) -> SolveResult:
    """The groups' results as one (see the module docstring)."""
    slowest = max(results, key=lambda r: r.iterations)
    others = [r.stop_reason for r in results if r.stop_reason != "tol"]
    lifted = {}
    for key in results[0].lifted or {}:
        if all(key in (r.lifted or {}) for r in results):
            stacked = _stack([r.lifted[key] for r in results], rows)
            if stacked is not None:
                lifted[key] = stacked
    return SolveResult(
        u=np.concatenate([np.asarray(to_numpy(r.u)) for r in results], axis=0),
        iterations=slowest.iterations, stop_reason=others[0] if others else "tol",
        objective=float(sum(r.objective for r in results)),
        residual=float(max(r.residual for r in results)), history=slowest.history.copy(),
        lifted=lifted, message=next((r.message for r in results if r.message), ""),
        solver=results[0].solver, state=None)


def merge(solved: list[Any], groups: list[slice]) -> Any:
    """The :class:`~.solve.Solved` of every group as one, for the task's folder (with how each
    group ended, for the report's ``chunks``)."""
    first = solved[0]
    rows = [g.stop - g.start for g in groups]

    def merged(attr: str) -> SolveResult | None:
        values = [getattr(s, attr) for s in solved]
        return None if any(v is None for v in values) else merge_results(values, rows)

    def total(attr: str) -> float | None:
        values = [getattr(s, attr) for s in solved]
        return None if any(v is None for v in values) else float(sum(values))

    return dataclasses.replace(
        first, result=merge_results([s.result for s in solved], rows),
        time_s=float(sum(s.time_s for s in solved)), baseline=merged("baseline"),
        baseline_time_s=total("baseline_time_s"), start=merged("start"),
        start_time_s=total("start_time_s"), solves=[], resumed_from=None,
        stop_requested=any(s.stop_requested for s in solved),
        complete=all(s.complete for s in solved),
        groups=[{"rows": [g.start, g.stop], "iterations": int(s.result.iterations),
                 "stop_reason": s.result.stop_reason, "objective": float(s.result.objective),
                 "time_s": float(s.time_s)} for g, s in zip(groups, solved)])


def unsolved(template: Any, rows: slice) -> Any:
    """A group a Ctrl-C kept from being solved: NaN rows, ``interrupted``, zero iterations
    (shaped like ``template``'s, the first group's)."""
    n = rows.stop - rows.start

    def nan(result: SolveResult | None) -> SolveResult | None:
        if result is None:
            return None
        shape = (n, *np.asarray(to_numpy(result.u)).shape[1:])
        return SolveResult(u=np.full(shape, np.nan), iterations=0, stop_reason="interrupted",
                           objective=float("nan"), residual=float("nan"), history=History(),
                           solver=result.solver, message="not reached: interrupted before")

    return dataclasses.replace(template, result=nan(template.result),
                               baseline=nan(template.baseline), start=nan(template.start),
                               time_s=0.0, stop_requested=True, complete=False)
