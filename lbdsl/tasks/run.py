"""One task, as a run makes it (here or on a Dask worker): by its kind's runner, in its folder
(locked while it writes), its failure turned into a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LbdslError, SpecError
from ..ir.tasks import OVERRIDE_FILE
from . import runner
from .context import RunContext
from .executor import Serial
from .layout import locked
from .result import TaskResult

__all__ = ["context", "run_task", "label"]


def context(program: Any, xp: Any, backend: str, overrides: tuple[str, ...] | list[str],
            console: Any, errors: Any, resume: bool, executor: Any = None,
            run: str | None = None) -> RunContext:
    """The :class:`RunContext` the tasks of ``program`` run in (``run``: the run's name, given
    by the caller on a worker)."""
    ctx = RunContext(program.networks, program.module.file, program.module.source, xp, backend,
                     tuple(overrides), console, errors, resume, tuple(program.tasks),
                     executor or Serial())
    if run is not None:
        ctx.run = run
    return ctx


def label(task: Any) -> str:
    """``invert net (line L)``: what a task is called in headings and lines."""
    line = task.span.line if task.span is not None else None
    return f"{task.kind} {task.network}" + (f" (line {line})" if line else "")


def run_task(ctx: RunContext, task: Any, folder: Path | SpecError | None) -> TaskResult:
    """One task by its kind's runner; a spec error (with its caret) or a one-line failure is
    its result (the other tasks still run).  A solver that overflows is stopped by its
    divergence guard and reported in one line: NumPy's warnings on the way there would only
    bury that line."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _run_task(ctx, task, folder)


def _run_task(ctx: RunContext, task: Any, folder: Path | SpecError | None) -> TaskResult:
    line = task.span.line if task.span is not None else None
    ctx.console.rule(label(task), style="dim")
    run = runner(task.kind).run
    try:
        if isinstance(folder, SpecError):
            raise folder
        if folder is None:
            return run(ctx, task, folder)
        with locked(folder):
            return run(ctx, task, folder)
    except SpecError as err:
        err = err.with_source(ctx.source).with_sources({OVERRIDE_FILE: "\n".join(ctx.overrides)})
        ctx.errors.print(str(err))
        return TaskResult(task.kind, task.network, line, "spec_error", error=str(err))
    except LbdslError as err:
        ctx.errors.print(f"error: {label(task)}: {err}")
        return TaskResult(task.kind, task.network, line, "failed", error=str(err))
    except MemoryError as exc:   # this task is larger than the machine; the next may fit
        reason = f"out of memory: {' '.join(str(exc).split()) or 'an allocation failed'}"
        ctx.errors.print(f"error: {label(task)}: {reason}")
        return TaskResult(task.kind, task.network, line, "failed", error=reason)
