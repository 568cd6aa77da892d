"""Running tasks: the runtime behind ``lbdsl solve`` and ``lbdsl.load(...).solve()``.

One package per task kind, each with ``run(ctx, task, folder) -> TaskResult`` holding the kind's
stages (:data:`KINDS`; the order of the tasks is :func:`lbdsl.pipeline.solve`'s):

* :mod:`.invert` — truth and data, lowering (:mod:`.invert.lower`), the solves
  (:mod:`.invert.solve`: α rules, the quadratic baseline), ``result.npz``, figures, report;
* :mod:`.train` — training and validation pairs (:mod:`.train.pairs`), training
  (:mod:`.train.fit`: validation, a progress line and a checkpoint per epoch), ``weights.npz``,
  figures, report;
* :mod:`.check` — the certificate, printed.

What they share: :mod:`.context` (the :class:`~.context.RunContext` every runner gets),
:mod:`.data` (images, digits, files, noise), :mod:`.checkpoint` (the one checkpoint format,
fingerprints, ``--resume``) with :mod:`.arraytree`, :mod:`.progress` (progress display, Ctrl-C),
:mod:`.layout` (output folders), :mod:`.report` and :mod:`.figures` (provenance, metrics, plot
helpers), :mod:`.result` (the :class:`TaskResult` a caller gets back) and :mod:`.summary` (its
table).  A new task kind is a package here, one line in :data:`KINDS`, and its spec side in
:mod:`lbdsl.ir.tasks`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .result import TaskResult, exit_status

__all__ = ["TaskResult", "exit_status", "TaskKind", "KINDS"]


@dataclass(frozen=True)
class TaskKind:
    """A task kind's runner (``module.run``) and whether it writes an output folder."""

    module: str
    writes_folder: bool

    def runner(self) -> Callable[..., Any]:
        return importlib.import_module(self.module).run


KINDS: dict[str, TaskKind] = {
    "invert": TaskKind("lbdsl.tasks.invert", True),
    "train": TaskKind("lbdsl.tasks.train", True),
    "check": TaskKind("lbdsl.tasks.check", False),
}
