"""The figures that compare a spec's tasks, written once after all of a run's tasks, beside
their folders (in their ``DIR``; docs/language.md, "Outputs"):

* ``compare-NET.png`` — the ``invert`` tasks that inverted network NET from the same data (the
  same network, and equal data ``f`` and truth arrays): truth, data and each task's
  reconstruction (and its quadratic baseline, with ``baseline = true``), each titled with its
  method and line and, where the truth is known, its PSNR and SSIM, with the error maps
  (:func:`lbdsl.tasks.invert.figures.reconstruction`);
* ``compare-train-NET.png`` — the ``train`` tasks of NET validated on the same validation set:
  validation PSNR against the epoch and against the training time, one line per task, labelled
  by its method and optimizer (:func:`lbdsl.tasks.train.figures.comparison`).

Each is written only where at least two tasks compare (a second group of the same network in
the same folder gets ``-2``, …), from the tasks' :class:`~lbdsl.tasks.result.TaskResult`\\ s —
their reports and arrays, as they come back from Dask workers too — never by reading the
folders again.  A task that did not finish (``failed``, ``interrupted``) or whose spec says
``figures = false`` is left out.  The file is renamed over its name (never written through a
link there, :mod:`lbdsl.outputs`) and must resolve to a direct child of the folder
(:func:`lbdsl.tasks.layout.check_inside`); a figure that cannot be written is one error line,
and the run's exit status is its tasks'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LbdslError
from ..outputs import write_bytes_atomic
from ..terminal import visible
from .checkpoint import sha
from .figures import png
from .layout import check_inside, sanitise
from .result import TaskResult

__all__ = ["Comparison", "comparisons", "write_comparisons"]


@dataclass
class Comparison:
    """One comparison figure: the folder it goes in, its file name, the tasks it compares
    (their labels) and the matplotlib ``Figure``."""

    folder: Path
    name: str
    tasks: list[str]
    figure: Any

    @property
    def path(self) -> Path:
        return self.folder / self.name


def _finished(task: Any, result: TaskResult, kind: str) -> bool:
    return (result.kind == kind and result.status == "ok" and result.path is not None
            and getattr(task, "figures", True))


def _groups(pairs: list[tuple[Any, TaskResult]], key: Any) -> list[list[TaskResult]]:
    """The results by ``key(result)`` (None: left out), in spec order; groups of two or more."""
    groups: dict[Any, list[TaskResult]] = {}
    for _, result in pairs:
        k = key(result)
        if k is not None:
            groups.setdefault(k, []).append(result)
    return [g for g in groups.values() if len(g) >= 2]


def _where(result: TaskResult) -> str:
    return f"line {result.line}" if result.line else result.label


def _invert_key(result: TaskResult) -> Any:
    arrays = result.arrays
    if "u" not in arrays or "f" not in arrays:
        return None
    truth = arrays.get("truth")
    return (str(result.path.parent), result.network, str(arrays["f"].dtype), sha(arrays["f"]),
            None if truth is None else sha(truth))


#: The most tasks one comparison figure shows (each adds two panels); the rest are named.
MAX_COMPARED = 8


def _invert_figure(group: list[TaskResult]) -> Any:
    from .invert import figures as fg

    shown = []
    for r in group[:MAX_COMPARED]:
        where = _where(r)
        shown += fg.shown_of(r.report, r.arrays["u"], r.arrays.get("u_baseline"),
                             label=f"{fg.method_label(r.report)} ({where})",
                             baseline_label=f"{fg.method_label({**r.report, 'fidelity': 'l2'})}"
                                            f" (baseline, {where})")
    first = group[0].arrays
    u = np.asarray(first["u"])
    problems = group[0].report.get("data", {}).get("problems", 1)
    shape = tuple(u.shape[1:]) if isinstance(problems, int) and problems > 1 \
        and u.shape[:1] == (problems,) else tuple(u.shape)
    more = len(group) - MAX_COMPARED
    title = f"invert {group[0].network}: {len(group)} tasks, the same data" + (
        f" (the first {MAX_COMPARED} shown; not shown: "
        f"{', '.join(_where(r) for r in group[MAX_COMPARED:])})" if more > 0 else "")
    return fg.reconstruction(first.get("truth"), first["f"], shown, shape, title=title)


def _train_key(result: TaskResult) -> Any:
    history = result.report.get("history") or {}
    psnr = [v for v in history.get("validation_psnr") or () if v is not None]
    if not psnr or not np.any(np.isfinite(psnr)):
        return None
    validation = json.dumps(result.report.get("validation"), sort_keys=True, default=str)
    return (str(result.path.parent), result.network, validation)


def _train_figure(group: list[TaskResult]) -> Any:
    from .train import figures as tf

    # what tells the tasks apart beyond their method: the training data's settings that differ
    data = [r.report.get("data") if isinstance(r.report.get("data"), dict) else {}
            for r in group]
    keys = sorted({k for d in data for k in d}, key=str)
    differ = [k for k in keys if len({json.dumps(d.get(k), default=str) for d in data}) > 1]
    curves = []
    for r, d in zip(group, data):
        rep = r.report
        extra = ", ".join(f"{k} = {d.get(k)}" for k in differ)
        label = (f"{rep.get('label') or rep.get('method', '')}" + (f", {extra}" if extra else "")
                 + f" ({_where(r)})")
        history = rep.get("history") or {}
        curves.append(tf.Curve(label, history.get("epoch") or [],
                               history.get("validation_psnr") or [], rep.get("epoch_time_s")))
    return tf.comparison(curves, f"train {group[0].network}: {len(group)} tasks, the same "
                                 "validation set")


def comparisons(tasks: Sequence[Any], results: Sequence[TaskResult]) -> list[Comparison]:
    """Every comparison figure of a run (see the module docstring): ``results[i]`` is
    ``tasks[i]``'s (a run stopped early has fewer results)."""
    pairs = list(zip(tasks, results))
    out: list[Comparison] = []
    taken: set[Path] = set()

    def add(group: list[TaskResult], stem: str, figure: Any) -> None:
        if figure is None:
            return
        folder = group[0].path.parent
        n, name = 1, f"{stem}.png"
        while folder / name in taken:
            n += 1
            name = f"{stem}-{n}.png"
        taken.add(folder / name)
        out.append(Comparison(folder, name, [r.label for r in group], figure))

    inverts = [(t, r) for t, r in pairs if _finished(t, r, "invert")]
    for group in _groups(inverts, _invert_key):
        add(group, f"compare-{sanitise(group[0].network)}", _invert_figure(group))
    trains = [(t, r) for t, r in pairs if _finished(t, r, "train")]
    for group in _groups(trains, _train_key):
        add(group, f"compare-train-{sanitise(group[0].network)}", _train_figure(group))
    return out


def write_comparisons(tasks: Sequence[Any], results: Sequence[TaskResult], console: Any,
                      errors: Any) -> list[Path]:
    """Write :func:`comparisons` (a line on ``console`` for each, an error line on ``errors``
    for one that cannot be written); the paths written."""
    written = []
    try:
        made = comparisons(tasks, results)
    except (LbdslError, MemoryError, ValueError, RuntimeError) as err:
        # a bonus figure: its failure is one line, never the loss of the run's results
        errors.print(f"error: comparison figure: {visible(str(err)) or type(err).__name__}",
                     highlight=False)
        return written
    for comparison in made:
        path = comparison.path
        try:
            check_inside(path)
            write_bytes_atomic(path, png(comparison.figure))
        except LbdslError as err:
            errors.print(f"error: comparison figure: {err}", highlight=False)
            continue
        written.append(path)
        console.print(f"wrote {path} ({len(comparison.tasks)} tasks compared)",
                      highlight=False)
    return written
