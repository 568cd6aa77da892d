"""PNG figures of a ``train`` result (matplotlib's Agg canvas, as in :mod:`.figures`):

* ``training.png`` — per epoch: the training loss ½‖N(x) − y‖² (and the method's own objective),
  the lifted residual (lifted training), the validation PSNR (when there is a validation set);
* ``denoising.png`` — a grid of a few validation samples (training samples without a validation
  set): the input the network sees (noisy), its output, and the target (clean);
* ``compare-train-NET.png`` (the spec's, :mod:`lbdsl.tasks.compare`) — the validation PSNR of
  several tasks against the epoch and against the training time, one line per task
  (:func:`comparison`; a returned ``Figure``, saved by the caller).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator

from ...solvers.base import History
from ..figures import as_image, figure, png

__all__ = ["training", "denoising", "Curve", "comparison"]


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


@dataclass(frozen=True)
class Curve:
    """One task's line in :func:`comparison`: its label, the epochs, the validation PSNR at
    each, and the training time (s) at each (None where the report does not know it)."""

    label: str
    epochs: Sequence[float]
    psnr: Sequence[float | None]
    times: Sequence[float | None] | None = None


def _finite(xs: Sequence[float | None] | None, ys: Sequence[float | None],
            ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``xs`` and ``ys`` where both are known and finite."""
    if xs is None:
        return np.empty(0), np.empty(0)
    x = np.array([np.nan if v is None else v for v in xs], dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in ys], dtype=np.float64)[:x.size]
    x = x[:y.size]
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def comparison(curves: Sequence[Curve], title: str) -> Any | None:
    """Validation PSNR against the epoch and against the training time, one line per curve;
    the time panel only where some curve knows its times (None: nothing to draw)."""
    by_epoch = [(c, *_finite(c.epochs, c.psnr)) for c in curves]
    by_time = [(c, *_finite(c.times, c.psnr)) for c in curves]
    panels = [(ax_title, xlabel, lines) for ax_title, xlabel, lines in (
        ("validation PSNR against epoch", "epoch", by_epoch),
        ("validation PSNR against training time", "training time (s)", by_time))
        if any(x.size for _, x, _ in lines)]
    if not panels:
        return None
    fig = figure(5.5 * len(panels), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (ax_title, xlabel, lines) in zip(axes, panels):
        for k, (curve, x, y) in enumerate(lines):
            if x.size:
                ax.plot(x, y, f"C{k % 10}-", lw=1.2, marker=".", ms=3, label=curve.label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation PSNR (dB)")
        ax.set_title(ax_title)
        ax.legend(fontsize="small")
    if panels[0][1] == "epoch":
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if panels[-1][1] != "epoch":    # times that span decades (backprop against lifted): log
        times = np.concatenate([x for _, x, _ in panels[-1][2]])
        if times.min() > 0 and times.max() > 20 * times.min():
            axes[-1].set_xscale("log")
    fig.suptitle(title)
    return fig
