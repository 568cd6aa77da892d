"""Limits on what a spec and its files may ask for, each a documented constant
(docs/language.md §1, §8 and §9): beyond them lbdsl refuses in one line instead of overflowing,
recursing or allocating without bound.

Sizes of arrays are bounded where they are made: :mod:`lbdsl.ir.build` for a network's
parameters and states, :mod:`lbdsl.bounded` for every file (``.npy``/``.npz``, IDX, ONNX,
checkpoints), before anything of the declared size is allocated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_JSON_DEPTH", "MAX_MAGNITUDE", "MAX_PARAM_BYTES", "MAX_SPEC_BYTES", "MAX_THREADS",
           "too_large"]

#: The one size limit (bytes as float64): of any array read from a file or generated for a
#: task, and of a network's parameters (and variables) together (:mod:`lbdsl.ir.build`).
MAX_PARAM_BYTES = 2 * 1024**3
#: The largest spec file lbdsl reads (a hand-written spec is a few kilobytes; an imported
#: model's, its weights in an .npz beside it, rarely a megabyte)
MAX_SPEC_BYTES = 4 * 1024**2
#: The deepest nesting of a JSON document lbdsl reads (a checkpoint's ``meta`` needs ~15).
MAX_JSON_DEPTH = 64

#: the largest magnitude of a number in a spec, a parameter or data: its square, and its
#: product with any other such number, stay far inside float64 (about 1.8e308), so a weight,
#: a σ or a data value never overflows on its first use
MAX_MAGNITUDE = 1e100


def too_large(array: np.ndarray) -> str | None:
    """What is wrong with ``array``'s values in words — non-finite entries, or entries beyond
    :data:`MAX_MAGNITUDE` — or None when they are fine."""
    values = np.asarray(array, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        return (f"holds {int(bad.sum())} non-finite entries ({n_nan} NaN, "
                f"{int(bad.sum()) - n_nan} inf)")
    big = np.abs(values) > MAX_MAGNITUDE
    if big.any():
        return (f"holds {int(big.sum())} entries beyond {MAX_MAGNITUDE:.0e} in magnitude "
                f"(up to {float(np.abs(values).max()):.3g}): their squares and products "
                "overflow float64; rescale them")
    return None


#: The most BLAS threads a run may ask for (``--threads``, ``solve(threads=)``).
MAX_THREADS = 1024
