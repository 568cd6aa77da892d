"""Writing a ``train`` task's folder: ``weights.npz``, the figures, then ``report.json``
(``checkpoint.npz`` is written during training, by :mod:`.fit`).

As for ``invert`` (:mod:`lbdsl.tasks.invert.save`): every file goes through :mod:`lbdsl.outputs`, ``report.json``
comes last, and lbdsl's own files of an earlier run that this run does not write are removed.
``weights.npz`` holds every trained parameter under its spec name (``W1``, ``W_3`` in a repeat,
``z_W`` for a created one) in float64 — exactly what ``param W1 : … = load("…/weights.npz",
"W1")`` reads back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import namespace
from ...certify.certificate import Certificate
from ...errors import SolveError
from ...ir.nodes import NetworkIR, size_of
from ...ir.tasks.records import TrainTask
from ...outputs import write_npz_atomic
from ...training import predict
from . import checkpoint as ck
from .. import report as rp
from . import figures as tf
from ..figures import is_image
from ..layout import check_inside
from .pairs import Pairs
from ..result import TaskResult
from .fit import Trained, method_label

__all__ = ["OWN_FILES", "TrainRecord", "prepare_folder", "write_train"]

#: Every file name lbdsl writes into a ``train`` task folder.
OWN_FILES = ("weights.npz", "report.json", "training.png", "denoising.png", ck.FILE)

#: How many samples ``denoising.png`` shows.
FIGURE_SAMPLES = 8


@dataclass
class TrainRecord:
    """Everything a ``train`` task's outputs are made from."""

    task: TrainTask
    net: NetworkIR
    certificate: Certificate
    data: Pairs
    validation: Pairs | None
    trained: Trained
    backend: str
    spec_file: str
    source: str
    overrides: tuple[str, ...]


def prepare_folder(folder: Path, resume: bool) -> None:
    """Create the task folder (a direct child of its ``DIR``) before training writes its
    checkpoints; drop the previous ``report.json`` (the folder is incomplete until the new one
    is written) and, unless resuming, the previous checkpoint."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SolveError(f"cannot create {folder}: {exc.strerror or exc}") from None
    check_inside(folder)
    (folder / "report.json").unlink(missing_ok=True)
    if not resume:
        (folder / ck.FILE).unlink(missing_ok=True)


# --- report ----------------------------------------------------------------------------------

def _optimizer(task: TrainTask) -> dict[str, Any]:
    opt = task.optimizer
    return {"name": opt.name, "settings": {f.name: getattr(opt, f.name)
                                           for f in dataclasses.fields(opt)
                                           if f.name not in ("spans", "span")}}


def _final(history: Any, key: str, epoch: int | None = None) -> float | None:
    """``key``'s value at the last epoch, or at ``epoch`` (the one whose parameters training
    kept: with ``patience``, the best)."""
    values = history.metrics.get(key)
    if not values:
        return None
    if epoch is not None and epoch in history.iteration:
        return values[history.iteration.index(epoch)]
    return values[-1]


def build_report(rec: TrainRecord) -> dict[str, Any]:
    """The contents of ``report.json`` (see docs/language.md §8)."""
    task, trained = rec.task, rec.trained
    res = trained.result
    history = res.history
    report: dict[str, Any] = {
        "kind": "train",
        "network": task.network,
        "task_line": task.span.line if task.span else None,
        "certificate": rec.certificate.to_json(),
        "settings": {
            "written": rp.written_settings(task, rec.source, {"--set": "\n".join(rec.overrides)}),
            "defaults": rp.default_settings(task),
            "overrides": list(rec.overrides),
        },
        "loss": task.loss,
        "method": res.method,
        "label": method_label(task),
        "optimizer": _optimizer(task),
        "penalty": [{"name": t.name, "variable": t.variable, "weight": t.weight}
                    for t in task.penalty.terms],
        "epochs": res.epochs,
        "epochs_requested": task.optimizer.epochs,
        "stop_reason": res.stop_reason,
        "kept_epoch": res.kept_epoch,     # patience: the headline numbers are this epoch's
        "message": res.message,
        "time_s": trained.time_s,
        "time_s_total": trained.time_s_before + trained.time_s,
        "resumed_from_epoch": trained.resumed_from,
        "objective": _final(history, "objective", res.kept_epoch),
        "mse_loss": _final(history, "mse_loss", res.kept_epoch),
        "residual": _final(history, "residual", res.kept_epoch),
        "validation_psnr": _final(history, "validation_psnr", res.kept_epoch),
        "validation_mse": _final(history, "validation_mse", res.kept_epoch),
    }
    if "validation_accuracy" in history.metrics:
        report["validation_accuracy"] = _final(history, "validation_accuracy", res.kept_epoch)
    report["history"] = {"epoch": list(history.iteration), **history.metrics}
    # wall time beside the history, not in it (a resumed run's history is an unbroken one's)
    report["epoch_time_s"] = [trained.epoch_times.get(epoch) for epoch in history.iteration]
    report["data"] = rec.data.source
    report["validation"] = rec.validation.source if rec.validation is not None else None
    report["projected_targets"] = res.projected_targets
    report["checkpoint"] = ({"file": ck.FILE, "epoch": trained.checkpoint_epoch}
                            if trained.checkpoint_epoch is not None else None)
    report.update(rp.provenance(rec.backend, task.dtype, task.seed, rec.spec_file, rec.source))
    return report


# --- figures ---------------------------------------------------------------------------------

def _figures(rec: TrainRecord, weights: dict[str, np.ndarray]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    curves = tf.training(rec.trained.result.history)
    if curves is not None:
        out["training.png"] = curves
    net = rec.net
    shape = tuple(net.input_shape)
    if is_image(shape) and size_of(tuple(net.output_shape)) == size_of(shape):
        # an image-to-image network (a 64-vector output of an 8x8 input is shown as 8x8)
        pairs, which = ((rec.validation, "validation") if rec.validation is not None
                        else (rec.data, "training"))
        k = min(FIGURE_SAMPLES, pairs.n)
        outputs = np.asarray(predict(net, weights, pairs.inputs[:k], xp=namespace("numpy"),
                                     dtype=np.float64)).reshape(k, *shape)
        grid = tf.denoising(pairs.inputs[:k], outputs, pairs.targets[:k].reshape(k, *shape),
                            f"{which} samples: input / output / target")
        if grid is not None:
            out["denoising.png"] = grid
    return out


# --- the folder ------------------------------------------------------------------------------

def write_train(folder: Path, rec: TrainRecord) -> TaskResult:
    """Write the task's folder (already prepared) and return its :class:`TaskResult`."""
    task, res = rec.task, rec.trained.result
    weights = {name: np.asarray(value, dtype=np.float64)
               for name, value in res.numpy_params().items()}
    report = build_report(rec)
    check_inside(folder)
    (folder / "report.json").unlink(missing_ok=True)
    written = ["weights.npz"]
    write_npz_atomic(folder / "weights.npz", weights)
    if (folder / ck.FILE).exists():
        written.append(ck.FILE)
    figures = _figures(rec, weights) if task.figures else {}
    rp.finish_folder(folder, written, figures, report, OWN_FILES)
    status, error = "ok", None
    if res.stop_reason == "interrupted":
        status = "interrupted"
    elif res.stop_reason == "diverged":
        status = "failed"
        lr = getattr(task.optimizer, "lr", None)
        hint = (f"; a smaller step may not: `optimizer = {task.optimizer.name}(lr = {lr / 5:g}, "
                "…)` (lr / 5)" if lr is not None else "")
        error = f"{res.message}; they are in {folder}{hint}"
    return TaskResult("train", task.network, task.span.line if task.span else None, status,
                      folder, report, weights, error)
