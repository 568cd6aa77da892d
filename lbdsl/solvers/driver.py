"""The one iteration loop: every solver and the training epoch loop run through :func:`run`.

An algorithm is an :class:`Iteration` (in the manner of jaxopt's ``init_state`` / ``update``):
``step()`` advances it by one iteration without modifying, in place, any array a snapshot
holds (so that ``state()`` may return references); ``check(k)`` returns its metrics at a check;
``state()`` / ``restore(state)`` keep and bring back everything the next step depends on.  Every
``check_every`` iterations (and at ``max_iter``) the loop, in this order,

1. refuses a non-finite state (``finite()``): it restores the last checked state and stops with
   ``"diverged"``.  A step that finds nothing finite to go to raises :class:`Diverged` instead,
   and the run ends with the current (last finite) iterate;
2. records the metrics in the history and remembers the state as the last good one;
   ``after_check(k, history)`` sees it (training writes its checkpoint there);
3. shows the metrics to the monitor (every check, the last one included);
4. stops with ``"tol"`` when ``metrics["change"] ≤ tol`` and ``metrics[it.optimality] ≤ tol``
   (``tol = None``: never — training runs its epochs), else with ``"interrupted"`` when the
   monitor raised ``KeyboardInterrupt`` before ``max_iter`` (a converged check, or one at
   ``max_iter``, ends the run as it would have ended anyway).  Only the monitor's interrupt is handled — one raised inside a step propagates
   (a second Ctrl-C) unless ``catch_interrupts``, where the run goes back to the last check.

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

__all__ = ["Iteration", "Diverged", "Outcome", "run", "stop_requested"]


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
    if resume is not None:
        it.restore(resume["iteration"])
        k, history = int(resume["k"]), resume["history"].copy()
    metrics = {key: values[-1] for key, values in history.metrics.items()}
    good, good_k = it.state(), k
    reason: StopReason = "max_iter"
    message = f"stopped after max_iter = {stopping.max_iter} {unit}s"
    if record_start:
        if resume is None:
            metrics = it.check(0)
            history.record(0, metrics)
        if stop_requested(monitor, k, dict(metrics), stopping):
            reason, message = "interrupted", _interrupted(k, unit)
    while reason == "max_iter" and k < stopping.max_iter:
        try:
            it.step()
        except Diverged as exc:
            reason, message = "diverged", str(exc)
            break
        except KeyboardInterrupt:
            if not catch_interrupts:
                raise
            it.restore(good)
            k, reason, message = good_k, "interrupted", _interrupted(good_k, unit)
            break
        k += 1
        if k % stopping.check_every and k < stopping.max_iter:
            continue
        if not it.finite():
            it.restore(good)
            reason = "diverged"
            message = (f"diverged: a NaN or infinite value appeared between {unit}s {good_k} "
                       f"and {k}; the last finite state ({unit} {good_k}) is kept")
            k = good_k
            break
        metrics = it.check(k)
        history.record(k, metrics)
        good, good_k = it.state(), k
        if after_check is not None:
            after_check(k, history)
        requested = stop_requested(monitor, k, dict(metrics), stopping)
        if (stopping.tol is not None and metrics["change"] <= stopping.tol
                and metrics[it.optimality] <= stopping.tol):
            reason = "tol"         # converged: a Ctrl-C at this check changes nothing
            message = (f"converged: change {metrics['change']:.2e} and {it.optimality} "
                       f"{metrics[it.optimality]:.2e} <= tol = {stopping.tol:g} after {k} "
                       f"{unit}s")
            break
        if requested:
            reason, message = "interrupted", _interrupted(k, unit)
            break
    state = None
    if reason == "interrupted" or (reason == "max_iter" and k % stopping.check_every == 0):
        # where a longer run passes too: it can go on from here exactly
        state = {"iteration": it.state(), "k": k, "history": history}
    return Outcome(k, reason, message, metrics, history, state)


def _interrupted(k: int, unit: str) -> str:
    return f"interrupted at {unit} {k}; returned the current state"
