"""``checkpoint.npz``: the one file format in which a task keeps where it stands, so that
``lbdsl solve --resume`` goes on to the same result as a run that never stopped.

A checkpoint is arrays and one JSON document (``meta``, UTF-8 bytes in a ``uint8`` array: the
file never holds a pickle), written atomically; ``meta`` holds the format, the task kind's own
scalars and a *fingerprint* of the run — everything the result depends on except the limits a
resumed run may raise (``max_iter``, ``epochs``).  A checkpoint whose fingerprint differs is
refused in one line that names what changed (:func:`check_compatible`), so ``--resume`` never
silently mixes two runs; a damaged or foreign file is refused in one line too
(:data:`READ_ERRORS`, :func:`reason`).  What each task kind stores is its own:
:mod:`lbdsl.tasks.invert.checkpoint` (the solves) and :mod:`lbdsl.tasks.train.checkpoint`
(the training state after the last complete epoch).
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

from ..bounded import check_regular, json_loads, read_npz
from ..errors import SolveError
from ..ir.nodes import NetworkIR
from ..outputs import write_bytes_atomic
from ..terminal import visible

__all__ = ["FILE", "check_compatible", "sha", "network_fingerprint", "plain", "save_npz",
           "load_npz", "READ_ERRORS", "reason", "changed"]

FILE = "checkpoint.npz"


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


def changed(found: dict[str, Any], expected: dict[str, Any], names: dict[str, str]) -> str:
    """What differs between two fingerprints, in words (``names``; empty: nothing)."""
    keys = [key for key in expected if found.get(key) != json.loads(json.dumps(expected[key]))]
    return ", ".join(names.get(k, k) for k in keys)


def check_compatible(found: dict[str, Any], expected: dict[str, Any], path: Path,
                     names: dict[str, str]) -> None:
    """``SolveError`` (one line) if the checkpoint at ``path`` belongs to another run;
    ``names`` says each fingerprint key in words."""
    what = changed(found, expected, names)
    if what:
        raise SolveError(f"cannot resume from {path}: since it was written, {what} changed; "
                         "run without --resume to start over")


# --- the file --------------------------------------------------------------------------------

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
    ``OSError``, … (see :data:`READ_ERRORS`) for anything else — also for an array larger than
    the file holds or than lbdsl allocates, and for a ``meta`` nested too deep to parse
    (:mod:`lbdsl.bounded`)."""
    check_regular(path, follow=False)   # lbdsl's own file in its output folder: no link
    with open(path, "rb") as handle:  # np.load calls anything unknown "pickled data"
        if handle.read(4) != b"PK\x03\x04":
            raise ValueError("it is not an .npz file")
    arrays = read_npz(path)
    meta = json_loads(arrays.pop("meta").tobytes().decode("utf-8"), "`meta`")
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
    text = visible(text, keep_newlines=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


