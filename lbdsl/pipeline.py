"""The only module that knows the order of the stages:

    parse → IR graph → lift → certify → data → lower → solve → write

Each stage is a function from one data structure to the next (the runtime ones live in
:mod:`lbdsl.tasks`); the CLI and the Python API call these and nothing deeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .certify.certificate import Certificate, certify
from .errors import SolveError, SpecError
from .ir.build import build_module
from .ir.nodes import ModuleIR, NetworkIR
from .ir.show import summary
from .ir.tasks import OVERRIDE_FILE, apply_overrides_to_module
from .ir.tasks.show import describe_task
from .lift.compact import LiftedProblem, lift
from .lift.show import block_tables
from .syntax import tree
from .syntax.parser import parse, parse_file

__all__ = ["Program", "load", "lifted", "check", "show", "solve", "DEMO"]

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
    module = parse(demo_source(), DEMO) if path is None else parse_file(path)
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


def _task_weights(program: Program, network: str) -> tuple[float, float | None]:
    """λ and ρ for a network's certificate: its ``check`` task, else its ``invert`` task."""
    for kind in ("check", "invert"):
        for task in program.tasks:
            if getattr(task, "kind", None) == kind and task.network == network:
                given = getattr(task, "given", frozenset())
                rho = task.rho if (kind == "check" or "rho" in given) else None
                return float(task.lam), rho
    return 1.0, None


def check(program: Program, lam: float | None = None,
          rho: float | None = None) -> dict[str, Certificate]:
    """The certificate of each network at λ and ρ (arguments override the spec's tasks)."""
    out: dict[str, Certificate] = {}
    for name, net in program.networks.items():
        spec_lam, spec_rho = _task_weights(program, name)
        out[name] = certify(lift(net), spec_lam if lam is None else lam,
                            spec_rho if rho is None else rho)
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
          errors: Any = None, resume: bool = False) -> list[Any]:
    """Run every task in order; one :class:`~lbdsl.tasks.result.TaskResult` per task.

    Per ``invert`` task the stages are: certificate (printed first; a network that is not
    certified is warned about, not refused) → truth and data → lift on the backend → lower
    (project the data onto dom Ψ, weigh the regulariser, choose the solver) → solve (α rule,
    baseline) → write ``DIR/invert-NET[-k]/``.  Per ``train`` task: certificate → training and
    validation pairs → train (a checkpoint per epoch; with ``resume``, from the folder's
    ``checkpoint.npz``) → write ``DIR/train-NET[-k]/``.  A task that fails is reported in one
    line (a spec error with its caret) and the others still run; a Ctrl-C during a solve writes
    that task's last iterate (a training's last complete epoch) and stops the run.
    """
    from rich.console import Console

    from .backend import namespace
    from .tasks.layout import Allocator, base_dir
    from .tasks.summary import summary_table

    xp = namespace(backend)  # fail early, in one line, on an unusable backend
    console = console or Console(markup=False, highlight=False, soft_wrap=True)
    errors = errors or Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    overrides = tuple(overrides)
    allocator = Allocator()
    folders = {}
    for index, task in enumerate(program.tasks):
        if task.kind in ("invert", "train"):
            base = base_dir(out, task.save, program.module.file)
            folders[index] = allocator.folder(base, task.kind, task.network)
    results = []
    certificates: dict[tuple[str, float, float | None], Certificate] = {}
    for index, task in enumerate(program.tasks):
        # a solver that overflows is stopped by its divergence guard and reported in one line;
        # NumPy's warnings on the way there would only bury that line
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = _run_task(program, task, folders.get(index), xp, backend, overrides,
                               console, errors, resume, certificates)
        results.append(result)
        if result.status == "interrupted":
            last = "last complete epoch" if result.kind == "train" else "last iterate"
            again = "lbdsl solve" + ("" if program.module.file.startswith("<")
                                     else f" {program.module.file}") + " --resume"
            errors.print(f"interrupted: {result.label} stopped early; its {last} is in "
                         f"{result.path}; the remaining tasks were not run; `{again}` "
                         "(with the same options) continues")
            break
    if any(r.kind != "check" for r in results):
        _print_wide(console, lambda width: summary_table(results, width))
    return results


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


def _run_task(program: Program, task: Any, folder: Path | None, xp: Any, backend: str,
              overrides: tuple[str, ...], console: Any, errors: Any,
              resume: bool = False, certificates: dict | None = None) -> Any:
    """One task, its failure turned into a result (spec errors keep their caret)."""
    from .errors import LbdslError
    from .tasks.result import TaskResult

    line = task.span.line if task.span is not None else None
    label = f"{task.kind} {task.network}" + (f" (line {line})" if line else "")
    console.rule(label, style="dim")
    try:
        if task.kind == "check":
            cert = certify(lift(program.networks[task.network]), task.lam, task.rho)
            console.print(cert.render())
            return TaskResult("check", task.network, line, "ok", report={"certificate":
                                                                        cert.to_json()})
        if task.kind == "train":
            return _train(program, task, folder, xp, backend, overrides, console, errors,
                          resume, {} if certificates is None else certificates)
        return _invert(program, task, folder, xp, backend, overrides, console, errors, resume)
    except SpecError as err:
        err = err.with_source(program.module.source).with_sources(
            {OVERRIDE_FILE: "\n".join(overrides)})
        errors.print(str(err))
        return TaskResult(task.kind, task.network, line, "spec_error", error=str(err))
    except LbdslError as err:
        errors.print(f"error: {label}: {err}")
        return TaskResult(task.kind, task.network, line, "failed", error=str(err))


def _invert(program: Program, task: Any, folder: Path, xp: Any, backend: str,
            overrides: tuple[str, ...], console: Any, errors: Any, resume: bool = False) -> Any:
    """certify → truth and data → lift → lower → solve → write, for one ``invert`` task
    (with ``resume``, taking what an interrupted run did from the folder's checkpoint)."""
    from .backend import float_dtype
    from .tasks import data as dt
    from .tasks import invert, lower
    from .tasks import solve_checkpoint as sc
    from .tasks.save import InvertRecord, write_invert

    net = program.networks[task.network]
    cert = certify(lift(net), task.lam, task.rho)
    console.print(cert.render())
    if task.fidelity != "bregman":
        console.print("  note: the certificate is for the lifted Bregman problem; this task's "
                      "quadratic fidelity ½‖N(u) − f‖² is not covered by it (it is not convex "
                      "in general)")
    elif not cert.certified:
        errors.print(f"WARNING: network {task.network} is NOT certified convex at "
                     f"λ = {task.lam:g}, ρ = {task.rho:g}; solving anyway (the solver may stop "
                     "at a point that is not a global minimiser)")
    spec_dir = _spec_dir(program.module.file)
    truth = dt.make_truth(task.truth, net, spec_dir) if task.truth is not None else None
    observed = dt.make_data(task, net, truth, spec_dir)
    lp = lift(net, xp, float_dtype(xp, task.dtype))
    f_raw = observed.f.reshape(*observed.batch, -1)
    if task.fidelity == "bregman":
        f_solver, projection = lower.project_data(lp, f_raw, task.dtype)
        if projection.moved:
            console.print(f"  data: {projection.moved} of {projection.entries} entries moved "
                          f"into the domain of {projection.psi} (margin {projection.margin:g})")
    else:
        f_solver, projection = f_raw, lower.Projection("none", 0.0, 0, int(f_raw.size))
    fingerprint = sc.fingerprint(task, net, f_raw, f_solver, observed.truth, backend)
    replay = _invert_checkpoint(folder, fingerprint, xp, console) if resume else None
    solved = invert.run(task, lp, f_solver, f_raw, observed, console, replay)
    record = InvertRecord(task, net, cert, observed, projection, f_solver, solved, backend,
                          program.module.file, program.module.source, overrides, fingerprint)
    result = write_invert(folder, record)
    console.print(f"  wrote {folder}")
    if result.status == "failed":
        errors.print(f"error: {result.label}: {result.error}")
    elif solved.result.stop_reason == "max_iter":  # a result, but not to the accuracy asked
        console.print(f"  note: the solver stopped at max_iter = {solved.result.iterations} "
                      f"before reaching tol = {task.solver.tol:g}; `--resume --set "
                      "solver.max_iter=N` " + ("goes on from there" if solved.result.state
                                               else "solves it again with more"))
    return result


def _invert_checkpoint(folder: Path, fingerprint: dict[str, Any], xp: Any,
                       console: Any) -> Any:
    """What an earlier run of this task left in ``folder`` (None: nothing to resume from)."""
    from .tasks import solve_checkpoint as sc

    path = folder / sc.FILE
    if not path.exists():
        console.print(f"  no checkpoint in {folder}: solving from the start")
        return None
    stored, found = sc.read(path, xp)
    what = sc.changed(found, fingerprint)
    if what and stored.complete:
        # a finished task edited since (while --resume is meant for another task of the spec)
        console.print(f"  {path}: since it was written, {what} changed; the task had "
                      "finished, so it is solved again")
        return None
    sc.check_compatible(found, fingerprint, path)  # an interrupted run: the user decides
    state = ("complete" if stored.complete else
             "stopped before it finished" + (f", at iteration {stored.stopped_at.iterations}"
                                             if stored.stopped_at is not None else ""))
    console.print(f"  {path}: {len(stored.solves)} solve(s)"
                  + (" and the baseline" if stored.baseline is not None else "")
                  + f", {state}; each solve below says what it takes from it")
    return stored


def _train(program: Program, task: Any, folder: Path, xp: Any, backend: str,
           overrides: tuple[str, ...], console: Any, errors: Any, resume: bool,
           certificates: dict[tuple[str, float, float | None], Certificate]) -> Any:
    """certify → training and validation pairs → train → write, for one ``train`` task.

    The certificate (of the network as written, for inverting it) goes into the report; it is
    computed once per network and solve, however many tasks train that network."""
    from .tasks import checkpoint as ck
    from .tasks import train
    from .tasks.pairs import make_pairs
    from .tasks.save_train import TrainRecord, prepare_folder, write_train

    net = program.networks[task.network]
    lam, rho = _task_weights(program, task.network)
    key = (task.network, lam, rho)
    if key not in certificates:
        certificates[key] = certify(lift(net), lam, rho)
    cert = certificates[key]
    console.print(f"  certificate (inverting {task.network}): "
                  f"{'certified' if cert.certified else 'not certified'} ({cert.kind}) at "
                  f"λ = {cert.lam:g}" + (f", ρ = {cert.rho:g}" if cert.rho is not None else ""))
    spec_dir = _spec_dir(program.module.file)
    data = make_pairs(task.data, net, spec_dir, task.seed)
    validation = (make_pairs(task.validation, net, spec_dir, task.seed)
                  if task.validation is not None else None)
    fingerprint = ck.fingerprint(task, net, data, validation)
    prepare_folder(folder, resume)
    path = folder / ck.FILE
    start = None
    if resume and path.exists():
        state, found, time_s = ck.read(path)
        ck.check_compatible(found, fingerprint, path)
        if state.epoch > task.optimizer.epochs:
            raise SolveError(f"cannot resume from {path}: it is at epoch {state.epoch}, beyond "
                             f"the {task.optimizer.epochs} epochs asked for")
        start = (state, time_s)
        console.print(f"  resuming from epoch {state.epoch} ({path})")
    elif resume:
        console.print(f"  no checkpoint in {folder}: starting from epoch 0")
    console.print(f"  training: {train.method_label(task)}, {data.n} samples"
                  + (f", validation {validation.n}" if validation is not None else ""))
    trained = train.run(task, net, data, validation, xp, console, path, fingerprint, start)
    record = TrainRecord(task, net, cert, data, validation, trained, backend,
                         program.module.file, program.module.source, overrides)
    result = write_train(folder, record)
    console.print(f"  wrote {folder}")
    if result.status == "failed":
        errors.print(f"error: {result.label}: {result.error}")
    return result


def _spec_dir(file: str) -> Path:
    """The folder every path in a spec is relative to (the working directory for the demo)."""
    if not file or file.startswith("<"):
        return Path.cwd()
    return Path(file).resolve().parent
