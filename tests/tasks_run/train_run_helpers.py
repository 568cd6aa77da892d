"""Tiny ``train`` specs shared by the train-runner tests (a few milliseconds per epoch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: A 64-6-64 denoising autoencoder on digits: ReLU code, linear decoder, l1 on the code.
TINY_AE_NET = """
network ae {
    input  u  : 8x8
    param  W1 : 6x64 = normal(std = 0.125, seed = 0)
    param  b1 : 6    = zeros
    param  W2 : 64x6 = normal(std = 0.18, seed = 1)
    param  b2 : 64   = zeros
    code = relu(W1 @ u + b1)
    y    = W2 @ code + b2
    output y
}
"""

TINY_AE = TINY_AE_NET + """
train ae {
    data       = digits(n = 30, noise = 0.1, seed = 0)
    validation = digits(n = 10, split = "test", noise = 0.1, seed = 1)
    penalty    = 0.001 * l1(code)
    optimizer  = implicit_sgd(epochs = 2, batch = 8, inner = 2)
}
"""

#: The optimizer settings (``--set optimizer=...``) of each training method.
METHODS = {
    "lifted": ["loss=bregman", "optimizer=implicit_sgd(epochs = 2, batch = 8, inner = 2)"],
    "adam": ["loss=mse", "optimizer=adam(lr = 0.01, epochs = 2, batch = 8)"],
    "sgd": ["loss=mse", "optimizer=sgd(lr = 0.05, epochs = 2, batch = 8, momentum = 0.9)"],
}


def report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())


def weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "weights.npz", allow_pickle=False) as npz:
        return {k: np.array(npz[k]) for k in npz.files}


def same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Bit for bit: the same names, shapes, dtypes and values."""
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)
