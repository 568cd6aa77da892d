"""``checkpoint.npz``: where a ``train`` task stands after its last complete epoch, so that
``lbdsl solve --resume`` continues it to the same result as a run that never stopped.

The file holds a :class:`~lbdsl.training.TrainState` — parameters (``param/NAME``), hidden states
in their current row order (``state/ID``) with that order (``order``), the optimizer's arrays
(``optimizer/KEY/NAME``), the power-iteration vectors (``norm/K``) — and one JSON document
(``meta``, UTF-8 bytes in a ``uint8`` array: the file never holds a pickle) with the epoch, the
generator's state, the history, the scalars of the optimizer and the norms, the training time so
far and a *fingerprint* of the run.

The fingerprint is everything the trajectory depends on except the number of epochs: the
network (layers, parameter shapes and initial values), the training and validation data
(sha256 of the arrays), the loss, the penalty, the optimizer's other settings, the seed and the
dtype.  A checkpoint whose fingerprint differs is refused, in one line that names what changed,
so ``--resume`` never silently mixes two runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..errors import DataError, SolveError
from ..ir.nodes import NetworkIR
from ..ir.tasks.model import TrainTask
from ..outputs import write_bytes_atomic
from ..solvers.base import History
from ..training import TrainState
from .pairs import Pairs

__all__ = ["FILE", "FORMAT", "fingerprint", "write", "read", "check_compatible", "sha",
           "network_fingerprint", "plain", "save_npz", "load_npz", "READ_ERRORS", "reason",
           "changed"]

FILE = "checkpoint.npz"
FORMAT = 2   # 2: the network's fingerprint holds its input and every field of its layers


# --- fingerprint -----------------------------------------------------------------------------

def sha(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' shapes and float64 values."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float64)
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


#: Fields of the IR and the task models that say where a value was written, not what it is.
_WHERE = frozenset({"span", "spans", "network_span", "given"})


def plain(value: Any) -> Any:
    """An IR node or task setting as nested plain values (dataclass fields by name, without
    their source locations) — what a fingerprint compares."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in _WHERE}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def network_fingerprint(net: NetworkIR) -> dict[str, Any]:
    """The input and its shape, every layer as the IR has it (kind, Ψ and its parameters, the
    affine map with its shapes, conv geometry, residual sign and tying), the output, and each
    parameter's shape and initial values."""
    params = {name: [list(p.shape), sha(p.value)] for name, p in net.params.items()}
    return {"input": [net.input, list(net.input_shape)], "output": net.output,
            "layers": [[type(step).__name__, plain(step)] for step in net.layers],
            "params": params}


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


_WHAT = {"network": "the network (its layers or initial parameters)", "data": "the training data",
         "validation": "the validation data", "loss": "`loss`", "penalty": "`penalty`",
         "optimizer": "the optimizer (other than `epochs`)", "seed": "`seed`", "dtype": "`dtype`"}


def changed(found: dict[str, Any], expected: dict[str, Any],
            names: dict[str, str] | None = None) -> str:
    """What differs between two fingerprints, in words (empty: nothing)."""
    names = _WHAT if names is None else names
    keys = [key for key in expected if found.get(key) != json.loads(json.dumps(expected[key]))]
    return ", ".join(names.get(k, k) for k in keys)


def check_compatible(found: dict[str, Any], expected: dict[str, Any], path: Path,
                     names: dict[str, str] | None = None) -> None:
    """``SolveError`` (one line) if the checkpoint at ``path`` belongs to another run;
    ``names`` says each fingerprint key in words."""
    what = changed(found, expected, names)
    if what:
        raise SolveError(f"cannot resume from {path}: since it was written, {what} changed; "
                         "run without --resume to start over")


# --- the file --------------------------------------------------------------------------------

def write(path: Path, state: TrainState, fp: dict[str, Any], time_s: float) -> None:
    """Atomically write ``state`` (with its fingerprint and the training time so far)."""
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
    }
    save_npz(path, arrays, meta)


def save_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write ``arrays`` and the JSON document ``meta`` (as ``meta``, UTF-8 bytes)."""
    # NaN in a history survives the round trip (Python's json reads what it writes)
    arrays = {**arrays, "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    # uncompressed: written every epoch, and deflating float states costs more than a large
    # network's epoch while saving little
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_npz(path: Path, fmt: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a file :func:`save_npz` wrote in format ``fmt``; ``ValueError``,
    ``OSError``, … (see :data:`READ_ERRORS`) for anything else."""
    with open(path, "rb") as handle:  # np.load calls anything unknown "pickled data"
        if handle.read(4) != b"PK\x03\x04":
            raise ValueError("it is not an .npz file")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: np.array(npz[key]) for key in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    if meta.get("format") != fmt:
        raise ValueError(f"it was written by another version of lbdsl (format "
                         f"{meta.get('format')!r}; this one reads {fmt})")
    return arrays, meta


#: What reading a damaged or foreign checkpoint may raise (each turned into one line).
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError,
               zipfile.BadZipFile, zlib.error)


def reason(exc: BaseException, limit: int = 160) -> str:
    """An exception's message for a one-line error: printable, at most ``limit`` characters
    (a damaged zip directory can put a kilobyte of raw bytes in it)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def read(path: Path) -> tuple[TrainState, dict[str, Any], float]:
    """The state, fingerprint and training time stored at ``path`` (a one-line error if the file
    is not a checkpoint lbdsl wrote)."""
    try:
        arrays, meta = load_npz(path, FORMAT)
        params, states, vectors = {}, {}, {}
        optimizer: dict[str, Any] = dict(meta["optimizer"])
        for key, array in arrays.items():
            kind, _, name = key.partition("/")
            if kind == "param":
                params[name] = array
            elif kind == "state":
                states[name] = array
            elif kind == "norm":
                vectors[name] = array
            elif kind == "optimizer":
                slot, _, pname = name.partition("/")
                optimizer.setdefault(slot, {})[pname] = array
        history = meta["history"]
        state = TrainState(
            epoch=int(meta["epoch"]), params=params, states=states, order=arrays["order"],
            optimizer=optimizer, norms={"vectors": vectors, "normsq": meta["normsq"]},
            rng=meta["rng"],
            history=History([int(i) for i in history["iteration"]],
                            {k: [float(v) for v in vs] for k, vs in history["metrics"].items()}))
        return state, meta["fingerprint"], float(meta.get("time_s", 0.0))
    except READ_ERRORS as exc:
        raise DataError(f"cannot read the checkpoint {path}: {reason(exc)}; run without "
                        "--resume to start over") from None
