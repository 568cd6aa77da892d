"""Running a ``train`` task: the training library on the task's pairs, with validation, a
progress line per epoch, a checkpoint per epoch and a clean Ctrl-C.

The stages before this one (certificate, data) and after it (:mod:`.save`) are the task's run in
:mod:`lbdsl.tasks.train`.  This module only trains:

* :func:`lbdsl.training.train` with the task's loss, optimizer, penalty, seed and dtype, on the
  backend's namespace;
* after every epoch: the validation metrics (``validation_mse``, ``validation_psnr`` with the
  targets' range as peak, ``validation_accuracy`` for one-hot labels), a progress line
  (:class:`EpochProgress`), and ``checkpoint.npz`` (:mod:`.checkpoint`), written atomically;
* ``resume``: a :class:`~lbdsl.training.TrainState` read back from that file, from which training
  continues to the same result as a run that never stopped;
* the first Ctrl-C is honoured at the end of the running epoch (the epoch's checkpoint is on
  disk by then), a second one at once — training rolls back to the last complete epoch, so what
  is written is always consistent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ...backend import asarray, float_dtype, to_numpy
from ...ir.nodes import NetworkIR
from ...ir.tasks.records import TrainTask
from ...lift.network import lifted_network
from ...training import TrainResult, TrainState, predict, train
from . import checkpoint as ck
from .pairs import Pairs
from ..progress import InterruptGuard, Progress

__all__ = ["Trained", "EpochProgress", "validator", "psnr", "run"]


@dataclass
class Trained:
    """The outcome of one task's training: the library's result, the time this run took and
    the time of the runs it resumed (``resumed_from`` is the epoch it started at, or None);
    ``epoch_times``: the training time (s, the resumed runs' included) at the end of each
    epoch, by epoch (an epoch of a resumed run whose checkpoint did not record it is absent)."""

    result: TrainResult
    time_s: float
    time_s_before: float = 0.0
    resumed_from: int | None = None
    checkpoint_epoch: int | None = None
    epoch_times: dict[int, float] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.result.stop_reason == "interrupted"


# --- what the user sees ----------------------------------------------------------------------

#: an epoch's line: ``loss 0.012  objective 0.34  lifted residual 0.05  val PSNR 21.30 dB``
_SHOWN = (("mse_loss", "loss", "{:.4g}"), ("objective", "objective", "{:.4g}"),
          ("residual", "lifted residual", "{:.3g}"), ("validation_psnr", "val PSNR", "{:.2f} dB"),
          ("validation_accuracy", "val accuracy", "{:.1%}"))


class EpochProgress(Progress):
    """:class:`~lbdsl.tasks.progress.Progress` counting epochs: a bar on a terminal, else one plain line
    per epoch (up to ``lines`` of them)."""

    unit = "epoch"
    shown = _SHOWN

    def __init__(self, console: Console, label: str, epochs: int, lines: int = 100):
        super().__init__(console, label, epochs, lines=lines)


# --- validation ------------------------------------------------------------------------------

def psnr(mse: float, peak: float) -> float:
    """``10 log10(peak² / mse)`` (∞ for an exact fit)."""
    return 10.0 * math.log10(peak * peak / mse) if mse > 0 else math.inf


def validator(net: NetworkIR, pairs: Pairs, xp: Any, dtype: Any,
              ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """``validate(params)``: the MSE per entry on ``pairs``, the PSNR (peak: the targets'
    max − min, 1 for constant targets) and, for one-hot targets, the accuracy."""
    model = lifted_network(net, xp, dtype, params={})
    x = asarray(xp, pairs.inputs.reshape(pairs.n, -1), dtype=dtype)
    y = pairs.targets.reshape(pairs.n, -1)
    span = float(y.max() - y.min())
    peak = span if span > 0 else 1.0

    def validate(params: dict[str, Any]) -> dict[str, float]:
        out = np.asarray(to_numpy(predict(model, params, x)), dtype=np.float64)
        mse = float(np.mean((out - y) ** 2))
        metrics = {"validation_mse": mse, "validation_psnr": psnr(mse, peak)}
        if pairs.labels:
            metrics["validation_accuracy"] = float(np.mean(np.argmax(out, axis=1)
                                                           == np.argmax(y, axis=1)))
        return metrics

    return validate


# --- the run ---------------------------------------------------------------------------------

def method_label(task: TrainTask) -> str:
    """``lifted implicit_sgd``, ``backprop adam``, ..."""
    return f"{'lifted' if task.loss == 'bregman' else 'backprop'} {task.optimizer.name}"


def run(task: TrainTask, net: NetworkIR, data: Pairs, validation: Pairs | None, xp: Any,
        console: Console, checkpoint_path: Path, fingerprint: dict[str, Any],
        resume: tuple[TrainState, float] | None = None, shards: Any = None,
        times_before: dict[int, float] | None = None) -> Trained:
    """Train ``net`` on ``data`` as ``task`` says, writing ``checkpoint_path`` after every
    epoch; ``resume`` is a checkpoint's state and the training time it records
    (``times_before``: the time at the end of each of its epochs); ``shards``: a pool of
    data-parallel shards (:func:`lbdsl.training.train`)."""
    dtype = float_dtype(xp, task.dtype)
    validate = validator(net, validation, xp, dtype) if validation is not None else None
    state, before = resume if resume is not None else (None, 0.0)
    label = method_label(task)
    written: list[int] = []
    # kept beside the history, not in it: a resumed run's history equals an unbroken one's
    times: dict[int, float] = dict(times_before or {})
    start = time.perf_counter()

    def save(snapshot: TrainState) -> None:
        times.setdefault(snapshot.epoch, before + time.perf_counter() - start)
        ck.write(checkpoint_path, snapshot, fingerprint, before + time.perf_counter() - start,
                 [times.get(epoch) for epoch in snapshot.history.iteration])
        written.append(snapshot.epoch)

    with InterruptGuard() as guard, EpochProgress(console, label, task.optimizer.epochs) as bar:
        def monitor(epoch: int, metrics: dict[str, float]) -> None:
            times.setdefault(epoch, before + time.perf_counter() - start)  # epoch 0: no save
            bar(epoch, metrics)
            guard.check()

        result = train(net, data.inputs, data.targets, task.optimizer, loss=task.loss, xp=xp,
                       dtype=dtype, seed=task.seed, monitor=monitor, penalties=task.penalty,
                       validate=validate, resume=state, checkpoint=save,
                       shards=shards)
    elapsed = time.perf_counter() - start
    last = result.state
    if last is not None and (not written or written[-1] != last.epoch):
        save(last)  # the starting point of a run stopped in its first epoch, or a rollback
    return Trained(result, elapsed, before, None if state is None else state.epoch,
                   None if last is None else last.epoch, times)
