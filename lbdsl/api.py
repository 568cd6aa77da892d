"""The Python API: what the command line does, with results you can use in Python.

    >>> import lbdsl
    >>> spec = lbdsl.load("specs/perceptron.lbn")          # parse and build (SpecError if bad)
    >>> spec.check()                                       # {network: Certificate}
    >>> print(spec.show())                                 # layers, shapes, tasks
    >>> results = spec.solve(out="results/", overrides=["alpha=0.02"])
    >>> results[0].u.shape, results[0].report["psnr"], results[0].path

``solve`` runs every task like ``lbdsl solve`` (same folders, same files, same printed
certificate, progress and summary; ``verbose=False`` prints nothing) and returns one
:class:`~lbdsl.tasks.result.TaskResult` per task.  A task that fails does not stop the others:
its result has ``status`` ``"failed"`` or ``"spec_error"`` and the message in ``error``.
Errors that concern the whole spec (it does not parse, an override is wrong, the backend cannot
run here) are raised: :class:`~lbdsl.errors.SpecError`, :class:`~lbdsl.errors.BackendError`.
"""

from __future__ import annotations

import io
from pathlib import Path

from . import pipeline
from .certify.certificate import Certificate
from .tasks.result import TaskResult

__all__ = ["Spec", "load"]


class Spec:
    """A loaded ``.lbn`` spec (``None`` path: the built-in demo)."""

    def __init__(self, path: str | Path | None = None, overrides: tuple[str, ...] = ()):
        self.path = None if path is None else Path(path)
        self.overrides = tuple(overrides)
        self.program = pipeline.load(path, overrides=self.overrides)

    def __repr__(self) -> str:
        nets = ", ".join(self.program.networks)
        tasks = ", ".join(f"{t.kind} {t.network}" for t in self.program.tasks)
        return f"<lbdsl.Spec {self.path or 'demo'}: networks [{nets}], tasks [{tasks}]>"

    #: the networks by name, and the typed tasks in spec order
    networks = property(lambda self: self.program.networks)
    tasks = property(lambda self: self.program.tasks)

    def check(self, lam: float | None = None, rho: float | None = None,
              ) -> dict[str, Certificate]:
        """The convexity certificate of every network (``lbdsl check``)."""
        return pipeline.check(self.program, lam, rho)

    def show(self, lifted: bool = False) -> str:
        """The readable summary ``lbdsl show`` prints."""
        return pipeline.show(self.program, lifted=lifted)

    def solve(self, backend: str = "numpy", out: str | Path | None = None,
              overrides: tuple[str, ...] | list[str] = (), verbose: bool = True,
              resume: bool = False, allow_outside: bool = False) -> list[TaskResult]:
        """Run every task (``lbdsl solve``); ``overrides`` are ``--set KEY=VALUE`` strings
        applied after the ones given to :func:`load`; ``resume`` continues each task an
        interrupted run left a ``checkpoint.npz`` for (``lbdsl solve --resume``);
        ``allow_outside`` lets a ``save`` write outside the output root (``--allow-outside``)."""
        from rich.console import Console

        every = self.overrides + tuple(overrides)
        program = self.program if not overrides else pipeline.load(self.path, overrides=every)
        console = errors = None
        if not verbose:
            console = Console(file=io.StringIO(), markup=False, highlight=False)
            errors = console
        return pipeline.solve(program, backend=backend, out=out, overrides=every,
                              console=console, errors=errors, resume=resume,
                              allow_outside=allow_outside)


def load(path: str | Path | None = None, overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """Parse and build the spec at ``path`` (``None``: the built-in demo)."""
    return Spec(path, tuple(overrides))
