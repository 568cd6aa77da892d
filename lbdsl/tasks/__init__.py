"""Running tasks: the runtime behind ``lbdsl solve`` and ``lbdsl.load(...).solve()``.

One package per task kind, each with ``run(ctx, task, folder) -> TaskResult`` holding the kind's
stages (:func:`runner`; the kinds are :data:`lbdsl.ir.tasks.kinds.TASK_KINDS`, the order of
the tasks is :func:`lbdsl.pipeline.solve`'s):

* :mod:`.invert` — truth and data, lowering (:mod:`.invert.lower`), the solves
  (:mod:`.invert.solve`: α rules, the quadratic baseline), ``result.npz``, figures, report;
* :mod:`.train` — training and validation pairs (:mod:`.train.pairs`), training
  (:mod:`.train.fit`: validation, a progress line and a checkpoint per epoch), ``weights.npz``,
  figures, report;
* :mod:`.check` — the certificate, printed.

A runner package may also declare ``certificate_weights(task, net) -> (λ, ρ, μ)`` with
``CERTIFICATE_PRIORITY`` (where a network's certificate takes its weights from: its ``check``
task, else its ``invert`` task) and ``splits(task) -> bool`` (the task runs in the calling
process and hands independent parts to the executor, :mod:`.executor`).

What they share: :mod:`.context` (the :class:`~.context.RunContext` every runner gets),
:mod:`.run` (one task, its failure turned into a result), :mod:`.executor` (where tasks and
their parts run: here, or a Dask cluster's executor), :mod:`.data` (images, digits, files,
noise), :mod:`.checkpoint` (the one checkpoint format, fingerprints, ``--resume``) with
:mod:`.arraytree`, :mod:`.progress` (progress display, Ctrl-C), :mod:`.layout` (output
folders), :mod:`.report` and :mod:`.figures` (provenance, metrics, plot helpers),
:mod:`.result` (the :class:`TaskResult` a caller gets back), :mod:`.summary` (its table)
and :mod:`.compare` (after all tasks: the figures that compare tasks on the same data).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..ir.tasks.kinds import TASK_KINDS
from .result import TaskResult, exit_status

__all__ = ["TaskResult", "exit_status", "runner"]


def runner(kind: str) -> ModuleType:
    """The runner package of the task kind ``kind`` (its ``run``, and what it declares)."""
    return importlib.import_module(TASK_KINDS[kind].runner)
