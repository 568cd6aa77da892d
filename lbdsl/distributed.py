"""The tasks of a spec as futures on a Dask cluster (``lbdsl solve --workers N`` /
``--scheduler ADDRESS``, ``spec.solve(client=...)``).

Each task is one future: a worker loads the spec again (from its file, or from the text of a
spec given as a string), runs the task exactly as the serial loop does
(:func:`lbdsl.pipeline.run_task`) into the folder the serial run would use, and sends back its
:class:`~lbdsl.tasks.result.TaskResult`.  So the folders and the numbers are those of a serial
run, bit for bit: a task is deterministic given its spec, seed and folder.  A worker that dies
mid-task is replaced by the nanny and the task re-runs from the start (``retries``); its files
are written atomically and its folder lock is released with the dead process, so nothing is
left half-written or twice.  The workers must see the spec's files at the same paths (a
``LocalCluster``, or a shared file system).

What does not happen here (yet): one batch of right-hand sides split across workers, data-
parallel training, progress bars from the workers (they run quietly; the summary table is
printed when all are done), Ctrl-C reaching a running worker (it cancels the futures not yet
finished).
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import LbdslError

__all__ = ["run_tasks", "cluster", "RETRIES"]

#: How many times a task whose worker died is started again.
RETRIES = 2


def _on_worker(file: str, source: str, overrides: tuple[str, ...], backend: str, index: int,
               folder: Any, resume: bool) -> Any:
    """Task ``index`` of the spec, run on this worker (quietly)."""
    from rich.console import Console

    from . import pipeline
    from .backend import namespace

    program = (pipeline.load(file, overrides) if Path(file).is_file()
               else pipeline.loads(source, overrides, file=file))
    quiet = Console(file=io.StringIO(), markup=False, highlight=False)
    ctx = pipeline.context(program, namespace(backend), backend, overrides, quiet, quiet, resume)
    return pipeline.run_task(ctx, program.tasks[index], folder)


def run_tasks(client: Any, program: Any, folders: dict[int, Any], backend: str,
              overrides: tuple[str, ...], resume: bool, console: Any, errors: Any) -> list[Any]:
    """Every task of ``program`` as a future on ``client``; the results in spec order."""
    module = program.module
    run = uuid.uuid4().hex
    futures = [client.submit(_on_worker, module.file, module.source, overrides, backend, index,
                             folders.get(index), resume, key=f"lbdsl-task-{index}-{run}",
                             retries=RETRIES, pure=False)
               for index in range(len(program.tasks))]
    console.print(f"  {len(futures)} task(s) on {len(client.scheduler_info()['workers'])} "
                  "Dask worker(s)", highlight=False)
    try:
        results = client.gather(futures)
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    for result in results:
        where = f" -> {result.path}" if result.path else ""
        (errors if result.error else console).print(
            f"  {result.label}: {result.status}{where}"
            + (f": {result.error}" if result.error else ""), highlight=False)
    return list(results)


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask ``Client``: of a new ``LocalCluster`` of ``workers`` processes (one thread each),
    or of the scheduler at ``scheduler``; ``LbdslError`` in one line without Dask."""
    try:
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise LbdslError("--workers / --scheduler need Dask: pip install 'lbdsl[dask]'") \
            from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise LbdslError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") \
                from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise LbdslError(f"--workers must be an integer >= 1, got {workers!r}")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local, Client(local) as client:
        yield client
