"""Where a run's tasks, and the independent parts of a task, are executed.

An executor is handed to :func:`lbdsl.pipeline.solve` (never imported by it): :class:`Serial`
runs everything here, one task after another; :class:`lbdsl.distributed.DaskExecutor` runs
them as futures on a Dask cluster.  A task kind that splits a task into independent parts
(an ``invert`` task's row groups or sweep points) asks the executor whether it
:attr:`~Serial.distributes` them, and if so hands it a picklable part function with its
arguments (:meth:`~Serial.map`); data-parallel training asks it for a pool of shards
(:meth:`~Serial.shard_pool`).  A worker rebuilds the spec from a :class:`SpecRef`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SpecRef", "Serial"]


@dataclass(frozen=True)
class SpecRef:
    """A spec as another process rebuilds it: its file name, the text this process read (never
    the file again: it may have changed since), the working directory its relative names start
    from, the ``--set`` overrides, the backend, the run it belongs to (a long-lived worker
    keeps nothing of one run into the next), for one task its index in the spec, and the
    number of BLAS threads every task of the run uses (:mod:`lbdsl.threads`)."""

    file: str
    source: str
    cwd: str
    overrides: tuple[str, ...]
    backend: str
    run: str
    index: int = -1
    threads: int | None = None


class Serial:
    """Every task here, in spec order; a task's parts here too (the task solves them itself)."""

    #: whether the parts of a task go elsewhere (the task then hands them to :meth:`map`)
    distributes = False
    #: the command-line options that reach this executor again (for the go-on line)
    options: tuple[str, ...] | None = None

    def map(self, part: Callable[..., Any], calls: Sequence[tuple[Any, ...]],
            names: Sequence[str]) -> list[Any]:
        """``[part(*args, console=…)]`` for each of ``calls`` (None for a part a stop kept from
        starting); ``names`` say what each is in progress lines."""
        raise NotImplementedError("a serial run solves a task's parts in the task itself")

    def shard_pool(self, shards: int, backend: str) -> Callable[[Any], Any] | None:
        """A pool factory for data-parallel training with ``shards`` shards on ``backend``
        (None: no effect here)."""
        return None

    def run_tasks(self, ctx: Any, folders: dict[int, Path | Exception],
                  run_task: Callable[[Any, Any, Any], Any]) -> list[Any]:
        """The results of ``ctx``'s tasks in order, each by ``run_task(ctx, task, folder)``;
        after an interrupted one, the rest are not run."""
        results = []
        for index, task in enumerate(ctx.tasks):
            results.append(run_task(ctx, task, folders.get(index)))
            if results[-1].status == "interrupted":
                break
        return results
