"""The only module that knows the order of the stages:

    parse → IR graph → lift → certify → (per task kind) data → lower → solve → write

Each stage is a function from one data structure to the next; the stages of a task, after the
certificate, are its kind's (:mod:`lbdsl.tasks`: ``run(ctx, task, folder)``).  The CLI and the
Python API call these and nothing deeper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .certify.certificate import Certificate, certify_network
from .errors import SpecError
from .ir.build import build_module
from .ir.nodes import ModuleIR, NetworkIR
from .ir.show import summary
from .ir.tasks import OVERRIDE_FILE, apply_overrides_to_module
from .ir.tasks.show import describe_task
from .lift.compact import LiftedProblem, lift
from .lift.show import block_tables
from .syntax import tree
from .syntax.parser import parse, parse_file

__all__ = ["Program", "load", "loads", "lifted", "check", "show", "solve", "DEMO"]

#: Name shown for the built-in demo spec.
DEMO = "<demo>"


@dataclass(frozen=True, eq=False)
class Program:
    """A loaded spec: its syntax tree and its IR (networks and typed tasks)."""

    module: tree.Module
    ir: ModuleIR

    @property
    def networks(self) -> dict[str, NetworkIR]:
        return self.ir.networks

    @property
    def tasks(self) -> tuple[Any, ...]:
        return self.ir.tasks

    def lift(self, network: str) -> LiftedProblem:
        """The compact form of one network (NumPy, float64)."""
        return lift(self.networks[network])

    def check(self, lam: float | None = None, rho: float | None = None) -> dict[str, Certificate]:
        """The certificate of every network (see :func:`check`)."""
        return check(self, lam, rho)


def demo_source() -> str:
    """The text of the built-in demo spec (shipped inside the package)."""
    return (resources.files("lbdsl") / "demo.lbn").read_text(encoding="utf-8")


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Program:
    """Parse and build a spec file (``None``: the built-in demo), applying ``--set`` overrides."""
    return _build(parse(demo_source(), DEMO) if path is None else parse_file(path), overrides)


def loads(text: str, overrides: list[str] | tuple[str, ...] = (),
          file: str = "<string>") -> Program:
    """Parse and build a spec given as text (``file`` names it in messages; ``load(...)``
    paths in it are relative to the working directory)."""
    return _build(parse(text, file), overrides)


def _build(module: tree.Module, overrides: list[str] | tuple[str, ...]) -> Program:
    if not overrides:
        return Program(module, build_module(module))
    try:
        module = apply_overrides_to_module(module, list(overrides))
        return Program(module, build_module(module))
    except SpecError as err:  # let diagnostics in `--set:N` quote the override they point at
        raise err.with_sources({OVERRIDE_FILE: "\n".join(overrides)}) from None


def lifted(program: Program) -> dict[str, LiftedProblem]:
    """Every network of ``program`` in compact form."""
    return {name: lift(net) for name, net in program.networks.items()}


def _task_weights(program: Program, network: str) -> tuple[float, float | None, float]:
    """λ, ρ and the input regulariser's modulus μ for a network's certificate: its ``check``
    task (μ = 0), else its ``invert`` task (μ = α·w of its ``l2sq`` terms, α fixed)."""
    from .tasks.invert.lower import modulus

    for kind in ("check", "invert"):
        for task in program.tasks:
            if getattr(task, "kind", None) == kind and task.network == network:
                given = getattr(task, "given", frozenset())
                rho = task.rho if (kind == "check" or "rho" in given) else None
                mu = modulus(task, program.networks[network].input_shape) \
                    if kind == "invert" else 0.0
                return float(task.lam), rho, mu
    return 1.0, None, 0.0


def check(program: Program, lam: float | None = None,
          rho: float | None = None) -> dict[str, Certificate]:
    """The certificate of each network at λ and ρ (arguments override the spec's tasks)."""
    out: dict[str, Certificate] = {}
    for name, net in program.networks.items():
        spec_lam, spec_rho, mu = _task_weights(program, name)
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
          client: Any = None, cluster: Sequence[str] = ()) -> list[Any]:
    """Run every task in order; one :class:`~lbdsl.tasks.result.TaskResult` per task.

    Each task kind is a package of :mod:`lbdsl.tasks` (``invert``, ``train``, ``check``) whose
    ``run(ctx, task, folder)`` holds its stages; ``invert`` and ``train`` tasks get a folder
    ``DIR/KIND-NET[-k]/`` inside the output root (:mod:`lbdsl.tasks.layout`; ``allow_outside``
    lets a ``save`` leave it), locked while the task writes there.  A task that fails is
    reported in one line (a spec error with its caret) and the others still run; a Ctrl-C
    during a solve writes that task's last iterate (a training's last complete epoch) and stops
    the run.  With a Dask ``client`` the tasks run as futures on its workers
    (:mod:`lbdsl.distributed`), into the same folders, with the same results; ``cluster``:
    the command-line options that reach it again (``--workers N``), for the line that says how
    to go on after a Ctrl-C.
    """
    from rich.console import Console

    from .backend import namespace
    from .tasks import KINDS
    from .tasks.layout import Allocator, base_dir
    from .tasks.summary import summary_table

    from .tasks.progress import last_signal

    last_signal.clear()
    xp = namespace(backend)  # fail early, in one line, on an unusable backend
    console = console or Console(markup=False, highlight=False, soft_wrap=True)
    errors = errors or Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    ctx = context(program, xp, backend, overrides, console, errors, resume)
    allocator = Allocator()
    folders: dict[int, Any] = {}
    for index, task in enumerate(program.tasks):
        if KINDS[task.kind].writes_folder:
            try:
                base = base_dir(out, task.save, program.module.file, allow_outside,
                                task.spans.get("save"))
            except SpecError as err:   # reported as this task's error, when it runs
                folders[index] = err
                continue
            folders[index] = allocator.folder(base, task.kind, task.network)
    if client is not None:
        from .distributed import run_tasks

        results = run_tasks(client, program, folders, backend, tuple(overrides), resume, console,
                            errors)
        stopped = [r for r in results if r.status == "interrupted"]
        if stopped:     # every task is in the results: those not started say so themselves
            _say_interrupted(errors, stopped, program, out, overrides, backend, allow_outside,
                             list(cluster))
        if any(r.kind != "check" for r in results):
            _print_wide(console, lambda width: summary_table(results, width))
        return results
    results = []
    for index, task in enumerate(program.tasks):
        result = run_task(ctx, task, folders.get(index))
        results.append(result)
        if result.status == "interrupted":
            _say_interrupted(errors, [result], program, out, overrides, backend, allow_outside)
            break
    if any(r.kind != "check" for r in results):
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


def context(program: Program, xp: Any, backend: str, overrides: tuple[str, ...] | list[str],
            console: Any, errors: Any, resume: bool) -> Any:
    """The :class:`~lbdsl.tasks.context.RunContext` the tasks of ``program`` run in."""
    from .tasks.context import RunContext

    return RunContext(program.networks, program.module.file, program.module.source, xp, backend,
                      tuple(overrides), console, errors, resume,
                      weights=lambda network: _task_weights(program, network))


def run_task(ctx: Any, task: Any, folder: Path | SpecError | None) -> Any:
    """One task, as :func:`solve` runs it (also on a Dask worker)."""
    # a solver that overflows is stopped by its divergence guard and reported in one line;
    # NumPy's warnings on the way there would only bury that line
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _run_task(ctx, task, folder)


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


def _run_task(ctx: Any, task: Any, folder: Path | None) -> Any:
    """One task by its kind's runner, its failure turned into a result (spec errors keep
    their caret)."""
    from .errors import LbdslError
    from .tasks import KINDS
    from .tasks.layout import locked
    from .tasks.result import TaskResult

    line = task.span.line if task.span is not None else None
    label = f"{task.kind} {task.network}" + (f" (line {line})" if line else "")
    ctx.console.rule(label, style="dim")
    try:
        if isinstance(folder, SpecError):
            raise folder
        if folder is None:
            return KINDS[task.kind].runner()(ctx, task, folder)
        with locked(folder):
            return KINDS[task.kind].runner()(ctx, task, folder)
    except SpecError as err:
        err = err.with_source(ctx.source).with_sources({OVERRIDE_FILE: "\n".join(ctx.overrides)})
        ctx.errors.print(str(err))
        return TaskResult(task.kind, task.network, line, "spec_error", error=str(err))
    except LbdslError as err:
        ctx.errors.print(f"error: {label}: {err}")
        return TaskResult(task.kind, task.network, line, "failed", error=str(err))
