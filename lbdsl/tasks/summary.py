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


def summary_table(results: list[TaskResult], width: int = 132) -> Table:
    """Task, status, solver, iterations and stop reason, objective, PSNR, time — and the
    output folder when there are ``width >= 120`` columns to show it.  A ``train`` task shows
    its method and optimizer, epochs, final training loss and validation PSNR there."""
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
    for r in results:
        rep = r.report
        if r.kind == "train":  # optimizer, epochs, final training loss, validation PSNR
            done = rep.get("stop_reason") == "max_iter"   # every epoch asked for was run
            rep = {**rep, "solver": {"name": rep.get("label", "")},
                   "stop_reason": "epochs" if done else rep.get("stop_reason", ""),
                   "iterations": rep.get("epochs"), "objective": rep.get("mse_loss"),
                   "psnr": rep.get("validation_psnr")}
        solver = rep["solver"].get("name", "") if isinstance(rep.get("solver"), dict) else ""
        if isinstance(rep.get("hybrid"), dict):          # fidelity = hybrid: both stages
            solver += f"→{rep['hybrid'].get('refine_solver', '')}"
        psnr = _num(rep.get("psnr"), "{:.2f} dB")
        baseline = rep.get("baseline")
        if wide and isinstance(baseline, dict) and baseline.get("psnr") is not None:
            psnr += f" (baseline {baseline['psnr']:.2f})"
        row = [f"{r.kind} {r.network}" + (f":{r.line}" if r.line else ""), r.status, solver,
               _num(rep.get("iterations"), "{:d}"), rep.get("stop_reason", ""),
               _num(rep.get("objective"), "{:.6g}"), psnr, _num(rep.get("time_s"), "{:.2f}s")]
        if wide:
            row.append(str(r.path) if r.path else "")
        table.add_row(*(visible(cell) for cell in row))   # a folder name is anybody's text
    return table
