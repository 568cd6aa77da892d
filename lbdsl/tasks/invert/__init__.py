"""The ``invert`` task kind: recover a network's input from data (math.md §3).

:func:`run` is the task's stages, each a module here:

    certificate → truth and data (:mod:`lbdsl.tasks.data`) → lift on the backend → lower
    (:mod:`.lower`: the data onto dom Ψ, the regulariser weighed, the solver chosen) → solve
    (:mod:`.solve`: the α rule, the baseline; :mod:`.checkpoint` for ``--resume``; with
    ``chunk``, one solve per group of rows, :mod:`.chunks`) → write (:mod:`.save`,
    :mod:`.figures`)

:func:`prepare` (data, lift, projection) and :func:`solve_group` are what a worker runs for
one group of a ``chunk`` task, :func:`.solve.sweep_point` for one point of a sweep without
warm starts (:mod:`.parts`: a distributing executor's part functions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import RunContext
from ..result import TaskResult
from .prepare import Prepared, prepare, solve_group
from .threshold import MISFIT_WARNING

__all__ = ["run", "prepare", "solve_group", "Prepared", "certificate_weights", "splits",
           "CERTIFICATE_PRIORITY"]

#: A network's certificate takes its weights from its ``invert`` task when it has no ``check``.
CERTIFICATE_PRIORITY = 1


def certificate_weights(task: Any, net: Any) -> tuple[float, float | None, float]:
    """``(λ, ρ, μ)``: the task's λ, its ρ where written (else the certificate reports the set
    of ρ), and ``μ = α·w`` of its ``l2sq`` terms (α fixed)."""
    from .lower import modulus

    rho = task.rho if "rho" in task.given else None
    return float(task.lam), rho, modulus(task, net.input_shape)


def splits(task: Any) -> bool:
    """Whether the task hands independent parts to a distributing executor: the row groups of
    ``chunk = K``, or the points of a sweep without warm starts."""
    from .solve import independent_points

    return task.chunk is not None or independent_points(task) is not None


def run(ctx: RunContext, task: Any, folder: Path) -> TaskResult:
    """One ``invert`` task (with ``ctx.resume``, taking what an interrupted run did from the
    folder's checkpoint)."""
    from . import checkpoint as sc
    from . import chunks, lower, solve
    from .save import InvertRecord, write_invert

    console = ctx.console
    net = ctx.networks[task.network]
    cert = ctx.certificate(task.network, task.lam, task.rho,
                           lower.modulus(task, net.input_shape))
    console.print(cert.render())
    if task.fidelity == "l2":
        console.print("  note: the certificate is for the lifted Bregman problem; this task's "
                      "quadratic fidelity ½‖N(u) − f‖² is not covered by it (it is not convex "
                      "in general)")
    elif task.fidelity == "hybrid":
        console.print("  note: fidelity = hybrid: the certificate covers the first stage (the "
                      "Bregman problem); the refinement of ½‖N(u) − f‖² from its solution is "
                      "not convex in general")
    if task.stage_fidelity == "bregman" and not cert.certified:
        ctx.errors.print(f"WARNING: network {task.network} is NOT certified convex at "
                         f"λ = {task.lam:g}, ρ = {task.rho:g}; solving anyway (the solver may "
                         "stop at a point that is not a global minimiser)")
    flat = _flat_gradient(task, net)
    if flat:
        console.print(f"  note: {flat}", highlight=False)
    prep = prepare(ctx, task)
    observed, f_raw, f_solver, projection = (prep.observed, prep.f_raw, prep.f_solver,
                                             prep.projection)
    if projection.moved:
        console.print(f"  data: {projection.moved} of {projection.entries} entries moved "
                      f"into the domain of {projection.psi} (margin {projection.margin:g})")
    said = prep.snapping.describe() if prep.snapping is not None else None
    if said:
        console.print(f"  {said}", highlight=False)
    fingerprint = sc.fingerprint(task, net, f_raw, f_solver, observed.truth, ctx.backend)
    rows = chunks.groups(task, observed)
    if rows is not None:
        fingerprint = None      # groups keep no solver state: --resume solves them again
        if ctx.resume:
            console.print("  chunk: a chunked task keeps no checkpoint; solving it again")
        solved = _solve_groups(ctx, task, prep, rows)
    else:
        replay = _replay(folder, fingerprint, ctx) if ctx.resume else None
        points = None
        if ctx.executor.distributes:
            from . import parts

            ref = ctx.spec_ref(task)
            points = lambda alphas: ctx.executor.map(  # noqa: E731
                parts.point, [(ref, a) for a in alphas], [f"α = {a:.3g}" for a in alphas])
        solved = solve.run(task, prep.lp, f_solver, f_raw, observed, console, replay, points)
    solved.misfit_ratio = _misfit_ratio(task, prep, solved)
    if _misfit_warning(solved, observed.truth):
        ctx.errors.print(
            f"WARNING: {task.network}: the Bregman fidelity at the solution is "
            f"{solved.misfit_ratio:.3g}× the noise energy of the data (½σ²m): the solution "
            "does not fit them to their noise level — α may be too large, or the fidelity "
            "weighs their noise far above its size, where the quadratic fidelity may do much "
            "better. Choose α with `alpha = sweep(...)`, compare with `baseline = true`, or "
            "try `fidelity = hybrid`; see docs/inversion.md, \"Data that cannot be told from "
            "noise\"", highlight=False)
    record = InvertRecord(task, net, cert, observed, projection, f_solver, solved, ctx.backend,
                          ctx.file, ctx.source, ctx.overrides, fingerprint, prep.snapping)
    result = write_invert(folder, record)
    console.print(f"  wrote {folder}")
    if result.status == "failed":
        ctx.errors.print(f"error: {result.label}: {result.error}")
    elif solved.result.stop_reason == "max_iter":  # a result, but not to the accuracy asked
        console.print(f"  note: the solver stopped at max_iter = {solved.result.iterations} "
                      f"before reaching tol = {task.solver.tol:g}; `--resume --set "
                      "solver.max_iter=N` " + ("goes on from there" if solved.result.state
                                               else "solves it again with more"))
    for label, solve in (("", solved.result), ("baseline: ", solved.baseline)):
        if solve is not None and "the objective rose after" in (solve.message or ""):
            console.print(f"  note: {label}{solve.message.split('; ', 1)[-1]}",
                          highlight=False)
    return result


def _flat_gradient(task: Any, net: Any) -> str | None:
    """What to say when a 2-D image is recovered through a flat input with a gradient
    regulariser (``tv``): its differences run along the flattened vector, across the ends of
    the rows, not down the columns."""
    from ...ir.tasks.records import ImageTruth
    from .lower import regulariser_form

    dims = [d for d in net.input_shape if d != 1]
    if len(dims) != 1 or not isinstance(task.truth, ImageTruth):
        return None
    terms = regulariser_form(task).names("gradient")
    if not terms:
        return None
    name = net.variables[net.input].name
    size = "x".join(str(d) for d in task.truth.size) if task.truth.size else "HxW"
    return (f"the input `{name}` is flat ({dims[0]} entries) and the truth an image: "
            f"{', '.join(terms)} takes differences along the flattened vector (across the ends "
            f"of the rows, not down the columns); declare `input {name} : {size}` for 2-D "
            "differences")


def _misfit_warning(solved: Any, truth: Any) -> bool:
    """Whether to warn that the Bregman solve does not explain the data within their noise:
    :data:`~.threshold.MISFIT_WARNING` exceeded, unless a quadratic baseline on the same data
    was measured against the truth and did no better (the warning's own remedy)."""
    if solved.misfit_ratio is None or not solved.misfit_ratio > MISFIT_WARNING:
        return False
    if truth is not None and solved.baseline is not None:
        import numpy as np

        from ...backend import to_numpy

        def error(result: Any) -> float:
            return float(np.linalg.norm(np.ravel(to_numpy(result.u)) - np.ravel(truth)))
        return error(solved.result) > error(solved.baseline)
    return True


def _misfit_ratio(task: Any, prep: Prepared, solved: Any) -> float | None:
    """:func:`.threshold.misfit_ratio` of the Bregman solve (the first stage of a hybrid;
    None for ``fidelity = l2``, a batch, or an unknown noise level)."""
    from . import lower
    from .threshold import misfit_ratio, noise_level
    from ...solvers.alpha import penalty_of

    result = solved.start if solved.start is not None else solved.result
    if task.stage_fidelity != "bregman" or prep.observed.batch or result is None:
        return None
    sigma = prep.snapping.sigma if prep.snapping is not None else None
    if sigma is None:
        known = noise_level(task, prep.observed)
        sigma = known[0] if known is not None else None
    problem = lower.lower(task, prep.lp, prep.f_solver, solved.alpha)
    fidelity = float(result.objective) - penalty_of(problem)(result)
    return misfit_ratio(fidelity, sigma, int(prep.f_solver.size))


def _solve_groups(ctx: RunContext, task: Any, prep: Prepared, rows: list[slice]) -> Any:
    """Every group of rows solved — by a distributing executor, or here one after the other —
    and merged; a Ctrl-C leaves the groups it kept from starting as NaN rows
    (``interrupted``)."""
    from . import chunks, parts

    n = prep.observed.batch[0]
    if ctx.executor.distributes:
        ctx.console.print(f"  chunk: {n} rows in {len(rows)} groups of up to {task.chunk}, on "
                          "the workers", highlight=False)
        ref = ctx.spec_ref(task)
        solved = list(ctx.executor.map(parts.group, [(ref, k) for k in range(len(rows))],
                                       [f"group {k + 1} of {len(rows)}"
                                        for k in range(len(rows))]))
    else:
        solved = []
        for k, group in enumerate(rows):
            ctx.console.print(f"  chunk {k + 1}/{len(rows)}: rows {group.start}–"
                              f"{group.stop - 1} of {n}", highlight=False)
            solved.append(solve_group(task, prep, group, ctx.console))
            if solved[-1].stop_requested:
                break
        solved += [None] * (len(rows) - len(solved))
    done = next((s for s in solved if s is not None), None)
    if done is None:                  # stopped before any group started
        raise KeyboardInterrupt
    solved = [s if s is not None else chunks.unsolved(done, group)
              for s, group in zip(solved, rows)]
    return chunks.merge(solved, rows)


def _replay(folder: Path, fingerprint: dict[str, Any], ctx: RunContext) -> Any:
    """What an earlier run of this task left in ``folder`` (None: nothing to resume from)."""
    from .. import checkpoint as ck
    from . import checkpoint as sc

    path = folder / sc.FILE
    if not path.exists():
        ctx.console.print(f"  no checkpoint in {folder}: solving from the start")
        return None
    stored, found = sc.read(path, ctx.xp)
    what = ck.changed(found, fingerprint, sc.WHAT)
    if what and stored.complete:
        # a finished task edited since (while --resume is meant for another task of the spec)
        ctx.console.print(f"  {path}: since it was written, {what} changed; the task had "
                          "finished, so it is solved again")
        return None
    ck.check_compatible(found, fingerprint, path, sc.WHAT)  # an interrupted run: user decides
    state = ("complete" if stored.complete else
             "stopped before it finished" + (f", at iteration {stored.stopped_at.iterations}"
                                             if stored.stopped_at is not None else ""))
    ctx.console.print(f"  {path}: {len(stored.solves)} solve(s)"
                      + (" and the baseline" if stored.baseline is not None else "")
                      + f", {state}; each solve below says what it takes from it")
    return stored
