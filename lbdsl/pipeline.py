"""The only module that knows the order of the stages:

    parse → IR graph (:mod:`.program`) → lift → certify → (per task kind) data → lower → solve
    → write

Each stage is a function from one data structure to the next; the stages of a task, after the
certificate, are its kind's (:mod:`lbdsl.tasks`: ``run(ctx, task, folder)``).  Where the tasks
run is the executor :func:`solve` is handed (:mod:`lbdsl.tasks.executor`: here, or a Dask
cluster's), never decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .certify.certificate import Certificate, certify_network
from .errors import SpecError
from .ir.show import summary
from .ir.tasks.kinds import TASK_KINDS
from .ir.tasks.show import describe_task
from .lift.compact import LiftedProblem, lift
from .lift.show import block_tables
from .program import DEMO, Program, demo_source, load, loads
from .tasks.context import certificate_weights
from .tasks.run import context, run_task

__all__ = ["Program", "load", "loads", "lifted", "check", "show", "solve", "DEMO",
           "demo_source"]


def lifted(program: Program) -> dict[str, LiftedProblem]:
    """Every network of ``program`` in compact form."""
    return {name: lift(net) for name, net in program.networks.items()}


def check(program: Program, lam: float | None = None,
          rho: float | None = None) -> dict[str, Certificate]:
    """The certificate of each network at λ and ρ (arguments override the weights its tasks
    give it: :func:`lbdsl.tasks.context.certificate_weights`)."""
    out: dict[str, Certificate] = {}
    for name, net in program.networks.items():
        spec_lam, spec_rho, mu = certificate_weights(program.tasks, name, net)
        out[name] = certify_network(net, spec_lam if lam is None else lam,
                                    spec_rho if rho is None else rho, mu)
    return out


def show(program: Program, lifted: bool = False) -> str:
    """The readable summary of every network (and its lifted blocks) and every task."""
    parts = [summary(net) for net in program.networks.values()]
    if lifted:
        parts.extend(block_tables(lift(net)) for net in program.networks.values())
    parts.extend(describe_task(task, program.module.source) for task in program.tasks)
    return "\n\n".join(parts)


def solve(program: Program, backend: str = "numpy", out: str | Path | None = None,
          overrides: tuple[str, ...] | list[str] = (), console: Any = None,
          errors: Any = None, resume: bool = False, allow_outside: bool = False,
          executor: Any = None, given: dict[str, Any] | None = None,
          threads: int | None = None) -> list[Any]:
    """Run every task in order; one :class:`~lbdsl.tasks.result.TaskResult` per task.

    Each task kind is a package of :mod:`lbdsl.tasks` (``invert``, ``train``, ``check``) whose
    ``run(ctx, task, folder)`` holds its stages; a task of a kind that writes a folder gets
    ``DIR/KIND-NET[-k]/`` inside the output root (:mod:`lbdsl.tasks.layout`; ``allow_outside``
    lets a ``save`` leave it), locked while the task writes there.  A task that fails is
    reported in one line (a spec error with its caret) and the others still run; a Ctrl-C
    during a solve writes that task's last iterate (a training's last complete epoch) and stops
    the run.  ``executor`` (:mod:`lbdsl.tasks.executor`; default: here, in order) runs the
    tasks — :class:`lbdsl.distributed.DaskExecutor` as futures on a Dask cluster, into the same
    folders, with the same results.  ``given`` maps ``"data"`` / ``"truth"`` to the arrays
    that the tasks' ``data = given`` / ``truth = given`` take.  Every task runs with
    ``threads`` BLAS threads (default: this process's count), here and on workers alike
    (:mod:`lbdsl.threads`: the count changes the rounding).
    """
    from .backend import namespace
    from .terminal import plain_console
    from .tasks.layout import Allocator, base_dir
    from .tasks.progress import last_signal
    from .tasks.compare import write_comparisons
    from .tasks.summary import summary_table
    from .threads import blas_threads, pinned

    last_signal.clear()
    xp = namespace(backend)  # fail early, in one line, on an unusable backend
    console = console or plain_console(soft_wrap=True)
    errors = errors or plain_console(stderr=True, soft_wrap=True)
    ctx = context(program, xp, backend, overrides, console, errors, resume, executor)
    ctx.given = dict(given or {})
    ctx.threads = threads if threads is not None else blas_threads()
    allocator = Allocator()
    folders: dict[int, Any] = {}
    for index, task in enumerate(program.tasks):
        if TASK_KINDS[task.kind].writes_folder:
            try:
                base = base_dir(out, task.save, program.module.file, allow_outside,
                                task.spans.get("save"))
            except SpecError as err:   # reported as this task's error, when it runs
                folders[index] = err
                continue
            folders[index] = allocator.folder(base, task.kind, task.network)
    with pinned(threads):
        results = ctx.executor.run_tasks(ctx, folders, run_task)
    # a spec's tasks on one network and data, side by side (compare-NET.png in the output root)
    write_comparisons(program.tasks, results, console, errors)
    stopped = [r for r in results if r.status == "interrupted"]
    if stopped:     # a serial run stops at the first; on a cluster, every task says itself
        _say_interrupted(errors, stopped, program, out, overrides, backend, allow_outside,
                         ctx.executor.options)
    if any(TASK_KINDS[r.kind].writes_folder for r in results):
        _print_wide(console, lambda width: summary_table(results, width))
    return results


def _say_interrupted(errors: Any, stopped: list[Any], program: Program, out: Any,
                     overrides: Any, backend: str, allow_outside: bool,
                     cluster: list[str] | None = None) -> None:
    """The one line after a stopped run: what stopped, where its state is, how to go on
    (``cluster``: the options of the Dask cluster it ran on, where every task is in
    ``stopped`` or finished; None: a serial run, the tasks after the stopped one not run)."""
    what = "; ".join(f"{r.label} was not started"
                     if r.report.get("stop_reason") == "not started" else
                     f"{r.label} stopped early, its "
                     f"{'last complete epoch' if r.kind == 'train' else 'last iterate'} is in "
                     f"{r.path}" for r in stopped)
    rest = "" if cluster is not None else "; the remaining tasks were not run"
    file = program.module.file
    if file.startswith("<") and file != DEMO:      # a spec given as text: no command reruns it
        to = f" into {out}" if out is not None else ""
        errors.print(f"interrupted: {what}{rest}; to go on, solve the same spec text{to} "
                     "with the same overrides and resume=True")
        return
    again = resume_command(file, out, overrides, backend, allow_outside, cluster or ())
    errors.print(f"interrupted: {what}{rest}; to go on, run (from {_cwd_text()}): {again}")


def resume_command(file: str, out: str | Path | None, overrides: tuple[str, ...] | list[str],
                   backend: str, allow_outside: bool = False,
                   cluster: Sequence[str] = ()) -> str:
    """The command line that goes on with a run: its spec, ``--out``, every ``--set``, the
    backend and the Dask ``cluster`` options, with ``--resume`` (quoted for a POSIX shell)."""
    import shlex

    words = ["lbdsl", "solve"] + ([] if file.startswith("<") else [file])
    words += ["--out", str(out)] if out is not None else []
    for text in overrides:
        words += ["--set", text]
    words += ["--backend", backend] if backend != "numpy" else []
    words += ["--allow-outside"] if allow_outside else []
    return shlex.join(words + list(cluster) + ["--resume"])


def _cwd_text() -> str:
    import os

    try:
        return os.getcwd()
    except OSError:
        return "the same directory"


def _print_wide(console: Any, renderable: Any) -> None:
    """Print ``renderable(width)`` on a terminal as wide as it is; to a log or a pipe (80
    columns by default) at least 132 columns wide, so that a table keeps one line per row."""
    if console.is_terminal:
        console.print(renderable(console.width))
        return
    width = console.width
    console.width = max(width, 132)
    try:
        console.print(renderable(console.width))
    finally:
        console.width = width
