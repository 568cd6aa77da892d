"""The table ``lbdsl solve`` prints at the end: one row per task."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table

from ..terminal import visible
from .result import TaskResult

__all__ = ["summary_table"]


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return fmt.format(value)


def _baseline(report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's ``baseline`` (an invert task's quadratic-fidelity run), if it has one."""
    baseline = report.get("baseline")
    return baseline if isinstance(baseline, dict) else None


def _baseline_stop(result: TaskResult) -> str | None:
    """How the baseline run of an ``ok`` task ended when it did not converge (``stalled``,
    ``max_iter``), else None: a row says how every solve in it ended."""
    baseline = _baseline(result.report)
    if result.status != "ok" or baseline is None or baseline.get("converged", True):
        return None
    return str(baseline.get("stop_reason") or "not converged")


def _baseline_note(result: TaskResult, stop: str) -> str:
    """The line under the table for a row marked ``ok*``: how its baseline ended."""
    baseline = _baseline(result.report) or {}
    solver = f" ({baseline['solver']})" if baseline.get("solver") else ""
    after = (f" after {baseline['iterations']} iterations"
             if isinstance(baseline.get("iterations"), int) else "")
    where = f":{result.line}" if result.line else ""
    return (f"* {result.kind} {result.network}{where}: ok, but its quadratic baseline{solver} "
            f"did not converge (stop: {stop}{after}); report.json: baseline")


#: A baseline this many dB better than the main solve gets a line under the table.
BASELINE_MARGIN_DB = 0.5


def _baseline_wins(result: TaskResult) -> str | None:
    """The line under the table when the quadratic baseline beat the main solve in PSNR by
    more than :data:`BASELINE_MARGIN_DB` (the main method failed where a simpler one did not:
    a row must not read ``ok`` alone), else None."""
    baseline = _baseline(result.report) or {}
    main, other = result.report.get("psnr"), baseline.get("psnr")
    if not isinstance(main, (int, float)) or not isinstance(other, (int, float)):
        return None
    if not other > main + BASELINE_MARGIN_DB:
        return None
    where = f":{result.line}" if result.line else ""
    return (f"! {result.kind} {result.network}{where}: the quadratic baseline is "
            f"{other - main:.1f} dB better ({other:.2f} against {main:.2f} dB) — "
            "docs/inversion.md, \"Data that cannot be told from noise\", says why and what to try")


def _time(report: dict[str, Any], counted: set[tuple[Any, ...]]) -> str:
    """The task's time: the main solve's ``time_s`` plus its baseline's and, for the first
    task that used it, its network's certificate's, so that the column is what the task took
    (report.json keeps them apart; ``counted``: the certificates counted already)."""
    main = report.get("time_s")
    baseline = _baseline(report)
    extra = baseline.get("time_s") if baseline is not None else None
    if isinstance(main, (int, float)) and isinstance(extra, (int, float)):
        main += extra
    cert = report.get("certificate")
    if isinstance(main, (int, float)) and isinstance(cert, dict) and \
            isinstance(cert.get("time_s"), (int, float)):
        key = tuple(cert.get(k) for k in ("network", "lam", "rho", "modulus"))
        if key not in counted:
            counted.add(key)
            main += cert["time_s"]
    return _num(main, "{:.2f}s")


def summary_table(results: list[TaskResult], width: int = 132) -> Table:
    """Task, status, solver, iterations and stop reason, objective, PSNR, time — and the
    output folder when there are ``width >= 120`` columns to show it.  A ``train`` task shows
    its method and optimizer, epochs, final training loss and validation PSNR there.  An
    ``invert`` task's time adds its network's certificate's (once per run) and, with a
    quadratic baseline, the baseline's time; it
    marks its status ``ok*`` when the baseline did not converge, with a line under the table
    saying how it stopped (``stalled``, ``max_iter``), and one when the baseline's PSNR beat
    the main solve's."""
    table = Table(title="lbdsl solve", title_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    columns = [("task", "left"), ("status", "left"), ("solver", "left"), ("iter", "right"),
               ("stop", "left"), ("objective", "right"), ("PSNR", "right"), ("time", "right")]
    wide = width >= 120
    if wide:
        columns.append(("output", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify,  # type: ignore[arg-type]
                         no_wrap=name != "output", overflow="fold")
    notes: list[str] = []
    counted: set[tuple[Any, ...]] = set()
    for r in results:
        rep = r.report
        status, stop = r.status, _baseline_stop(r)
        if stop is not None:    # a mark in the row (it stays one line), the words under it
            status = "ok*"
            notes.append(_baseline_note(r, stop))
        wins = _baseline_wins(r)
        if wins is not None:
            notes.append(wins)
        if r.kind == "train":  # optimizer, epochs, final training loss, validation PSNR
            done = rep.get("stop_reason") == "max_iter"   # every epoch asked for was run
            early = rep.get("stop_reason") == "tol"      # patience: stopped early
            rep = {**rep, "solver": {"name": rep.get("label", "")},
                   "stop_reason": "epochs" if done else "early" if early else
                   rep.get("stop_reason", ""),
                   "iterations": rep.get("epochs"), "objective": rep.get("mse_loss"),
                   "psnr": rep.get("validation_psnr")}
        solver = rep["solver"].get("name", "") if isinstance(rep.get("solver"), dict) else ""
        if isinstance(rep.get("hybrid"), dict):          # fidelity = hybrid: both stages
            solver += f"→{rep['hybrid'].get('refine_solver', '')}"
        psnr = _num(rep.get("psnr"), "{:.2f} dB")
        baseline = rep.get("baseline")
        if wide and isinstance(baseline, dict) and baseline.get("psnr") is not None:
            psnr += f" (baseline {baseline['psnr']:.2f})"
        row = [f"{r.kind} {r.network}" + (f":{r.line}" if r.line else ""), status, solver,
               _num(rep.get("iterations"), "{:d}"), rep.get("stop_reason", ""),
               _num(rep.get("objective"), "{:.6g}"), psnr, _time(rep, counted)]
        if wide:
            row.append(str(r.path) if r.path else "")
        table.add_row(*(visible(cell) for cell in row))   # a folder name is anybody's text
    if notes:
        table.caption = "\n".join(visible(n) for n in notes)
        table.caption_justify = "left"
    return table
