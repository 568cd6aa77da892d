"""PNG figures of an ``invert`` result, drawn with matplotlib's Agg canvas (no display, no pyplot
state: safe inside a notebook or a server).

* ``reconstruction.png`` — images: truth | data | reconstruction | baseline side by side; vectors:
  the same as curves over the entry index;
* ``function.png`` — a batch of scalar problems (``linspace(a, b, n = N)`` on a one-entry input):
  the function N(u) with the data, and its inverse f ↦ u with the reconstruction;
* ``convergence.png`` — the objective's relative distance to its best value, and the residual,
  against the iteration (log scale);
* ``alpha_sweep.png`` — ``alpha = sweep(...)``: the residual (with the bound τδ), PSNR (or the
  objective) against α, and the L-curve ``(‖N(u_α) − f‖, J(u_α))``, the picked α marked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...solvers.base import SolveResult
from ..figures import as_image, figure, is_image, png

__all__ = ["is_image", "reconstruction", "function", "convergence", "alpha_sweep"]


def reconstruction(truth: np.ndarray | None, f: np.ndarray, u: np.ndarray,
                   baseline: np.ndarray | None, input_shape: tuple[int, ...]) -> bytes:
    """Truth / data / reconstruction / baseline: images side by side, or curves."""
    panels: list[tuple[str, np.ndarray]] = []
    if truth is not None:
        panels.append(("truth", truth))
    panels.append(("data f", f))
    panels.append(("reconstruction", u))
    if baseline is not None:
        panels.append(("baseline (quadratic fidelity)", baseline))
    if is_image(input_shape):
        fig = figure(3.2 * len(panels), 3.4)
        axes = np.atleast_1d(fig.subplots(1, len(panels)))
        lo, hi = (float(np.min(truth)), float(np.max(truth))) if truth is not None else (None, None)
        for ax, (title, x) in zip(axes, panels):
            picture = as_image(x)
            if picture is None:  # data of a vector-valued network: a curve
                ax.plot(np.ravel(x), lw=0.8)
                ax.set_xlabel("entry")
            else:
                shared = title != "data f"
                ax.imshow(picture, cmap="gray", vmin=lo if shared else None,
                          vmax=hi if shared else None, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            ax.set_title(title)
        return png(fig)
    fig = figure(9, 3.6)
    ax_u, ax_f = fig.subplots(1, 2)
    if truth is not None:
        ax_u.plot(np.ravel(truth), "k-", lw=1.2, label="truth")
    ax_u.plot(np.ravel(u), "C0.-", lw=0.8, ms=3, label="reconstruction")
    if baseline is not None:
        ax_u.plot(np.ravel(baseline), "C1x--", lw=0.8, ms=3, label="baseline")
    ax_u.set_xlabel("entry of u")
    ax_u.set_title("input")
    ax_u.legend(fontsize="small")
    ax_f.plot(np.ravel(f), "C2.-", lw=0.8, ms=3)
    ax_f.set_xlabel("entry of f")
    ax_f.set_title("data f")
    return png(fig)


def function(forward: Callable[[np.ndarray], np.ndarray], truth: np.ndarray | None,
             f: np.ndarray, u: np.ndarray, baseline: np.ndarray | None) -> bytes:
    """A batch of scalar problems: N on a grid with the data, and the inverse f ↦ u."""
    u_flat = np.ravel(u)
    f_flat = np.ravel(f)
    pool = [x for x in (truth, u_flat) if x is not None and np.all(np.isfinite(x))]
    lo = min(float(np.min(x)) for x in pool) if pool else 0.0
    hi = max(float(np.max(x)) for x in pool) if pool else 1.0
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(lo - pad, hi + pad, 400)
    values = np.ravel(forward(grid))
    fig = figure(10, 4)
    ax_n, ax_inv = fig.subplots(1, 2)
    ax_n.plot(grid, values, "k-", lw=1.2, label="N(u)")
    if truth is not None:
        ax_n.plot(np.ravel(truth), f_flat, "C2.", ms=4, label="data f")
    ax_n.set_xlabel("u")
    ax_n.set_ylabel("N(u)")
    ax_n.set_title("the network")
    ax_n.legend(fontsize="small")
    ax_inv.plot(values, grid, "k-", lw=1.2, label="N, transposed (the exact inverse)")
    ax_inv.plot(f_flat, u_flat, "C0.", ms=4, label="reconstruction")
    if baseline is not None:
        ax_inv.plot(f_flat, np.ravel(baseline), "C1x", ms=4, label="baseline")
    ax_inv.set_xlabel("f")
    ax_inv.set_ylabel("u")
    ax_inv.set_title("its inverse")
    ax_inv.legend(fontsize="small")
    return png(fig)


def _curves(ax: Any, result: SolveResult, key: str, label: str, style: str) -> bool:
    history = result.history
    values = np.asarray(history.metrics.get(key, []), dtype=np.float64)
    its = np.asarray(history.iteration, dtype=np.float64)[:values.size]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return False
    if key == "objective":  # the distance to the best objective seen, relative to it
        best = float(finite.min())
        values = (values - best) / max(abs(best), np.finfo(np.float64).tiny)
    keep = np.isfinite(values) & (values > 0)
    if not np.any(keep):
        return False
    ax.semilogy(its[keep], values[keep], style, lw=1, label=label)
    return True


def convergence(result: SolveResult, baseline: SolveResult | None) -> bytes | None:
    """``(F_k − min F) / |min F|`` (the objective's relative distance to the best value seen)
    and the residual against the iteration, log scale."""
    fig = figure(9, 3.6)
    ax_obj, ax_res = fig.subplots(1, 2)
    drawn = False
    for res, tag, style in ((result, "", "C0-"), (baseline, "baseline ", "C1--")):
        if res is None:
            continue
        drawn |= _curves(ax_obj, res, "objective", f"{tag}objective", style)
        drawn |= _curves(ax_res, res, "residual", f"{tag}residual", style)
    if not drawn:
        return None
    for ax, title in ((ax_obj, "objective: (F − min F) / |min F|"), (ax_res, "residual")):
        ax.set_xlabel("iteration")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return png(fig)


def alpha_sweep(info: dict[str, Any]) -> bytes:
    """The three panels of the module docstring from a sweep's ``info`` (its ``table``, the
    picked ``alpha``, the ``bound`` τδ where ``delta`` is known)."""
    rows = info["table"]
    alphas = np.array([r["alpha"] for r in rows])
    res = np.array([r["residual"] for r in rows], dtype=np.float64)
    pen = np.array([r.get("lcurve_penalty", r["penalty"]) for r in rows], dtype=np.float64)
    chosen = next(k for k, r in enumerate(rows) if r["alpha"] == info["alpha"])
    fig = figure(12, 3.6)
    ax_res, ax_q, ax_l = fig.subplots(1, 3)
    ax_res.loglog(alphas, res, "C0o-", ms=3)
    if info.get("bound") is not None:
        ax_res.axhline(info["bound"], color="C3", ls="--", lw=1, label="τδ")
        ax_res.legend(fontsize="small")
    ax_res.set_title("‖N(u_α) − f‖")
    psnr = [r.get("psnr") for r in rows]
    if all(p is not None and np.isfinite(p) for p in psnr):
        ax_q.semilogx(alphas, psnr, "C2o-", ms=3)
        ax_q.set_title("PSNR (dB)")
        values = np.array(psnr, dtype=np.float64)
    else:
        values = np.array([r["objective"] for r in rows], dtype=np.float64)
        ax_q.loglog(alphas, values, "C2o-", ms=3)
        ax_q.set_title("objective")
    for ax in (ax_res, ax_q):
        ax.axvline(alphas[chosen], color="k", lw=0.8, ls=":")
        ax.set_xlabel("α")
    keep = (res > 0) & (pen > 0)
    ax_l.loglog(res[keep], pen[keep], "C0o-", ms=3)
    if keep[chosen]:
        ax_l.loglog([res[chosen]], [pen[chosen]], "ks", ms=6, mfc="none",
                    label=f"α = {alphas[chosen]:.3g} ({info.get('pick', '')})")
        ax_l.legend(fontsize="small")
    ax_l.set_xlabel("‖N(u_α) − f‖")
    ax_l.set_ylabel("(2J(u_α))^½" if "lcurve_penalty" in rows[0] else "J(u_α)")
    ax_l.set_title("L-curve")
    return png(fig)
