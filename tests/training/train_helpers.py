"""Helpers for the training tests: networks from spec text, and small learnable problems."""

from __future__ import annotations

import numpy as np

from reference_forward import forward as reference_forward
from spec_helpers import build_net  # noqa: F401 - re-exported for the training tests


def teacher_data(net, n: int, seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``N(0, scale²)`` and the targets ``net`` (the teacher) maps them to."""
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((n, *net.input_shape))
    y = reference_forward(net, x)[net.output]
    return x, y


def rel(a, b) -> float:
    """``‖a − b‖ / ‖b‖``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))
