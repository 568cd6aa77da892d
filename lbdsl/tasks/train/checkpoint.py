"""``checkpoint.npz`` of a ``train`` task: where it stands after its last complete epoch, in the
one checkpoint format (:mod:`lbdsl.tasks.checkpoint`).

The file holds a :class:`~lbdsl.training.TrainState` — parameters (``param/NAME``), hidden states
in their current row order (``state/ID``) with that order (``order``), the optimizer's arrays
(``optimizer/KEY/NAME``), the power-iteration vectors (``norm/K``) — and, in ``meta``, the epoch,
the generator's state, the history, the scalars of the optimizer and the norms, the training
time so far (and at the end of each epoch of the history: ``epoch_time_s``) and the
fingerprint: the network (layers, parameter shapes and initial values), the training and
validation data (sha256 of the arrays), the loss, the penalty, the optimizer's other settings
(not ``epochs``), the seed and the dtype.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import to_numpy
from ...errors import DataError
from ...ir.nodes import NetworkIR
from ...ir.tasks.records import TrainTask
from ...solvers.base import History
from ...training import TrainState
from ..checkpoint import FILE, READ_ERRORS, load_npz, network_fingerprint, reason, save_npz, sha
from .pairs import Pairs

__all__ = ["FILE", "FORMAT", "WHAT", "fingerprint", "write", "read", "read_with_times"]

FORMAT = 3   # 2: the network's fingerprint holds its input and every field of its layers;
             # 3: a layer's pre-activation is its terms (linear expressions) and biases


def _optimizer(task: TrainTask) -> dict[str, Any]:
    opt = task.optimizer
    out: dict[str, Any] = {"name": opt.name}
    for f in dataclasses.fields(opt):
        if f.name not in ("spans", "span", "epochs"):
            out[f.name] = getattr(opt, f.name)
    return out


def _pairs(pairs: Pairs | None) -> str | None:
    return None if pairs is None else sha(pairs.inputs, pairs.targets)


def fingerprint(task: TrainTask, net: NetworkIR, data: Pairs,
                validation: Pairs | None) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint (JSON-ready)."""
    return {
        "network": network_fingerprint(net),
        "data": _pairs(data),
        "validation": _pairs(validation),
        "loss": task.loss,
        "penalty": sorted([t.name, t.variable, float(t.weight)] for t in task.penalty.terms),
        "optimizer": _optimizer(task),
        "seed": int(task.seed),
        "dtype": task.dtype,
    }


#: Each fingerprint key in words.
WHAT = {"network": "the network (its layers or initial parameters)", "data": "the training data",
         "validation": "the validation data", "loss": "`loss`", "penalty": "`penalty`",
         "optimizer": "the optimizer (other than `epochs`)", "seed": "`seed`", "dtype": "`dtype`"}


def write(path: Path, state: TrainState, fp: dict[str, Any], time_s: float,
          epoch_times: list[float | None] | None = None) -> None:
    """Atomically write ``state`` (with its fingerprint, the training time so far and, in
    ``epoch_times``, the time at the end of each epoch of its history, None where unknown)."""
    arrays: dict[str, np.ndarray] = {"order": np.asarray(state.order, dtype=np.int64)}
    for name, value in state.params.items():
        arrays[f"param/{name}"] = to_numpy(value)
    for vid, value in state.states.items():
        arrays[f"state/{vid}"] = to_numpy(value)
    scalars: dict[str, Any] = {}
    for key, value in state.optimizer.items():
        if isinstance(value, dict):
            scalars[key] = {}               # present (perhaps empty), so it is restored as such
            for name, array in value.items():
                arrays[f"optimizer/{key}/{name}"] = to_numpy(array)
        else:
            scalars[key] = value
    for k, vector in state.norms.get("vectors", {}).items():
        arrays[f"norm/{k}"] = to_numpy(vector)
    best = state.best
    for name, value in (best["params"].items() if best else ()):
        arrays[f"best/{name}"] = to_numpy(value)
    meta = {
        "format": FORMAT,
        "epoch": int(state.epoch),
        "rng": state.rng,
        "optimizer": scalars,
        "normsq": state.norms.get("normsq", {}),
        "history": {"iteration": list(state.history.iteration),
                    "metrics": state.history.metrics},
        "time_s": float(time_s),
        "fingerprint": fp,
        "best": None if not best else {"epoch": int(best["epoch"]),
                                       "value": float(best["value"])},
    }
    if epoch_times is not None:
        meta["epoch_time_s"] = [None if t is None else float(t) for t in epoch_times]
    save_npz(path, arrays, meta)


def read(path: Path) -> tuple[TrainState, dict[str, Any], float]:
    """The state, fingerprint and training time stored at ``path`` (a one-line error if the file
    is not a checkpoint lbdsl wrote)."""
    return read_with_times(path)[:3]


def read_with_times(path: Path,
                    ) -> tuple[TrainState, dict[str, Any], float, dict[int, float]]:
    """:func:`read`, and the training time at the end of each epoch of the history, by epoch
    (those the file records)."""
    try:
        arrays, meta = load_npz(path, FORMAT)
        params, states, vectors, best_params = {}, {}, {}, {}
        optimizer: dict[str, Any] = dict(meta["optimizer"])
        for key, array in arrays.items():
            kind, _, name = key.partition("/")
            if kind == "param":
                params[name] = array
            elif kind == "state":
                states[name] = array
            elif kind == "norm":
                vectors[name] = array
            elif kind == "best":
                best_params[name] = array
            elif kind == "optimizer":
                slot, _, pname = name.partition("/")
                optimizer.setdefault(slot, {})[pname] = array
        history = meta["history"]
        state = TrainState(
            epoch=int(meta["epoch"]), params=params, states=states, order=arrays["order"],
            optimizer=optimizer, norms={"vectors": vectors, "normsq": meta["normsq"]},
            rng=meta["rng"],
            best=None if not meta.get("best") else {
                "epoch": int(meta["best"]["epoch"]), "value": float(meta["best"]["value"]),
                "params": best_params},
            history=History([int(i) for i in history["iteration"]],
                            {k: [float(v) for v in vs] for k, vs in history["metrics"].items()}))
        times = {int(epoch): float(t) for epoch, t in
                 zip(history["iteration"], meta.get("epoch_time_s") or ()) if t is not None}
        return state, meta["fingerprint"], float(meta.get("time_s", 0.0)), times
    except READ_ERRORS as exc:
        raise DataError(f"cannot read the checkpoint {path}: {reason(exc)}; run without "
                        "--resume to start over") from None
