"""The independent parts of an ``invert`` task, as a distributing executor runs them
elsewhere: one group of rows of a ``chunk`` task (:func:`group`), one point of a sweep
without warm starts (:func:`point`).

A part rebuilds the task from its :class:`~lbdsl.tasks.executor.SpecRef` and prepares it
(data, lifted problem, projection) once per process and run (:func:`prepared`), quietly — the
calling process prepared the same task itself and printed what this would print — then solves
exactly as the serial run does: the serial run's arrays, bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any

from ...backend import namespace
from ...program import loads
from ...terminal import quiet_console
from ..executor import SpecRef
from ..run import context
from . import chunks
from .prepare import prepare, solve_group
from .solve import sweep_point

__all__ = ["group", "point", "prepared"]


@functools.lru_cache(maxsize=4)
def prepared(ref: SpecRef) -> tuple[Any, Any]:
    """Task ``ref.index`` of the spec and its :class:`~lbdsl.tasks.invert.Prepared` (``ref``
    names the run: a long-lived worker must not keep a data file's old contents into the next
    one)."""
    program = loads(ref.source, ref.overrides, file=ref.file)
    quiet = quiet_console()
    ctx = context(program, namespace(ref.backend), ref.backend, ref.overrides, quiet, quiet,
                  False, run=ref.run)
    task = program.tasks[ref.index]
    return task, prepare(ctx, task)


def group(ref: SpecRef, k: int, *, console: Any) -> Any:
    """Group ``k`` of the chunked task, solved (its lines to ``console``)."""
    task, prep = prepared(ref)
    return solve_group(task, prep, chunks.groups(task, prep.observed)[k], console)


def point(ref: SpecRef, alpha: float, *, console: Any) -> Any:
    """The sweep point ``alpha`` of the task, solved from the start (its lines to
    ``console``)."""
    task, prep = prepared(ref)
    return sweep_point(task, prep.lp, prep.f_solver, alpha, console)
