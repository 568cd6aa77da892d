"""What solving one task gives back to Python (``lbdsl.load(...).solve()``) and to the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["TaskResult", "Status", "exit_status"]

#: ``ok``: solved (whether or not to tolerance — see ``report["stop_reason"]``);
#: ``interrupted``: stopped by Ctrl-C, the last iterate written; ``failed``: a runtime error
#: (one line in ``error``); ``spec_error``: the spec is at fault (``error`` has the diagnostic).
Status = Literal["ok", "interrupted", "failed", "spec_error"]


@dataclass
class TaskResult:
    """One task's outcome: ``u`` (the reconstruction), ``report`` (report.json), ``path`` (its
    folder), ``arrays`` (everything in result.npz; for a ``train`` task, weights.npz),
    ``figures`` (its PNG figures as bytes, by file name: kept for an in-memory solve too)."""

    kind: str
    network: str
    line: int | None
    status: Status
    path: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    figures: dict[str, bytes] = field(default_factory=dict)   # PNG bytes by file name

    @property
    def u(self) -> np.ndarray | None:
        """The reconstruction in the input's declared shape (``(N, *shape)`` for a batch)."""
        return self.arrays.get("u") if self.kind != "train" else None

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """A ``train`` task's parameters by spec name (what weights.npz holds), else empty."""
        return dict(self.arrays) if self.kind == "train" else {}

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.network}" + (f" (line {self.line})" if self.line else "")

    def __repr__(self) -> str:
        where = f" -> {self.path}" if self.path else ""
        why = f": {self.error}" if self.error else ""
        return f"<TaskResult {self.label}: {self.status}{why}{where}>"

    def headline(self) -> dict[str, str]:
        """The report's headline numbers as text, rounded, with units (``psnr``:
        ``"40.48 dB"``; the baseline's PSNR beside the main one)."""
        rep = self.report
        units = {"psnr": ("{:.2f} dB", "PSNR"), "ssim": ("{:.3f}", "SSIM"),
                 "objective": ("{:.6g}", "objective"), "alpha": ("{:.4g}", "α"),
                 "iterations": ("{:d}", "iterations"), "epochs": ("{:d}", "epochs"),
                 "loss": ("{:.4g}", "loss"), "time_s": ("{:.2f} s", "time"),
                 "stop_reason": ("{}", "stop")}
        out: dict[str, str] = {}
        for key, (fmt, name) in units.items():
            value = rep.get(key)
            if value is None or (isinstance(value, float) and not np.isfinite(value)):
                continue
            try:
                out[name] = fmt.format(value)
            except (TypeError, ValueError):
                out[name] = str(value)
        baseline = rep.get("baseline")
        if isinstance(baseline, dict) and isinstance(baseline.get("psnr"), float):
            out["baseline PSNR"] = f"{baseline['psnr']:.2f} dB (quadratic fidelity)"
        return out

    def _repr_html_(self) -> str:
        """Jupyter: status, the headline numbers (rounded, with units) and the main figure."""
        import base64
        import html

        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in self.headline().items())
        figure = next((self.figures[n] for n in ("reconstruction.png", "function.png",
                                                 "training.png") if n in self.figures), None)
        image = ("" if figure is None else
                 f'<img src="data:image/png;base64,{base64.b64encode(figure).decode()}" '
                 'style="max-width: 100%"/>')
        return (f"<b>{html.escape(self.label)}</b>: {html.escape(self.status)}"
                + (f" — {html.escape(self.error)}" if self.error else "")
                + (f"<table>{rows}</table>" if rows else "") + image)


def exit_status(results: list[TaskResult]) -> int:
    """``128 + signal`` if a task was interrupted (130: Ctrl-C, 143: SIGTERM, 129: SIGHUP), else
    2 for a spec error, 1 for a failure, 0 if all ran."""
    from .progress import stop_status

    statuses = {r.status for r in results}
    if "interrupted" in statuses:
        return stop_status()
    if "spec_error" in statuses:
        return 2
    if "failed" in statuses:
        return 1
    return 0
