"""``train(net, inputs, targets, settings, ...)``: fit a network's parameters, lifted or by
backpropagation, with one epoch loop for both so that they are compared like with like.

=========================  ============================================================
``loss``, ``settings``     method
=========================  ============================================================
bregman, implicit_sgd      lifted Bregman training by implicit SGD (:mod:`.lifted`)
bregman, sgd / adam        lifted objective, explicit optimizer steps on Θ after a state sweep
mse, sgd / adam            backpropagation on the MSE (:mod:`.backprop`)
=========================  ============================================================

Every epoch visits the samples in an order drawn from ``numpy.random.default_rng(seed)`` — the
same batches for every method with the same seed and batch size — and ends with one record in
the history (epoch 0 is the starting point): ``objective`` (the method's own, on the whole
training set), ``mse_loss`` (``½‖N(x) − y‖²`` averaged over the training samples, by the forward
pass, for every method), ``residual`` (lifted only: the relative mismatch between the hidden
states and the forward map of the states before them), then whatever ``validate(params)``
returns.  ``monitor(epoch, metrics)`` sees the same record; a ``KeyboardInterrupt`` raised there
before the last epoch (or anywhere during an epoch, its check or its checkpoint) stops training
with ``stop_reason = "interrupted"`` at the last complete epoch, a non-finite parameter with
``"diverged"`` (keeping the last finite epoch); with ``patience = P`` (and validation data)
``"tol"`` once the validation PSNR has not improved for P epochs; otherwise ``"max_iter"``
(every epoch ran).  With ``patience``, in both cases the parameters of the best epoch are
returned (``kept_epoch``; the hidden states and the history are the last epoch's).
The epochs run in the one loop of :mod:`lbdsl.solvers.driver` (:mod:`.epochs`).

Checkpoints.  At the end of every epoch training is fully described by a :class:`TrainState`
(parameters, hidden states in their current row order, the optimizer's moments, the warm-started
operator norms, the generator's state, the history); ``checkpoint(state)`` receives it, and
``train(..., resume=state)`` continues from it to the same result, bit for bit, as a run that
never stopped.  An interrupt in the middle of an epoch rolls back to the last epoch's state, so
``TrainResult.state`` is always consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import asarray, float_dtype, namespace, real, to_numpy
from ..errors import SolveError
from ..ir.nodes import NetworkIR, size_of
from ..lift.network import LiftedNetwork, lifted_network
from ..solvers.base import History, Monitor, Stopping, is_finite
from ..solvers.driver import run
from .epochs import BackpropMethod, EarlyStopping, Epochs, LiftedMethod, Samples
from .lifted import LiftedRoles, LiftedTrainer, output_layer
from .settings import ISGDBP, Adam, EpochLoop, ImplicitSGD
from .shards import ShardedEpochs
from ..prox.regularisers.composite import RegulariserSum
from .penalty import resolve_penalties

__all__ = ["TrainResult", "TrainState", "train", "predict"]

Validate = Callable[[dict[str, Any]], dict[str, float]]


@dataclass
class TrainState:
    """Training at the end of epoch ``epoch``: everything the next epoch depends on.

    ``params`` by spec name; ``states`` (lifted only) each hidden state's rows in the current
    row order, ``order[j]`` being the sample held in row ``j``; ``optimizer`` the explicit
    update's state (SGD: ``velocity``; Adam: ``t``, ``m``, ``s``), ``norms`` the lifted trainer's
    power iterations (``vectors``, ``normsq``), ``rng`` the state of the generator that draws the
    epoch orders (``numpy.random.Generator.bit_generator.state``).  Arrays are of the training
    backend, or NumPy when read back from a file (``train`` converts them).
    """

    epoch: int
    params: dict[str, Any]
    states: dict[str, Any]
    order: np.ndarray
    optimizer: dict[str, Any]
    norms: dict[str, Any]
    rng: dict[str, Any]
    history: History
    best: dict[str, Any] | None = None   # early stopping: the best epoch, its value and params


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``params`` maps every trained parameter's spec name (``W1``, ``W_3``, ``z_W``) to an array
    of the training backend and dtype in the parameter's shape — ``numpy_params()`` gives host
    copies fit for a ``weights.npz`` that ``load(...)`` reads back.  ``lifted_states`` (lifted
    training only) maps each hidden state's id to its values ``(N, *shape)`` in sample order.
    """

    params: dict[str, Any]
    history: History
    stop_reason: str
    epochs: int
    method: str                              # "lifted" or "backprop"
    optimizer: str                           # "implicit_sgd", "sgd", "adam"
    lifted_states: dict[str, Any] | None = None
    kept_epoch: int | None = None            # patience: the epoch whose parameters these are
    message: str = ""
    projected_targets: int = 0               # target entries moved into dom Ψ of the output
    state: TrainState | None = None          # where training stands: a checkpoint to resume

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {name: to_numpy(value) for name, value in self.params.items()}


def _rows(xp: Any, data: Any, size: int, dtype: Any, what: str) -> Any:
    """``data (N, ...)`` with ``size`` entries per sample, as rows ``(N, size)``."""
    array = asarray(xp, real(data, f"the {what} array"), dtype=dtype)
    if array.ndim < 1 or size_of(tuple(array.shape[1:])) != size:
        raise SolveError(f"the {what} have shape {tuple(array.shape)}, which is not a stack of "
                         f"samples of {size} entries each")
    return xp.reshape(array, (array.shape[0], size))


def _resolve(settings: Any, loss: str | None) -> tuple[str, Any]:
    if settings is None:
        settings = Adam() if loss == "mse" else ImplicitSGD()
    if not isinstance(settings, EpochLoop):
        raise SolveError(f"unknown optimizer settings {settings!r}")
    if loss is None:
        loss = "bregman" if settings.lifted else "mse"
    if loss not in ("bregman", "mse"):
        raise SolveError(f"unknown loss `{loss}`: choose bregman or mse")
    if loss == "mse" and settings.lifted:
        raise SolveError("`implicit_sgd` is lifted training: use `loss = bregman`, or `sgd`/`adam` "
                         "with `loss = mse`")
    if loss == "bregman" and settings.backprop_only:
        raise SolveError(f"`{settings.name}` takes backpropagated gradients: use `loss = mse`")
    if isinstance(settings, ISGDBP) and not settings.lr < 2.0 * settings.tau:
        # the anchor's pull (Θ − Θ^k)/τ alone makes the inner iteration diverge then
        raise SolveError(f"`isgd_bp` needs lr < 2·tau (its inner steps diverge otherwise), got "
                         f"lr = {settings.lr:g}, tau = {settings.tau:g}")
    return loss, settings


def predict(net: NetworkIR | LiftedNetwork, params: dict[str, Any], inputs: Any, *,
            xp: Any = None, dtype: Any = None) -> Any:
    """``N_Θ(inputs)`` for a stack of inputs, as rows ``(N, size(output))``."""
    first = next(iter(params.values()))
    xp = xp or array_namespace(first)
    dtype = dtype or first.dtype
    rt = net if isinstance(net, LiftedNetwork) else lifted_network(net, xp, dtype, params)
    x = _rows(xp, inputs, rt.u_blocks[0].size, dtype, "inputs")
    return rt.tape(x, params).blocks[rt.output_block]


def _init_params(rt: LiftedNetwork, xp: Any, dtype: Any, initial: dict[str, Any] | None,
                 ) -> dict[str, Any]:
    """The trained parameters as ``xp`` arrays of ``dtype``: ``initial[name]`` where given,
    else the network's initial values."""
    out = {}
    for name in rt.param_names:
        given = initial is not None and name in initial
        value = real(initial[name], f"parameter `{name}`") if given else \
            rt.network.params[name].value
        array = asarray(xp, value, dtype=dtype)
        if tuple(array.shape) != tuple(rt.network.params[name].shape):
            raise SolveError(f"parameter `{name}` must have shape "
                             f"{rt.network.params[name].shape}, got {tuple(array.shape)}")
        out[name] = array
    return out


def _resumed_params(rt: LiftedNetwork, state: TrainState, xp: Any, dtype: Any,
                    ) -> dict[str, Any]:
    if set(state.params) != set(rt.param_names):
        raise SolveError("the checkpoint holds the parameters "
                         f"{', '.join(sorted(state.params)) or 'none'}, but the network trains "
                         f"{', '.join(sorted(rt.param_names))}")
    return _init_params(rt, xp, dtype, state.params)


def _blocks_of(rt: LiftedNetwork, pens: dict[str, RegulariserSum]) -> dict[int, RegulariserSum]:
    """Penalties by the block of their variable (backpropagation)."""
    index = {blk.var: j for j, blk in enumerate(rt.u_blocks)}
    return {index[v]: pen for v, pen in pens.items()}


def _layers_of(roles: LiftedRoles, pens: dict[str, RegulariserSum]) -> dict[int, RegulariserSum]:
    """Penalties by the layer whose state they weigh (lifted training)."""
    by_key = {roles.keys[l]: l for l in roles.hidden}
    out = {}
    for v, pen in pens.items():
        if v not in by_key:
            var = roles.net.network.variables[v]
            rebound = (f" (`{var.name}` means its last binding, `{v}`; give the layer you mean "
                       "a name of its own)" if var.version > 1 else "")
            raise SolveError(f"lifted training cannot penalise `{var.name}`: it is not the state "
                             f"of a plain hidden layer{rebound}; the output and residual sums are "
                             "not free states; use loss = mse")
        out[by_key[v]] = pen
    return out


def train(net: NetworkIR, inputs: Any, targets: Any, settings: Any = None, *,
          loss: str | None = None, xp: Any = None, dtype: Any = "float64", seed: int = 0,
          monitor: Monitor | None = None, penalties: Any = None, validate: Validate | None = None,
          initial: dict[str, Any] | None = None, resume: TrainState | None = None,
          checkpoint: Callable[[TrainState], None] | None = None,
          shards: Callable[[LiftedTrainer], Any] | None = None) -> TrainResult:
    """Train ``net`` on ``inputs`` → ``targets`` (one sample per leading index).

    ``settings`` is a task's optimizer (``ImplicitSGD``, ``SGD`` or ``Adam``; default
    ``implicit_sgd()`` for ``loss = "bregman"``, ``adam()`` for ``"mse"``); ``loss`` defaults to
    bregman for implicit_sgd and mse otherwise.  ``penalties`` is a task's ``PenaltyTerms`` (or its
    terms, or ``{variable: RegulariserSum}``).  ``xp`` is the array namespace (NumPy by default),
    ``dtype`` ``"float64"``/``"float32"`` or a dtype of ``xp``; ``initial`` overrides starting
    values by parameter name.  ``resume`` continues from a :class:`TrainState` (of a run with the
    same data, settings and seed; ``settings.epochs`` is the total to reach), ``checkpoint``
    receives one at the end of every epoch.  ``shards(trainer)`` (lifted training) returns a
    pool of shards (:mod:`.shards`: :class:`~.shards.LocalPool`, or a Dask cluster's) that keep
    the samples and their states: data-parallel training, the serial steps up to rounding.
    See the module docstring for the history and stop reasons.
    """
    loss, settings = _resolve(settings, loss)
    xp = xp or namespace("numpy")
    dtype = float_dtype(xp, dtype) if isinstance(dtype, str) else dtype
    rt = lifted_network(net, xp, dtype, params={})
    x = _rows(xp, inputs, rt.u_blocks[0].size, dtype, "inputs")
    y = _rows(xp, targets, rt.u_blocks[rt.output_block].size, dtype, "targets")
    if y.shape[0] != x.shape[0]:
        raise SolveError(f"{x.shape[0]} inputs but {y.shape[0]} targets")
    if not (is_finite(x) and is_finite(y)):
        raise SolveError("the training data hold NaN or infinite entries")
    method, y, moved = _method(rt, loss, settings, resolve_penalties(net, penalties), y, xp,
                               dtype)
    params = _init_params(rt, xp, dtype, initial)
    if resume is not None:
        _resumed_params(rt, resume, xp, dtype)       # the same parameters, or one line
    data = Samples(x, y, method.start(params, x) if resume is None else {},
                   np.arange(x.shape[0]))
    batch = max(1, min(int(settings.batch), x.shape[0]))
    if shards is None:
        epochs = Epochs(method, data, params, seed, batch, validate, xp, dtype)
    elif method.roles is None:
        raise SolveError("data-parallel shards are for lifted training (loss = bregman)")
    else:
        epochs = ShardedEpochs(method, data, params, seed, batch, validate, xp, dtype,
                               shards(method.trainer))
    if settings.patience is not None:
        if validate is None:
            raise SolveError("patience stops on the validation PSNR: give validation data")
        epochs = EarlyStopping(epochs, settings.patience)

    def snapshot(k: int, history: History) -> TrainState:
        return TrainState(epoch=k, history=history.copy(), **epochs.state())

    after = None if checkpoint is None else (lambda k, h: checkpoint(snapshot(k, h)))
    start = None if resume is None else {"iteration": vars(resume), "k": resume.epoch,
                                         "history": resume.history}
    try:
        out = run(epochs, Stopping(max_iter=int(settings.epochs), tol=None, check_every=1),
                  monitor, start, unit="epoch", record_start=True, catch_interrupts=True,
                  after_check=after)
        roles = method.roles
        states = None if roles is None else epochs.sample_states(
            {roles.keys[l]: roles.state_shape(l) for l in roles.hidden})
        last = snapshot(out.iterations, out.history)
    finally:
        epochs.close()
    note = f"{moved} target entries moved into the domain of the output's activation"
    # with patience, the best epoch's parameters whether it stopped early or ran every epoch
    best = getattr(epochs, "best", None) if out.reason in ("tol", "max_iter") else None
    message = out.message if out.reason in ("diverged", "tol") else ""
    if best and out.reason == "max_iter" and best["epoch"] != out.iterations:
        message = (f"every epoch ran; the parameters of epoch {best['epoch']} (the best "
                   f"validation PSNR, {best['value']:.4g}) are kept")
    return TrainResult(params=best["params"] if best else epochs.params, history=out.history,
                       stop_reason=out.reason, epochs=out.iterations,
                       method="lifted" if roles else "backprop",
                       optimizer=settings.name, lifted_states=states,
                       message=message or (note if moved else ""),
                       projected_targets=moved, state=last,
                       kept_epoch=int(best["epoch"]) if best else None)


def _method(rt: LiftedNetwork, loss: str, settings: Any, pens: dict[str, RegulariserSum],
            y: Any, xp: Any, dtype: Any) -> tuple[Any, Any, int]:
    """``(method, targets, moved)``: the training method, the targets (lifted: projected onto
    dom Ψ of the output layer, where B is finite) and how many entries that moved."""
    output_layer(rt)
    update = settings.update()
    if loss != "bregman":
        return BackpropMethod(rt, _blocks_of(rt, pens), update), y, 0
    trainer = lifted_trainer(rt, pens, xp, dtype)
    pinned = trainer.roles.pinned      # None: a residual output, fitted by ½‖u − y‖² (any y)
    y_dom = y if pinned is None else rt.layers[pinned].psi.project_domain(y)
    moved = int(xp.sum(xp.astype(y_dom != y, xp.int64)))
    if update is not None:
        return LiftedMethod(trainer, update), y_dom, moved
    return (LiftedMethod(trainer, None, float(settings.tau), int(settings.inner),
                         precondition=bool(settings.precondition)), y_dom, moved)


def lifted_trainer(rt: LiftedNetwork, pens: dict[str, RegulariserSum], xp: Any, dtype: Any,
                   ) -> LiftedTrainer:
    """The lifted trainer of ``rt`` with the penalties by variable (``SolveError`` in one line
    for a network that cannot be trained lifted)."""
    roles = LiftedRoles.of(rt)
    return LiftedTrainer(roles, _layers_of(roles, pens), xp, dtype)
