"""Figures of an ``invert`` result, drawn with matplotlib's Agg canvas (no display, no pyplot
state: safe inside a notebook or a server); each builder returns its ``Figure``, which the task
saves as PNG (:func:`lbdsl.tasks.figures.png`).

* ``reconstruction.png`` — images: truth | data | each reconstruction, titled with its method
  (``Bregman–TV``, ``baseline (quadratic fidelity)``) and, where the truth is known, its PSNR
  and SSIM as the report has them; truth and reconstructions share one colour scale and its
  colour bar, and under each reconstruction its error map |u − u†| (one scale and colour bar
  for all of them).  Vectors: the same as curves over the entry index, the errors in a third
  panel.  The spec's comparison figure ``compare-NET.png`` (:mod:`lbdsl.tasks.compare`) is the
  same figure with every task that inverted the same data;
* ``function.png`` — a batch of scalar problems (``linspace(a, b, n = N)`` on a one-entry input):
  the function N(u) with the data, and its inverse f ↦ u with the reconstruction;
* ``convergence.png`` — the objective's relative distance to its best value, the residual and
  the solver's optimality measure, against the iteration (log scale); a measure the solver did
  not record, or that has nothing to draw on a log scale (the lifted solver's residual is 0 by
  construction on a single layer), gets no panel;
* ``alpha_sweep.png`` — ``alpha = sweep(...)``: the residual (with the bound τδ), PSNR (or the
  objective) against α, and the L-curve ``(‖N(u_α) − f‖, J(u_α))``, the picked α marked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...solvers.base import SolveResult
from ..figures import as_image, figure, is_image

__all__ = ["is_image", "Shown", "method_label", "shown_of", "reconstruction", "function",
           "convergence", "alpha_sweep"]

#: How a figure names each fidelity.
FIDELITY_NAMES = {"bregman": "Bregman", "l2": "quadratic", "hybrid": "hybrid"}
#: How a figure names a regulariser term (any other: its spec name).
TERM_NAMES = {"tv": "TV"}
#: The title of a task's quadratic-fidelity baseline (``baseline = true``).
BASELINE = "baseline (quadratic fidelity)"


def method_label(report: Mapping[str, Any]) -> str:
    """``Bregman–TV``: an invert report's fidelity and its weighted regulariser terms (the
    constraints, such as ``nonneg``, left out)."""
    fidelity = str(report.get("fidelity", "bregman"))
    name = FIDELITY_NAMES.get(fidelity, fidelity)
    terms = [TERM_NAMES.get(w["term"], w["term"]) for w in report.get("weights") or ()
             if isinstance(w, Mapping) and w.get("weight") is not None]
    return f"{name}–{'+'.join(terms)}" if terms else name


def _score(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None


@dataclass(frozen=True)
class Shown:
    """One reconstruction in a figure: its label, the array, and its PSNR and SSIM as the
    report has them (None: no truth, or no SSIM for this shape)."""

    label: str
    u: np.ndarray
    psnr: float | None = None
    ssim: float | None = None

    @property
    def score(self) -> str:
        """``40.48 dB / SSIM 0.999`` (empty without a PSNR)."""
        if self.psnr is None:
            return ""
        db = "∞ dB" if math.isinf(self.psnr) else f"{self.psnr:.2f} dB"
        return db + (f" / SSIM {self.ssim:.3f}" if self.ssim is not None else "")

    @property
    def title(self) -> str:
        return self.label + (f"\n{self.score}" if self.score else "")


def shown_of(report: Mapping[str, Any], u: np.ndarray, u_baseline: np.ndarray | None = None,
             label: str | None = None, baseline_label: str = BASELINE) -> list[Shown]:
    """The reconstruction of an invert report (and its baseline, where it has one), each with
    the PSNR and SSIM the report holds."""
    out = [Shown(label or method_label(report), u, _score(report.get("psnr")),
                 _score(report.get("ssim")))]
    baseline = report.get("baseline")
    if u_baseline is not None and isinstance(baseline, Mapping):
        out.append(Shown(baseline_label, u_baseline, _score(baseline.get("psnr")),
                         _score(baseline.get("ssim"))))
    return out


def _finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    values = [a[np.isfinite(a)] for a in (np.asarray(x, dtype=np.float64) for x in arrays)]
    values = [v for v in values if v.size]
    if not values:
        return None
    return min(float(v.min()) for v in values), max(float(v.max()) for v in values)


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def reconstruction(truth: np.ndarray | None, f: np.ndarray, shown: Sequence[Shown],
                   input_shape: tuple[int, ...], title: str | None = None) -> Any:
    """Truth / data / each of ``shown``, with the error maps where the truth is known: images
    side by side (see the module docstring), or curves."""
    if is_image(input_shape):
        fig = _images(truth, f, shown)
    else:
        fig = _vectors(truth, f, shown)
    if title:
        fig.suptitle(title)
    return fig


def _images(truth: np.ndarray | None, f: np.ndarray, shown: Sequence[Shown]) -> Any:
    pictures = [as_image(s.u) for s in shown]
    truth_picture = as_image(truth) if truth is not None else None
    errors: list[np.ndarray | None] = []
    for s, picture in zip(shown, pictures):
        error = None
        if truth_picture is not None and picture is not None \
                and picture.shape == truth_picture.shape:
            error = np.abs(np.asarray(picture, np.float64) - truth_picture)
            error = error if np.any(np.isfinite(error)) else None
        errors.append(error)
    recons = [f"u{k}" for k in range(len(shown))]
    if any(e is not None for e in errors):   # truth over data, each error under its u
        rows = [["truth"] + recons,
                ["data"] + [f"e{k}" if e is not None else "." for k, e in enumerate(errors)]]
    else:
        rows = [(["truth"] if truth_picture is not None else []) + ["data"] + recons]
    fig = figure(3.0 * len(rows[0]) + 1.5, 3.3 * len(rows))
    axes = fig.subplot_mosaic(rows, empty_sentinel=".")
    # truth and reconstructions on one scale: the truth's, else the reconstructions' own
    scale = _finite_range([truth_picture] if truth_picture is not None
                          else [p for p in pictures if p is not None])
    lo, hi = scale if scale is not None else (None, None)
    shared: list[Any] = []
    image = None
    if truth_picture is not None:
        image = axes["truth"].imshow(truth_picture, cmap="gray", vmin=lo, vmax=hi,
                                     interpolation="nearest")
        axes["truth"].set_title("truth u†")
        _bare(axes["truth"])
        shared.append(axes["truth"])
    data = as_image(f)
    ax = axes["data"]
    if data is None:            # data of a vector-valued network: a curve
        ax.plot(np.ravel(f), lw=0.8)
        ax.set_xlabel("entry")
    else:                       # its own scale: the data live in the network's output
        fig.colorbar(ax.imshow(data, cmap="gray", interpolation="nearest"), ax=ax,
                     shrink=0.8)
        _bare(ax)
    ax.set_title("data f")
    for k, (s, picture) in enumerate(zip(shown, pictures)):
        ax = axes[f"u{k}"]
        if picture is None:
            ax.plot(np.ravel(s.u), lw=0.8)
            ax.set_xlabel("entry")
        else:
            image = ax.imshow(picture, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            _bare(ax)
            shared.append(ax)
        ax.set_title(s.title)
    if image is not None:
        fig.colorbar(image, ax=shared, shrink=0.8)
    drawn = [e for e in errors if e is not None]
    if drawn:
        top_error = _finite_range(drawn)
        vmax = top_error[1] if top_error is not None and top_error[1] > 0 else 1.0
        mapped = []
        for k, error in enumerate(errors):
            if error is None:
                continue
            ax = axes[f"e{k}"]
            mapped.append(ax)
            error_image = ax.imshow(error, cmap="magma", vmin=0.0, vmax=vmax,
                                    interpolation="nearest")
            ax.set_title("error |u − u†|")
            _bare(ax)
        fig.colorbar(error_image, ax=mapped, shrink=0.8)
    return fig


_STYLES = ("C0.-", "C1x--", "C3+-.", "C4s:", "C5^-", "C6v--")


def _vectors(truth: np.ndarray | None, f: np.ndarray, shown: Sequence[Shown]) -> Any:
    errors = truth is not None and any(np.size(s.u) == np.size(truth) for s in shown)
    fig = figure(13.5 if errors else 9, 3.6)
    axes = fig.subplots(1, 3 if errors else 2)
    ax_u, ax_f = axes[0], axes[1]
    if truth is not None:
        ax_u.plot(np.ravel(truth), "k-", lw=1.2, label="truth u†")
    for k, s in enumerate(shown):
        label = s.label + (f" ({s.score})" if s.score else "")
        ax_u.plot(np.ravel(s.u), _STYLES[k % len(_STYLES)], lw=0.8, ms=3, label=label)
        if errors and np.size(s.u) == np.size(truth):
            axes[2].plot(np.abs(np.ravel(s.u) - np.ravel(truth)), _STYLES[k % len(_STYLES)],
                         lw=0.8, ms=3, label=s.label)
    ax_u.set_xlabel("entry of u")
    ax_u.set_title("input")
    ax_u.legend(fontsize="small")
    ax_f.plot(np.ravel(f), "C2.-", lw=0.8, ms=3)
    ax_f.set_xlabel("entry of f")
    ax_f.set_title("data f")
    if errors:
        axes[2].set_xlabel("entry of u")
        axes[2].set_title("error |u − u†|")
        axes[2].legend(fontsize="small")
    return fig


def function(forward: Callable[[np.ndarray], np.ndarray], truth: np.ndarray | None,
             f: np.ndarray, shown: Sequence[Shown]) -> Any:
    """A batch of scalar problems: N on a grid with the data, and the inverse f ↦ u with each
    of ``shown`` (labelled with its PSNR where the truth is known)."""
    f_flat = np.ravel(f)
    pool = [x for x in (truth, *(np.ravel(s.u) for s in shown[:1]))
            if x is not None and np.all(np.isfinite(x))]
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
    for k, s in enumerate(shown):
        ax_inv.plot(f_flat, np.ravel(s.u), ("C0.", "C1x", "C3+", "C4s")[k % 4], ms=4,
                    label=s.label + (f" ({s.score})" if s.score else ""))
    ax_inv.set_xlabel("f")
    ax_inv.set_ylabel("u")
    ax_inv.set_title("its inverse")
    ax_inv.legend(fontsize="small")
    return fig


#: The panels of ``convergence.png``: a history key and its title.  ``residual`` is the
#: constraint residual ‖Mu − Vz‖ or pdhg's optimality measure, ``optimality`` / ``gradient``
#: the measures of the solvers that stop on them (fista, lifted, gradient; lbfgs: the
#: stationarity relative to the start's).
_PANELS = (("objective", "objective: (F − min F) / |min F|"), ("residual", "residual"),
           ("optimality", "optimality measure"),
           ("gradient", "stationarity (relative to the start)"))


#: The values a log-scale panel draws (outside: left out).
_LOG_RANGE = (1e-300, 1e300)


def _series(result: SolveResult, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(iterations, values)`` of a history key as drawn on a log scale (the objective as its
    relative distance to the best value seen), or None: absent, or nothing finite and > 0."""
    history = result.history
    values = np.asarray(history.metrics.get(key, []), dtype=np.float64)
    its = np.asarray(history.iteration, dtype=np.float64)[:values.size]
    values = values[:its.size]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    if key == "objective":  # the distance to the best objective seen, relative to it
        best = float(finite.min())
        values = (values - best) / max(abs(best), np.finfo(np.float64).tiny)
    # a diverging run's values reach 1e308: matplotlib's log ticks overflow near there
    keep = np.isfinite(values) & (values > _LOG_RANGE[0]) & (values < _LOG_RANGE[1])
    if not np.any(keep):
        return None
    return its[keep], values[keep]


def convergence(result: SolveResult, baseline: SolveResult | None) -> Any | None:
    """``(F_k − min F) / |min F|`` (the objective's relative distance to the best value seen),
    the residual and the optimality measure against the iteration, log scale: one panel per
    measure that has something to draw (None: none has)."""
    runs = [(res, tag, style) for res, tag, style in ((result, "", "C0-"),
                                                      (baseline, "baseline ", "C1--"))
            if res is not None]
    panels = []
    for key, title in _PANELS:
        curves = [(series, f"{tag}{key}", style) for res, tag, style in runs
                  if (series := _series(res, key)) is not None]
        if curves:
            panels.append((title, curves))
    if not panels:
        return None
    fig = figure(4.5 * len(panels), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, curves) in zip(axes, panels):
        for (its, values), label, style in curves:
            ax.semilogy(its, values, style, lw=1, label=label)
        ax.set_xlabel("iteration")
        ax.set_title(title)
        ax.legend(fontsize="small")
    return fig


def alpha_sweep(info: dict[str, Any]) -> Any:
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
    return fig
