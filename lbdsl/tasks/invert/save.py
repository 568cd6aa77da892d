"""Writing an ``invert`` task's folder: ``result.npz``, the figures, then ``report.json``.

Every file goes through :mod:`lbdsl.outputs` (temporary file, fsync, rename), so each one is
complete or absent; ``report.json`` is written last, so its presence means the folder is
complete.  lbdsl's own files left in the folder by an earlier run that this run does not write
(``baseline`` figures of a run that had one, …) are removed; nothing else there is touched.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import to_numpy
from ...certify.certificate import Certificate
from ...errors import SolveError
from ...ir.nodes import NetworkIR
from ...ir.tasks.records import InvertTask
from ...outputs import write_npz_atomic, write_text_atomic
from .. import data as dt
from . import figures as fg
from ..figures import png
from . import lower as lw
from .. import report as rp
from . import checkpoint as sc
from .solve import Solved
from .threshold import Snapping
from ..layout import check_inside
from ..result import TaskResult

__all__ = ["OWN_FILES", "SWEEP_COLUMNS", "InvertRecord", "sweep_csv", "write_invert"]

#: Every file name lbdsl writes into a task folder.
OWN_FILES = ("result.npz", "report.json", "reconstruction.png", "function.png",
             "convergence.png", "alpha_sweep.png", "alpha_sweep.csv", sc.FILE)

#: The columns of ``alpha_sweep.csv``, one row per α of ``alpha = sweep(...)``.
SWEEP_COLUMNS = ("alpha", "residual", "penalty", "objective", "psnr", "ssim", "stop_reason")


@dataclass
class InvertRecord:
    """Everything an ``invert`` task's outputs are made from."""

    task: InvertTask
    net: NetworkIR
    certificate: Certificate
    observed: dt.Observed
    projection: lw.Projection
    f_solver: np.ndarray
    solved: Solved
    backend: str
    spec_file: str
    source: str
    overrides: tuple[str, ...]
    fingerprint: dict[str, Any] | None = None   # for the task's checkpoint (--resume)
    snapping: Snapping | None = None            # the noise threshold (Bregman fidelity)


def _reconstruction(x: Any, batch: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=np.float64).reshape(*batch, *shape)


def build_report(rec: InvertRecord, u: np.ndarray, u_baseline: np.ndarray | None,
                 ) -> dict[str, Any]:
    """The contents of ``report.json`` (see docs/language.md §8 for the keys)."""
    task, solved, obs = rec.task, rec.solved, rec.observed
    image = fg.is_image(tuple(rec.net.input_shape)) and not obs.batch
    report: dict[str, Any] = {
        "kind": "invert",
        "network": task.network,
        "task_line": task.span.line if task.span else None,
        "certificate": rec.certificate.to_json(),
        "certificate_applies": task.fidelity == "bregman",   # it says nothing of ½‖N(u) − f‖²
        "settings": {
            "written": rp.written_settings(task, rec.source,
                                           {"--set": "\n".join(rec.overrides)}),
            "defaults": rp.default_settings(task),
            "overrides": list(rec.overrides),
        },
        "solver": {"name": solved.solver, "reason": solved.reason,
                   "settings": rp.json_safe(solved.settings)},
        **rp.result_summary(solved.result, solved.time_s),
        "alpha": solved.alpha,
        "alpha_rule": solved.rule,
        "resumed_from": solved.resumed_from,
        **({"chunks": solved.groups} if solved.groups is not None else {}),
        "weights": lw.effective_weights(task, solved.alpha),
        "fidelity": task.fidelity,
        "lambda": float(task.lam),
        "rho": float(task.rho),
    }
    if obs.truth is not None:
        report.update(rp.quality(obs.truth, u, image))
    report["domain_projection"] = rec.projection.to_json()
    if rec.snapping is not None:
        report["noise_threshold"] = {**rec.snapping.to_json(),
                                     "misfit_ratio": solved.misfit_ratio}
    report["data"] = dt.describe(obs)
    if solved.baseline is not None and u_baseline is not None:
        baseline = {"fidelity": "l2", "solver": solved.baseline_solver,
                    "settings": rp.json_safe(solved.baseline_settings),
                    **rp.result_summary(solved.baseline, solved.baseline_time_s)}
        if obs.truth is not None:
            baseline.update(rp.quality(obs.truth, u_baseline, image))
            main, other = report.get("psnr"), baseline.get("psnr")
            if isinstance(main, float) and isinstance(other, float):
                # > 0: the quadratic fidelity did better (docs/inversion.md says why and what
                # to try; the summary prints it above 0.5 dB)
                baseline["psnr_gain_over_main"] = other - main
        report["baseline"] = baseline
    if solved.start is not None:
        u_start = _reconstruction(solved.start.u, obs.batch, tuple(rec.net.input_shape))
        start = {"fidelity": "bregman", "solver": solved.solver,
                 **rp.result_summary(solved.start, solved.start_time_s)}
        if obs.truth is not None:
            start.update(rp.quality(obs.truth, u_start, image))
        report["hybrid"] = {"start": start, "refine_solver": solved.refine_solver,
                            "refine_settings": rp.json_safe(solved.refine_settings)}
    report.update(rp.provenance(rec.backend, task.dtype, task.seed, rec.spec_file, rec.source))
    return report


def _figures(rec: InvertRecord, u: np.ndarray, u_baseline: np.ndarray | None,
             report: dict[str, Any]) -> dict[str, bytes]:
    """The task's figures as PNG bytes by file name; the titles' PSNR and SSIM are the
    report's."""
    obs, net = rec.observed, rec.net
    shape = tuple(net.input_shape)
    shown = fg.shown_of(report, u, u_baseline)
    out: dict[str, Any] = {}
    scalar_batch = bool(obs.batch) and int(np.prod(shape)) == 1 and obs.f[0].size == 1
    if scalar_batch:
        def forward(grid: np.ndarray) -> np.ndarray:
            return dt.forward(net, grid.reshape(-1, *shape), (grid.size,))
        out["function.png"] = fg.function(forward, obs.truth, obs.f, shown)
    else:
        out["reconstruction.png"] = fg.reconstruction(obs.truth, obs.f, shown, shape)
    curves = fg.convergence(rec.solved.result, rec.solved.baseline)
    if curves is not None:
        out["convergence.png"] = curves
    if rec.solved.rule.get("rule") == "sweep" and rec.solved.rule.get("table"):
        out["alpha_sweep.png"] = fg.alpha_sweep(rec.solved.rule)
    drawn = {}
    for name, fig in out.items():
        try:
            drawn[name] = png(fig)
        except (OverflowError, ValueError, RuntimeError, MemoryError):
            # a figure is a view of the results: one that cannot be drawn is left out (the
            # report's `files` says which were written), never the loss of the results
            continue
    return drawn


def sweep_csv(rows: list[dict[str, Any]]) -> str:
    """``alpha = sweep(...)``'s table as CSV (:data:`SWEEP_COLUMNS`; empty where not known)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SWEEP_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else (repr(row[c]) if isinstance(row[c], float)
                                                          else row[c]) for c in SWEEP_COLUMNS])
    return out.getvalue()


def write_invert(folder: Path, rec: InvertRecord) -> TaskResult:
    """Write the task's folder and return its :class:`TaskResult`."""
    task, solved, obs = rec.task, rec.solved, rec.observed
    shape = tuple(rec.net.input_shape)
    u = _reconstruction(solved.result.u, obs.batch, shape)
    u_baseline = (_reconstruction(solved.baseline.u, obs.batch, shape)
                  if solved.baseline is not None else None)
    arrays = rp.result_arrays(solved.result, u, f=obs.f, f_solver=rec.f_solver.reshape(obs.f.shape),
                              truth=obs.truth, clean=obs.clean, baseline=solved.baseline,
                              u_baseline=u_baseline)
    if solved.start is not None:
        arrays["u_start"] = _reconstruction(solved.start.u, obs.batch, shape)
        arrays.update(rp.history_arrays("start_history_", solved.start))
    report = build_report(rec, u, u_baseline)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SolveError(f"cannot create {folder}: {exc.strerror or exc}") from None
    check_inside(folder)
    (folder / "report.json").unlink(missing_ok=True)  # no stale report beside new results
    written = ["result.npz"]
    write_npz_atomic(folder / "result.npz", arrays)
    if solved.rule.get("rule") == "sweep" and solved.rule.get("table"):
        write_text_atomic(folder / "alpha_sweep.csv", sweep_csv(solved.rule["table"]))
        written.append("alpha_sweep.csv")
    if rec.fingerprint is not None:  # finished too: --resume then takes it from the file
        sc.write(folder / sc.FILE, solved.stored(task.solver.max_iter), rec.fingerprint)
        written.append(sc.FILE)
        report["checkpoint"] = {"file": sc.FILE, "solves": len(solved.solves),
                                "baseline": solved.baseline is not None,
                                "complete": solved.complete}
    figures = _figures(rec, u, u_baseline, report) if task.figures else {}
    rp.finish_folder(folder, written, figures, report, OWN_FILES)
    status, error = "ok", None
    if solved.interrupted:
        status = "interrupted"
    else:
        for what, res, name in (("solver", solved.result, solved.solver),
                                ("baseline solver", solved.baseline, solved.baseline_solver)):
            if res is not None and res.stop_reason == "diverged":
                status = "failed"
                error = (f"the {what} `{name}` diverged after {res.iterations} iterations"
                         + (f" ({res.message})" if res.message else "")
                         + f"; its last finite iterate is in {folder}")
                break
    return TaskResult("invert", task.network, task.span.line if task.span else None, status,
                      folder, report, arrays, error)
