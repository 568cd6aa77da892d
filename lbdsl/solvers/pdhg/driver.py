"""The loop every variant shares: checks, stopping, divergence guard, monitor, interrupt.

A variant is an :class:`Iteration`: ``step()`` advances one iteration without modifying any
array in place (so a reference to its state is a snapshot), ``measure()`` returns the
objective per batch row and the variant's optimality measure, ``state()`` / ``restore()`` keep
and bring back the last checked iterate.  Every ``check_every`` iterations the loop

1. refuses a non-finite state: it restores the last finite checked state and stops with
   ``"diverged"``;
2. records ``objective`` (summed over the batch), ``residual`` (the optimality measure, max
   over the batch), ``change`` (``‖u_{k+1} − u_k‖ / ‖u_k‖``) and the variant's extras;
3. stops with ``"tol"`` when ``change ≤ tol`` and ``residual ≤ tol``;
4. calls the monitor; a ``KeyboardInterrupt`` from it stops with ``"interrupted"``, and the
   outcome keeps ``{"iteration": it.state(), "k": k, "history": …}`` — what ``resume`` takes to
   go on from that check exactly as if nothing had happened.  A stop at a ``max_iter`` on the
   check grid keeps it too (a longer run goes through the same check).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from array_api_compat import array_namespace

from ..base import (History, Monitor, Stopping, StopReason, interrupted_at, relative_change,
                    stop_requested)

__all__ = ["Iteration", "Outcome", "run"]


class Iteration(Protocol):
    """What the loop needs from a variant (see the module docstring)."""

    out: Any        # the current iterate the solver reports, (B, n)
    out_prev: Any   # the one before it

    def step(self) -> None: ...

    def finite(self) -> bool: ...

    def measure(self) -> tuple[Any, float]: ...

    def extras(self) -> dict[str, float]: ...

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class Outcome:
    """How a run ended: iterations, reason, message, the last metrics, the history."""

    def __init__(self, iterations: int, reason: StopReason, message: str, objective: Any,
                 residual: float, history: History, state: dict[str, Any] | None = None,
                 ) -> None:
        self.iterations = iterations
        self.reason = reason
        self.message = message
        self.objective = objective
        self.residual = residual
        self.history = history
        self.state = state


def run(it: Iteration, stopping: Stopping, monitor: Monitor | None = None,
        resume: dict[str, Any] | None = None) -> Outcome:
    """Iterate ``it`` under ``stopping`` (see the module docstring), from the state an
    interrupted run left (``resume``) if given."""
    history = History()
    k = 0
    if resume is not None:
        it.restore(tuple(resume["iteration"]))
        k = int(resume["k"])
        history = resume["history"].copy()
    good, good_k = it.state(), k
    objective: Any = None
    residual = math.inf
    reason: StopReason = "max_iter"
    message = f"stopped after max_iter = {stopping.max_iter} iterations"
    state = None
    while k < stopping.max_iter:
        it.step()
        k += 1
        if k % stopping.check_every and k < stopping.max_iter:
            continue
        if not it.finite():
            it.restore(good)
            reason = "diverged"
            message = (f"the iterate became NaN or infinite between iterations {good_k} and "
                       f"{k}; returned the last finite one (iteration {good_k})")
            k = good_k
            break
        objective, residual = it.measure()
        xp = array_namespace(objective)
        change = relative_change(it.out, it.out_prev)
        metrics = {"objective": float(xp.sum(objective)), "residual": float(residual),
                   "change": change, **it.extras()}
        history.record(k, metrics)
        good, good_k = it.state(), k
        if change <= stopping.tol and residual <= stopping.tol:
            reason = "tol"
            message = (f"converged: change {change:.2e} and residual {residual:.2e} "
                       f"<= tol = {stopping.tol:g} after {k} iterations")
            break
        if stop_requested(monitor, k, metrics, stopping):
            reason, message = "interrupted", interrupted_at(k)
            break
    if reason == "interrupted" or (reason == "max_iter" and k % stopping.check_every == 0):
        # where a longer run passes too: it can go on from here exactly
        state = {"iteration": it.state(), "k": k, "history": history}
    if objective is None or reason == "diverged":
        objective, residual = it.measure()
    return Outcome(k, reason, message, objective, float(residual), history, state)
