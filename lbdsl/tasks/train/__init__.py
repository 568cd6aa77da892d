"""The ``train`` task kind: fit a network's parameters to input/target pairs (math.md §5).

:func:`run` is the task's stages, each a module here:

    certificate (of the network as written, for inverting it) → training and validation pairs
    (:mod:`.pairs`) → train (:mod:`.fit`: a checkpoint per epoch, :mod:`.checkpoint`, and
    ``--resume``) → write (:mod:`.save`, :mod:`.figures`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import SolveError
from ..context import RunContext
from ..result import TaskResult

__all__ = ["run", "splits", "certificate_note"]


def splits(task: Any) -> bool:
    """Whether the task runs here with its shards on a distributing executor's workers."""
    return task.shards is not None


def certificate_note(network: str, cert: Any) -> str | None:
    """The line a ``train`` task prints about its network's certificate, or None.

    The certificate is about *inverting* the network as written (``min_u B_Ψ(f, N(u)) + αJ(u)``
    convex), not about training it: report.json keeps it either way, and the console says it
    only when it holds (a note that the network, before training, is safe to invert), never
    "not certified", which a training run would read as its own failure."""
    if not cert.certified:
        return None
    at = f"λ = {cert.lam:g}" + (f", ρ = {cert.rho:g}" if cert.rho is not None else "")
    return (f"  note: inverting {network} as written (before training) is certified convex "
            f"({cert.kind}) at {at}")


def run(ctx: RunContext, task: Any, folder: Path) -> TaskResult:
    """One ``train`` task; the certificate is computed once per network and run, however many
    tasks train that network."""
    from . import checkpoint as ck
    from . import fit
    from .pairs import make_pairs
    from .save import TrainRecord, prepare_folder, write_train
    from ..checkpoint import check_compatible

    console = ctx.console
    net = ctx.networks[task.network]
    cert = ctx.certificate(task.network, *ctx.certificate_weights(task.network))
    note = certificate_note(task.network, cert)
    if note is not None:
        console.print(note)
    data = make_pairs(task.data, net, ctx.spec_dir, task.seed)
    validation = (make_pairs(task.validation, net, ctx.spec_dir, task.seed)
                  if task.validation is not None else None)
    fingerprint = ck.fingerprint(task, net, data, validation)
    prepare_folder(folder, ctx.resume)
    path = folder / ck.FILE
    start, times = None, None
    if ctx.resume and path.exists():
        state, found, time_s, times = ck.read_with_times(path)
        check_compatible(found, fingerprint, path, ck.WHAT)
        if state.epoch > task.optimizer.epochs:
            raise SolveError(f"cannot resume from {path}: it is at epoch {state.epoch}, beyond "
                             f"the {task.optimizer.epochs} epochs asked for")
        start = (state, time_s)
        console.print(f"  resuming from epoch {state.epoch} ({path})")
    elif ctx.resume:
        console.print(f"  no checkpoint in {folder}: starting from epoch 0")
    console.print(f"  training: {fit.method_label(task)}, {data.n} samples"
                  + (f", validation {validation.n}" if validation is not None else ""))
    pool = (ctx.executor.shard_pool(task.shards, ctx.backend) if task.shards is not None
            else None)
    if pool is not None:
        console.print(f"  data-parallel: {task.shards} shards on the Dask workers")
        if getattr(task.optimizer, "precondition", False):
            console.print("  note: precondition = true applies to serial lifted training; "
                          "the shards take the plain Θ-step", highlight=False)
    elif task.shards is not None:   # a serial run: the same steps, all samples here
        console.print(f"  note: shards = {task.shards} splits the samples over Dask workers; "
                      "without --workers / --scheduler (client= in Python) it has no effect")
    trained = fit.run(task, net, data, validation, ctx.xp, console, path, fingerprint, start,
                      shards=pool, times_before=times)
    record = TrainRecord(task, net, cert, data, validation, trained, ctx.backend, ctx.file,
                         ctx.source, ctx.overrides)
    result = write_train(folder, record)
    console.print(f"  wrote {folder}")
    if result.status == "failed":
        ctx.errors.print(f"error: {result.label}: {result.error}")
    return result
