"""The one iteration loop: every solver and the training epoch loop run through :func:`run`.

An algorithm is an :class:`Iteration` (in the manner of jaxopt's ``init_state`` / ``update``):
``step()`` advances it by one iteration without modifying, in place, any array a snapshot
holds (so that ``state()`` may return references); ``check(k)`` returns its metrics at a check;
``state()`` / ``restore(state)`` keep and bring back everything the next step depends on.  Every
``check_every`` iterations (and at ``max_iter``) the loop, in this order,

1. refuses a non-finite state (``finite()``): it restores the last checked state and stops with
   ``"diverged"``.  A step that finds nothing finite to go to raises :class:`Diverged` instead,
   and the run ends with the current (last finite) iterate; one that can make no progress at
   all (a line search that finds no decrease even along the steepest descent) raises
   :class:`Stalled`, and the run ends ``"stalled"`` with a last check of where it stands;
2. records the metrics in the history and remembers the state as the last good one;
   ``after_check(k, history)`` sees it (training writes its checkpoint there);
3. shows the metrics to the monitor (every check, the last one included);
4. stops with ``"tol"`` when ``metrics["change"] ≤ tol`` and ``metrics[it.optimality] ≤ tol``
   (``tol = None``: never — training runs its epochs), or when the iteration's own
   ``converged(k, metrics)`` gives a reason (training's early stopping), else with ``"interrupted"`` when the
   monitor raised ``KeyboardInterrupt`` before ``max_iter`` (a converged check, or one at
   ``max_iter``, ends the run as it would have ended anyway).

An iteration whose every iterate is feasible and whose ``objective`` is the problem's own
declares ``keeps_best = True`` (L-BFGS, FISTA): a run of it that ends ``"max_iter"`` or
``"stalled"`` with the objective above the lowest one checked (by more than :data:`RISE`,
relatively) returns the iterate of that check and says so in its message; the state a longer
run would go on from stays the last one.  (A primal–dual method's objective may dip below the
optimum at infeasible iterates: its last iterate is kept.)

Only the monitor's interrupt is a clean stop: a ``KeyboardInterrupt`` raised anywhere else — in
a step, a check, ``after_check`` (a second Ctrl-C) — propagates, unless ``catch_interrupts``
(training), where the run goes back to the last complete check and ends ``"interrupted"``.

An interrupted run — and one stopped at a ``max_iter`` on the check grid, which a longer run
passes through too — keeps ``{"iteration": it.state(), "k": k, "history": …}``
(:attr:`Outcome.state`); ``run(..., resume=state)`` goes on from it to exactly the result (bit
for bit, on the same backend) of a run that never stopped.  ``record_start`` checks and shows
iteration 0 too (training reports its starting point).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .base import History, Monitor, Stopping, StopReason

__all__ = ["Iteration", "Diverged", "Stalled", "Outcome", "run", "stop_requested"]


class Iteration(Protocol):
    """What the loop needs from an algorithm (see the module docstring)."""

    optimality: ClassVar[str]     # the metric that must fall below tol, with "change"

    def step(self) -> None: ...

    def finite(self) -> bool: ...

    def check(self, k: int) -> dict[str, float]: ...

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class Diverged(Exception):
    """Raised by a step that found no finite point to go to; its message says why."""


class Stalled(Exception):
    """Raised by a step that found no point with a lower objective (in floating point); its
    message says why."""


@dataclass
class Outcome:
    """How a run ended: iterations, reason, message, the last metrics, the history and (where a
    longer run can go on from it) the state."""

    iterations: int
    reason: StopReason
    message: str
    metrics: dict[str, float]
    history: History
    state: dict[str, Any] | None = None
    kept: int | None = None     # the check whose iterate was brought back (keeps_best)


def stop_requested(monitor: Monitor | None, k: int, metrics: dict[str, float],
                   stopping: Stopping) -> bool:
    """Show ``metrics`` at check ``k`` to the monitor; whether it asked to stop (by raising
    ``KeyboardInterrupt``) before the last check — at ``max_iter`` the run ends anyway."""
    if monitor is None:
        return False
    try:
        monitor(k, metrics)
    except KeyboardInterrupt:
        return k < stopping.max_iter
    return False


def run(it: Iteration, stopping: Stopping, monitor: Monitor | None = None,
        resume: dict[str, Any] | None = None, *, unit: str = "iteration",
        record_start: bool = False, catch_interrupts: bool = False,
        after_check: Callable[[int, History], None] | None = None) -> Outcome:
    """Iterate ``it`` under ``stopping`` (module docstring), from ``resume`` if given."""
    history, k = History(), 0
    keeps = bool(getattr(it, "keeps_best", False))
    best: Best | None = None      # the lowest objective checked, for _keep_best
    if resume is not None:
        it.restore(resume["iteration"])
        k, history = int(resume["k"]), resume["history"].copy()
        best = resume.get("best")   # so that a resumed run keeps what one run would have
    metrics = {key: values[-1] for key, values in history.metrics.items()}
    good, good_k = it.state(), k
    reason: StopReason = "max_iter"
    message = f"stopped after max_iter = {stopping.max_iter} {unit}s"
    if record_start:
        try:
            if resume is None:
                metrics = it.check(0)
                history.record(0, metrics)
            if stop_requested(monitor, k, dict(metrics), stopping):
                reason, message = "interrupted", _interrupted(k, unit)
        except KeyboardInterrupt:
            if not catch_interrupts:
                raise
            reason, message = "interrupted", _interrupted(k, unit)
    while reason == "max_iter" and k < stopping.max_iter:
        try:
            k, reason, message = _step(it, stopping, k, good, good_k, unit)
            if reason == "stalled" and history.iteration[-1:] != [k]:
                metrics = it.check(k)       # where it stands: the last check may be older
                history.record(k, metrics)
                stop_requested(monitor, k, dict(metrics), stopping)
            if reason != "check":
                continue
            metrics = it.check(k)
            history.record(k, metrics)
            good, good_k = it.state(), k
            if keeps:
                best = _better(best, metrics, good, k)
            if after_check is not None:
                after_check(k, history)
            reason, message = _verdict(it, stopping, monitor, k, metrics, unit)
        except KeyboardInterrupt:
            if not catch_interrupts:
                raise
            it.restore(good)
            if history.iteration[-1:] == [k] and k != good_k:   # recorded, then rolled back
                history = _drop_last(history)
            k, reason, message = good_k, "interrupted", _interrupted(good_k, unit)
    state = None
    if reason == "interrupted" or (reason == "max_iter" and k % stopping.check_every == 0):
        # where a longer run passes too: it can go on from here exactly
        state = {"iteration": it.state(), "k": k, "history": history}
        if keeps:
            state["best"] = best
    kept = None
    if reason in ("max_iter", "stalled") and best:
        said = _keep_best(it, best, metrics)
        if said:
            message, metrics, kept = f"{message}; {said}", best[3], best[2]
    return Outcome(k, reason, message, metrics, history, state, kept)


#: A final objective this much (relatively) above the best checked one is a rise that matters:
#: not rounding, nor the small shift of L-BFGS's minimiser as its smoothing ε shrinks.
RISE = 1e-3


def _keep_best(it: Iteration, best: Best, metrics: dict[str, float]) -> str | None:
    """After a run that did not converge: where the objective ended above the lowest one
    checked (a monitor shows it rising), bring back that iterate and say so (None: the last
    iterate is the best)."""
    value, state, k_best, _ = best
    last = metrics.get("objective")
    if last is None or not last > value + RISE * max(abs(value), 1e-300):
        return None
    it.restore(state)
    return (f"the objective rose after iteration {k_best} ({value:.6g} → {last:.6g}): the "
            f"iterate of iteration {k_best} is kept")


Best = tuple[float, Any, int, dict[str, float]]   # objective, state, check, its metrics


def _better(best: Best | None, metrics: dict[str, float], state: Any, k: int) -> Best | None:
    """``(objective, state, k, metrics)`` of the lowest finite objective checked so far."""
    value = metrics.get("objective")
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return best
    return (float(value), state, k, dict(metrics)) if best is None or value < best[0] else best


def _step(it: Iteration, stopping: Stopping, k: int, good: Any, good_k: int, unit: str,
          ) -> tuple[int, str, str]:
    """One step: ``(k, "check", "")`` on the check grid, ``(k, "max_iter", …)`` between
    checks, ``(k, "diverged", why)`` when it failed (back at the last good state if the
    state became non-finite), ``(k, "stalled", why)`` when it could not descend."""
    try:
        it.step()
    except Diverged as exc:
        return k, "diverged", str(exc)
    except Stalled as exc:
        return k, "stalled", str(exc)
    k += 1
    if k % stopping.check_every and k < stopping.max_iter:
        return k, "max_iter", f"stopped after max_iter = {stopping.max_iter} {unit}s"
    if not it.finite():
        it.restore(good)
        return good_k, "diverged", (f"diverged: a NaN or infinite value appeared between "
                                    f"{unit}s {good_k} and {k}; the last finite state ({unit} "
                                    f"{good_k}) is kept")
    return k, "check", ""


def _verdict(it: Iteration, stopping: Stopping, monitor: Monitor | None, k: int,
             metrics: dict[str, float], unit: str) -> tuple[StopReason, str]:
    """After check ``k``: show it to the monitor; converged (a Ctrl-C there changes nothing),
    interrupted, or on (``"max_iter"``)."""
    requested = stop_requested(monitor, k, dict(metrics), stopping)
    own = getattr(it, "converged", None)     # a criterion of the iteration's own (training's
    why = own(k, metrics) if own is not None else None   # early stopping)
    if why:
        return "tol", why
    tol = stopping.tol
    if tol is not None and metrics["change"] <= tol and metrics[it.optimality] <= tol:
        return "tol", (f"converged: change {metrics['change']:.2e} and {it.optimality} "
                       f"{metrics[it.optimality]:.2e} <= tol = {tol:g} after {k} {unit}s")
    if requested:
        return "interrupted", _interrupted(k, unit)
    return "max_iter", f"stopped after max_iter = {stopping.max_iter} {unit}s"


def _drop_last(history: History) -> History:
    return History(history.iteration[:-1], {k: v[:-1] for k, v in history.metrics.items()})


def _interrupted(k: int, unit: str) -> str:
    return f"interrupted at {unit} {k}; returned the current state"
