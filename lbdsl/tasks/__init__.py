"""Running tasks: the runtime behind ``lbdsl solve`` and ``lbdsl.load(...).solve()``.

One module per job, each a function from one data structure to the next; the order of the
stages is :func:`lbdsl.pipeline.solve`'s alone:

* :mod:`.data` — the ground truth and the data (images, linspace, files, noise);
* :mod:`.lower` — the data projected onto dom Ψ, the regulariser weighed, the solver chosen and
  configured: an :class:`~lbdsl.solvers.problems.InverseProblem`;
* :mod:`.invert` — the solver runs (α rules, the quadratic baseline), with
  :mod:`.progress` (progress display, Ctrl-C);
* :mod:`.save` — ``result.npz``, figures (:mod:`.figures`) and ``report.json``
  (:mod:`.report`), into the folder :mod:`.layout` picks;
* :mod:`.pairs` — a ``train`` task's input/target pairs (digits, files);
* :mod:`.train` — training runs (validation, a progress line and a :mod:`.checkpoint` per
  epoch, ``--resume``, Ctrl-C); :mod:`.save_train` writes ``weights.npz``, the figures
  (:mod:`.train_figures`) and ``report.json``;
* :mod:`.result` — the :class:`TaskResult` a caller gets back, :mod:`.summary` its table.
"""

from .result import TaskResult, exit_status

__all__ = ["TaskResult", "exit_status"]
