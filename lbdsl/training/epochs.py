"""Training's epoch as an :class:`~lbdsl.solvers.driver.Iteration`: the one loop runs it.

One step is one epoch: the samples in an order drawn from the run's generator, then one
update of the method per batch of contiguous rows.  The two methods share that loop:

* :class:`LiftedMethod` — implicit SGD (or an explicit optimizer after a state sweep) on the
  lifted objective; its per-sample states travel with the rows;
* :class:`BackpropMethod` — an explicit optimizer on the backpropagated MSE.

A check is the metrics of the whole training set (the method's ``objective``, ``mse_loss``,
``residual`` for lifted training) and the caller's validation; ``state()`` is everything the
next epoch depends on (parameters, states in their row order, the optimizer's moments, the
warm-started operator norms, the generator), as references: no step changes an array it holds.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import asarray
from ..errors import SolveError
from ..ir.nodes import size_of
from ..lift.network import LiftedNetwork
from ..solvers.base import is_finite
from .backprop import mse_gradient, mse_objective
from .lifted import LiftedRoles, LiftedTrainer, anchored_step, majorised_step
from ..prox.regularisers.composite import RegulariserSum

__all__ = ["Samples", "LiftedMethod", "BackpropMethod", "Epochs"]

Params = dict[str, Any]


@dataclass
class Samples:
    """The training rows, shuffled together each epoch: inputs, targets and (lifted) the hidden
    states; ``order[j]`` is the sample held in row ``j``.  Batches are contiguous row slices, so
    that a batch's states are written back with a slice assignment (the array API has no
    scatter)."""

    x: Any
    y: Any
    states: dict[str, Any]
    order: np.ndarray

    def shuffled(self, xp: Any, perm: np.ndarray) -> "Samples":
        idx = xp.asarray(perm)
        return Samples(xp.take(self.x, idx, axis=0), xp.take(self.y, idx, axis=0),
                       {v: xp.take(s, idx, axis=0) for v, s in self.states.items()},
                       self.order[perm])

    def in_order(self, xp: Any, order: np.ndarray) -> "Samples":
        """The same samples with row ``j`` holding sample ``order[j]`` (no states)."""
        idx = xp.asarray(np.asarray(order, dtype=np.int64))
        return Samples(xp.take(self.x, idx, axis=0), xp.take(self.y, idx, axis=0), {},
                       np.asarray(order, dtype=np.int64))

    def rows(self, start: int, stop: int) -> tuple[Any, Any, dict[str, Any]]:
        return (self.x[start:stop, ...], self.y[start:stop, ...],
                {v: s[start:stop, ...] for v, s in self.states.items()})

    def write_back(self, states: dict[str, Any], start: int, stop: int) -> None:
        for v, s in self.states.items():
            s[start:stop, ...] = states[v]

    def states_in_sample_order(self, xp: Any, shapes: dict[str, tuple[int, ...]],
                               ) -> dict[str, Any]:
        inverse = xp.asarray(np.argsort(self.order))
        n = self.x.shape[0]
        return {v: xp.reshape(xp.take(s, inverse, axis=0), (n, *shapes[v]))
                for v, s in self.states.items()}


class BackpropMethod:
    """Backpropagation: an explicit ``update`` (SGD, Adam) on ``∇_Θ`` of the MSE, or the
    implicit step of ISGD-BP (its ``proximal``, with gradients at its own iterates)."""

    roles = None                    # no per-sample states

    def __init__(self, rt: LiftedNetwork, penalties: dict[int, RegulariserSum], update: Any):
        self.rt, self.penalties, self.update = rt, penalties, update

    def start(self, params: Params, x: Any) -> dict[str, Any]:
        return {}

    def step(self, params: Params, rows: tuple[Any, Any, dict[str, Any]]) -> Params:
        x, y, _ = rows
        if hasattr(self.update, "proximal"):     # ISGD-BP: gradients at its inner iterates
            return self.update.proximal(
                params, lambda theta: mse_gradient(self.rt, theta, x, y, self.penalties))
        return self.update(params, mse_gradient(self.rt, params, x, y, self.penalties))

    def metrics(self, params: Params, data: Samples) -> dict[str, float]:
        return mse_objective(self.rt, params, data.x, data.y, self.penalties)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.update.state(), {}

    def load_state(self, optimizer: dict[str, Any], norms: dict[str, Any]) -> None:
        self.update.load_state(optimizer)


class LiftedMethod:
    """Lifted training: implicit SGD (``update`` None: ``tau``, ``inner``) or an explicit
    ``update`` after one state sweep, on the batch's rows and states."""

    def __init__(self, trainer: LiftedTrainer, update: Any, tau: float = 1.0, inner: int = 1,
                 precondition: bool = False):
        self.trainer, self.update, self.tau, self.inner = trainer, update, tau, inner
        self.roles: LiftedRoles = trainer.roles
        self.precondition = precondition and update is None
        # the dense layers' inputs at the current Θ-step (:func:`~.lifted.majorised_step`);
        # empty where the gradient comes from shards: their step is the plain one
        self.inputs: dict[str, tuple[Any, str | None]] = {}

    def start(self, params: Params, x: Any) -> dict[str, Any]:
        """The states at the forward pass."""
        roles = self.trainer.roles
        tape = roles.net.tape(x, params)
        return {roles.keys[l]: tape.act[l] for l in roles.hidden}

    @property
    def rounds(self) -> int:
        """Θ-steps per batch: ``inner`` for implicit SGD, one explicit update."""
        return self.inner if self.update is None else 1

    def theta_steps(self, params: Params,
                    gradient: Callable[[Params, int], tuple[Params, dict[str, float]]],
                    after: Callable[[Params], None] | None = None) -> Params:
        """The Θ-steps of one batch, the same serially and on shards: :attr:`rounds` times,
        ``∇_Θ`` and its Lipschitz constants from ``gradient(Θ, round)`` (the states swept at
        ``Θ`` first), then implicit SGD's proximal step towards the batch's ``Θ^k``
        (:func:`~.lifted.anchored_step`: ``argmin_{Θ, z_S} E_S + (1/2τ)‖Θ − Θ^k‖²``) or the
        explicit ``update``, and ``after(Θ)``; the operator norms advanced at the end."""
        anchor, inv_tau = params, 1.0 / self.tau
        for i in range(self.rounds):
            self.inputs = {}
            grads, lips = gradient(params, i)
            if self.update is not None:
                params = self.update(params, grads)
            elif self.inputs:
                params = majorised_step(params, anchor, grads, lips, inv_tau, self.inputs)
            else:
                params = anchored_step(params, anchor, grads, lips, inv_tau)
            if after is not None:
                after(params)
        self.trainer.refresh_norms(params)
        return params

    def step(self, params: Params, rows: tuple[Any, Any, dict[str, Any]]) -> Params:
        x, y, states = rows
        t = self.trainer
        b = t.batch(params, x, y, states)
        implicit = self.update is None
        t.new_batch()

        def gradient(theta: Params, _: int) -> tuple[Params, dict[str, float]]:
            cache = t.sweep(theta, b)
            if self.precondition:
                self.inputs = t.dense_inputs(b)
            return t.theta_gradient(theta, b, cache, lipschitz=implicit)

        # implicit SGD sweeps the states again at the new Θ: their blocks u first
        params = self.theta_steps(params, gradient,
                                  (lambda theta: t.substitute(theta, b)) if implicit else None)
        states.update(t.states(b))
        return params

    def metrics(self, params: Params, data: Samples) -> dict[str, float]:
        t = self.trainer
        out = t.evaluate(params, data.x, data.y, data.states)
        out["mse_loss"] = mse_objective(t.net, params, data.x, data.y, {})["mse_loss"]
        return out

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (self.update.state() if self.update is not None else {},
                self.trainer.norm_state())

    def load_state(self, optimizer: dict[str, Any], norms: dict[str, Any]) -> None:
        if self.update is not None:
            self.update.load_state(optimizer)
        self.trainer.load_norm_state(norms)


class Epochs:
    """One epoch per step, a check per epoch (see the module docstring)."""

    optimality = "objective"        # never tested: training has no tolerance

    def __init__(self, method: Any, data: Samples, params: Params, seed: int, batch: int,
                 validate: Callable[[Params], dict[str, float]] | None, xp: Any,
                 dtype: Any) -> None:
        self.method, self.data, self.params = method, data, params
        self.rng = np.random.default_rng(seed)
        self.batch, self.validate, self.xp, self.dtype = batch, validate, xp, dtype

    def step(self) -> None:
        n = self.data.x.shape[0]
        self.data = self.data.shuffled(self.xp, self.rng.permutation(n))
        params = self.params
        for start in range(0, n, self.batch):
            stop = min(start + self.batch, n)
            rows = self.data.rows(start, stop)
            params = self.method.step(params, rows)
            self.data.write_back(rows[2], start, stop)
        self.params = params

    def finite(self) -> bool:
        return all(is_finite(a) for a in (*self.params.values(), *self.data.states.values()))

    def close(self) -> None:
        """Release what the epochs hold outside this process (here: nothing)."""

    def sample_states(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        """Every hidden state's rows in sample order, as ``(N, *shapes[k])``."""
        return self.data.states_in_sample_order(self.xp, shapes)

    def check(self, k: int) -> dict[str, float]:
        out = self.method.metrics(self.params, self.data)
        if self.validate is not None:
            out.update({key: float(v) for key, v in self.validate(self.params).items()})
        return out

    def state(self) -> dict[str, Any]:
        optimizer, norms = self.method.state()
        return {"params": self.params, "states": dict(self.data.states),
                "order": self.data.order, "optimizer": optimizer, "norms": norms,
                "rng": self.rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        """Bring back a state — of this run, or read from a checkpoint (NumPy arrays, checked
        against this run's data)."""
        xp, dtype = self.xp, self.dtype
        n = self.data.x.shape[0]
        order = checked_order(state, n)
        self.params = {k: asarray(xp, v, dtype=dtype) for k, v in state["params"].items()}
        if not np.array_equal(order, self.data.order):
            base = self.data.in_order(xp, np.argsort(self.data.order))
            self.data = base.in_order(xp, order)
        self.data = Samples(self.data.x, self.data.y, self._states(state["states"], n), order)
        self.method.load_state(on_backend(xp, state["optimizer"], dtype), state["norms"])
        self.rng.bit_generator.state = state["rng"]

    def _states(self, states: dict[str, Any], n: int) -> dict[str, Any]:
        roles: LiftedRoles | None = self.method.roles
        if roles is None:
            return {}
        out = {}
        for l in roles.hidden:
            key = roles.keys[l]
            if key not in states:
                missing = [roles.keys[h] for h in roles.hidden if roles.keys[h] not in states]
                raise SolveError(f"the checkpoint has no hidden states for {', '.join(missing)}")
            s = asarray(self.xp, states[key], dtype=self.dtype)
            size = size_of(roles.state_shape(l))
            if tuple(s.shape) != (n, size):
                raise SolveError(f"the checkpoint's states of `{key}` have shape "
                                 f"{tuple(s.shape)}, not {(n, size)}")
            out[key] = s
        return out


def checked_order(state: dict[str, Any], n: int) -> np.ndarray:
    """A state's row order, checked to be a permutation of this run's ``n`` samples."""
    order = np.asarray(state["order"], dtype=np.int64)
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise SolveError(f"the checkpoint is for {order.size} training samples, not {n}")
    return order


def on_backend(xp: Any, value: Any, dtype: Any) -> Any:
    """Nested dicts of arrays (a state read back from a file) as arrays of ``xp``."""
    if isinstance(value, dict):
        return {k: on_backend(xp, v, dtype) for k, v in value.items()}
    if isinstance(value, (int, float)):
        return value
    return asarray(xp, value, dtype=dtype)


class EarlyStopping:
    """Epochs that stop once ``key`` (the validation PSNR) has not improved for ``patience``
    epochs, keeping the parameters of the best epoch (:attr:`best`: its ``epoch``, ``value`` and
    ``params``; part of the state, so that a resumed run stops where one run would have).
    Everything else is the wrapped :class:`Epochs`' (or :class:`~.shards.ShardedEpochs`')."""

    optimality = "objective"

    def __init__(self, epochs: Any, patience: int, key: str = "validation_psnr") -> None:
        self.epochs, self.patience, self.key = epochs, int(patience), key
        self.best: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:      # params, close, sample_states, …
        return getattr(self.epochs, name)

    def step(self) -> None:
        self.epochs.step()

    def finite(self) -> bool:
        return self.epochs.finite()

    def check(self, k: int) -> dict[str, float]:
        out = self.epochs.check(k)
        value = out.get(self.key)
        if value is not None and math.isfinite(value) and (self.best is None
                                                           or value > self.best["value"]):
            self.best = {"epoch": k, "value": float(value), "params": self.epochs.params}
        return out

    def converged(self, k: int, metrics: dict[str, float]) -> str | None:
        """Why training stops after epoch ``k`` (None: it goes on)."""
        if self.best is None or k - self.best["epoch"] < self.patience:
            return None
        return (f"stopped early: {self.key} has not improved for {self.patience} epochs; the "
                f"parameters of epoch {self.best['epoch']} ({self.best['value']:.4g}) are kept")

    def state(self) -> dict[str, Any]:
        return {**self.epochs.state(), "best": self.best}

    def restore(self, state: dict[str, Any]) -> None:
        self.epochs.restore(state)
        best = state.get("best")
        self.best = None if best is None else {
            "epoch": int(best["epoch"]), "value": float(best["value"]),
            "params": {k: asarray(self.epochs.xp, v, dtype=self.epochs.dtype)
                       for k, v in best["params"].items()}}
