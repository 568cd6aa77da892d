"""PNG figures of a ``train`` result (matplotlib's Agg canvas, as in :mod:`.figures`):

* ``training.png`` — per epoch: the training loss ½‖N(x) − y‖² (and the method's own objective),
  the lifted residual (lifted training), the validation PSNR (when there is a validation set);
* ``denoising.png`` — a grid of a few validation samples (training samples without a validation
  set): the input the network sees (noisy), its output, and the target (clean).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator

from ...solvers.base import History
from ..figures import as_image, figure, png

__all__ = ["training", "denoising"]


def _series(history: History, key: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(history.metrics.get(key, []), dtype=np.float64)
    epochs = np.asarray(history.iteration, dtype=np.float64)[:values.size]
    keep = np.isfinite(values)
    return epochs[keep], values[keep]


def training(history: History) -> bytes | None:
    """The training curves against the epoch (None when there is nothing to draw)."""
    panels = [("loss", [("mse_loss", "training loss ½‖N(x) − y‖²", "C0-"),
                        ("objective", "objective (with penalty / lifted)", "C1--")], True),
              ("lifted residual", [("residual", "‖σ(A x + b) − x⁺‖ / ‖x⁺‖", "C2-")], True),
              ("validation PSNR (dB)", [("validation_psnr", "validation PSNR", "C3-")], False)]
    shown = [(t, [c for c in curves if _series(history, c[0])[0].size], log)
             for t, curves, log in panels]
    shown = [p for p in shown if p[1]]
    if not shown:
        return None
    fig = figure(4.2 * len(shown), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    for ax, (title, curves, log) in zip(axes, shown):
        for key, label, style in curves:
            epochs, values = _series(history, key)
            if log and np.all(values > 0):
                ax.semilogy(epochs, values, style, lw=1.2, marker=".", ms=3, label=label)
            else:
                ax.plot(epochs, values, style, lw=1.2, marker=".", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend(fontsize="small")
    return png(fig)


def denoising(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray,
              title: str) -> bytes | None:
    """Rows input / output / target, one column per sample (None unless all are images):
    one montage on one axes, which draws in a fraction of the time of a grid of axes."""
    rows = [[as_image(a) for a in group] for group in (inputs, outputs, targets)]
    if not rows[0] or any(p is None for row in rows for p in row):
        return None
    h, w = rows[0][0].shape
    k, gap = len(rows[0]), 1
    montage = np.full((3 * h + 2 * gap, k * w + (k - 1) * gap), np.nan)
    for i, row in enumerate(rows):
        for j, picture in enumerate(row):
            montage[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = picture
    cmap = colormaps["gray"].with_extremes(bad="white")
    fig = figure(0.9 * k + 1.2, 3.2)
    ax = fig.subplots()
    ax.imshow(montage, cmap=cmap, vmin=float(np.min(targets)), vmax=float(np.max(targets)),
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([i * (h + gap) + (h - 1) / 2 for i in range(3)], ["input", "output", "target"])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize="medium")
    return png(fig)
