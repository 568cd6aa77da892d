"""What every task's figures share: matplotlib's Agg canvas (no display, no pyplot state: safe
inside a notebook or a server), PNG bytes, and whether an array is an image."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["figure", "png", "as_image", "is_image"]


def figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def as_image(x: np.ndarray) -> np.ndarray | None:
    """A 2-D view of ``x`` if it is an image (H×W, or 1×…×H×W), else None."""
    squeezed = np.squeeze(np.asarray(x))
    if squeezed.ndim == 2 and min(squeezed.shape) >= 2:
        return squeezed
    if squeezed.ndim == 3:  # C×H×W: show the first channel
        return squeezed[0]
    return None


def is_image(shape: tuple[int, ...]) -> bool:
    dims = [d for d in shape if d != 1]
    return len(dims) in (2, 3) and min(dims[-2:]) >= 2
