"""The tasks of a spec as futures on a Dask cluster (``lbdsl solve --workers N`` /
``--scheduler ADDRESS``, ``spec.solve(client=...)``): :class:`DaskExecutor`, the executor
:func:`lbdsl.pipeline.solve` is handed (:mod:`lbdsl.tasks.executor`).  It knows no task kind:
a kind says which of its tasks split into parts (``splits``), and hands the parts to
:meth:`DaskExecutor.map` as picklable functions.

Each task is one future: a worker builds the spec again from the text this process read
(:class:`~lbdsl.tasks.executor.SpecRef`: never from the file again, it may have changed since),
runs the task exactly as the serial loop does (:func:`lbdsl.tasks.run.run_task`) into the
folder the serial run would use, and sends back its :class:`~lbdsl.tasks.result.TaskResult`.  So the folders and the numbers are those of
a serial run, bit for bit: a task is deterministic given its spec, seed and folder.  A worker
that dies mid-task is replaced by the nanny and the task re-runs from the start
(``retries``); its files are written atomically and its folder lock is released with the dead
process, so nothing is left half-written or twice.  The workers must see the spec's data files
and the output folder at the same absolute paths (a ``LocalCluster``, or a shared file
system): a worker resolves the spec's relative names from this process's working directory
(:func:`lbdsl.paths.working_directory`; it may have been started elsewhere), so its reports
and messages name the spec as a serial run does, and it writes into the folder made absolute.

A task that splits (an ``invert`` task with ``chunk = K``, or a sweep whose solver has
``warm_start = false``) is run by this process instead, and each of its parts is a future
(:mod:`lbdsl.tasks.invert.parts`: the worker prepares the task once per process and run, and
solves its part exactly as the serial loop does); this process merges the parts and writes the
folder.  Again the serial run's arrays, bit for bit.

Ctrl-C (or SIGTERM, SIGHUP) on the submitting side sets the run's stop ``Event`` on the
scheduler; each task's solver asks it at its checks (at most every half second:
:func:`lbdsl.tasks.progress.remote_stop`), so the running tasks stop as in a serial run — last
iterate or last complete epoch written, resumable with ``--resume`` — and a task that starts
after it returns without running.  A second Ctrl-C cancels what is left.

Progress: what a solve on a worker prints (plain lines, as to a log file: no progress bar)
comes to this process as it is printed, as Dask events (:data:`TOPIC`, each naming its run),
each line prefixed with what it belongs to (``[invert net (line L)] pdhg: iteration 40/400 ...``, or
``[group k of n] ...``), and a line as each future finishes (``[k/n] invert net (line L):
done``) — always after that future's lines (:class:`_Lines` says why).

A ``train`` task with ``shards = K`` runs here too, its K shards of samples and lifted states on
the workers (:meth:`DaskExecutor.shard_pool`, :mod:`lbdsl.distributed_shards`); its epochs,
checkpoints and Ctrl-C are those of a serial run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from .errors import LbdslError
from .paths import cwd, working_directory
from .scheduler import connect
from .tasks.executor import SpecRef
from .threads import pinned

__all__ = ["DaskExecutor", "cluster", "RETRIES"]

#: How many times a task whose worker died is started again.
RETRIES = 2



def _stop_event(run: str, client: Any = None) -> Any:
    """The Dask ``Event`` a Ctrl-C on the submitting machine sets for run ``run``."""
    from dask.distributed import Event

    return Event(f"lbdsl-stop-{run}", client=client)


@contextlib.contextmanager
def _stoppable(run: str) -> Iterator[None]:
    """On a worker: the solvers of this thread stop at their next check once the run's stop
    event is set (as after a Ctrl-C in a serial run: the last iterate written, resumable)."""
    from .tasks.progress import remote_stop

    if not run:
        yield
        return
    event = _stop_event(run)
    with remote_stop(event.is_set):
        yield


def _stopped_before(run: str) -> bool:
    """Whether the run was stopped before this task started (it is then not run)."""
    return bool(run) and _stop_event(run).is_set()


#: The Dask event topic that carries the solvers' lines from the workers to the callers: one
#: for every run (each event names its run), so that a long-lived scheduler keeps one bounded
#: log of them and a client one handler, however many runs it served.
TOPIC = "lbdsl-lines"


class _Forward:
    """A write-only text file that hands each complete line written to it to ``send`` (the
    worker's console writes here); a partial line waits for the rest.  A ``send`` that fails
    is ignored: a lost scheduler must not end a solve (as the stop poll in
    :mod:`lbdsl.tasks.progress` does)."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send = send
        self.pending = ""

    def write(self, text: str) -> int:
        """Buffer ``text``; send each line it completes (blank lines are not sent)."""
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip():
                try:
                    self.send(line.rstrip())
                except Exception:  # noqa: BLE001 - see the class's docstring
                    pass
        return len(text)

    def flush(self) -> None:
        """Nothing to do: a line is sent when it is complete, and rich ends each print with
        one."""

    def isatty(self) -> bool:
        """False: what is written here is read later, elsewhere, as plain lines."""
        return False


class _Plain(Console):
    """The console of a solve on a worker: plain lines, no task heading (the caller prefixes
    each forwarded line with what it belongs to)."""

    def rule(self, *args: Any, **kwargs: Any) -> None:
        """Nothing: the task's heading would only repeat the prefix of its lines."""


def _worker_console(run: str = "", label: str = "") -> Console:
    """A plain (never interactive: a progress bar cannot be forwarded) console for a solve
    on a worker; on a Dask worker with a ``run``, each line it prints goes to the caller as an
    event of the run's topic, with ``label`` (what it belongs to); elsewhere it discards
    them."""
    file: Any = io.StringIO()
    if run:
        try:
            from distributed import get_worker

            worker = get_worker()
        except (ImportError, ValueError):         # not on a worker: nobody to tell
            pass
        else:
            file = _Forward(lambda line: worker.log_event(TOPIC, [run, label, line]))
    # a terminal-like environment (FORCE_COLOR, a notebook) must not turn on the bar or colours
    return _Plain(file=file, markup=False, highlight=False, soft_wrap=True,
                  force_terminal=False, force_jupyter=False, force_interactive=False,
                  color_system=None)


def _task_on_worker(ref: SpecRef, folder: Any, resume: bool) -> Any:
    """Task ``ref.index`` of the spec, run on this worker (its lines forwarded to the caller);
    None when the run was stopped before it started."""
    from .backend import namespace
    from .program import loads
    from .tasks.run import context, label, run_task

    if _stopped_before(ref.run):
        return None
    with working_directory(ref.cwd):
        program = loads(ref.source, ref.overrides, file=ref.file)
        task = program.tasks[ref.index]
        # its errors come back in its result, which the caller prints: not forwarded, not twice
        ctx = context(program, namespace(ref.backend), ref.backend, ref.overrides,
                      _worker_console(ref.run, label(task)), _worker_console(), resume,
                      run=ref.run)
        ctx.threads = ref.threads
        with _stoppable(ref.run), pinned(ref.threads):
            return run_task(ctx, task, folder)


def _part_on_worker(part: Callable[..., Any], args: tuple[Any, ...], run: str, label: str,
                    where: str, threads: int | None = None) -> Any:
    """One part of a task, run on this worker from the caller's working directory ``where``
    with the run's ``threads`` BLAS threads (its lines forwarded to the caller, prefixed with
    ``label``); None when the run was stopped before it started."""
    import numpy as np

    if _stopped_before(run):
        return None
    console = _worker_console(run, label)
    with working_directory(where), _stoppable(run), pinned(threads), \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return part(*args, console=console)


class _Stop:
    """A run's Ctrl-C on the submitting side: the first one sets the run's stop event — the
    running tasks stop at their next check and send back their last iterate, those not
    started yet return at once without running (None) —; a second one cancels everything."""

    def __init__(self, client: Any, run: str, console: Any) -> None:
        self.client, self.run, self.console = client, run, console
        self.requested = False
        self.abandoned = False

    def request(self) -> None:
        """The first Ctrl-C: set the stop event, say what happens now."""
        self.requested = True
        _stop_event(self.run, self.client).set()
        self.console.print("  stopping: the running tasks stop at their next check and write "
                           "their last iterate, the others are not run (Ctrl-C again abandons "
                           "them)", highlight=False)

    def gather(self, futures: list[Any], names: dict[str, str] | None = None) -> list[Any]:
        """The results of ``futures`` (None for a task a stop kept from starting), a line as
        each one finishes (its name from ``names``, by key)."""
        try:
            return self._wait(futures, names or {})
        except KeyboardInterrupt:
            if self.requested:
                self._abandon(futures)
        except Exception:
            self.client.cancel(futures)       # one failed: its siblings are not needed
            raise
        self.request()
        try:
            return self.client.gather(futures)
        except KeyboardInterrupt:
            self._abandon(futures)

    def _wait(self, futures: list[Any], names: dict[str, str]) -> list[Any]:
        from dask.distributed import as_completed

        for k, future in enumerate(as_completed(futures), start=1):
            what = names.get(future.key, future.key)
            self.console.print(f"  [{k}/{len(futures)}] {what}: "
                               f"{'done' if future.status == 'finished' else future.status}",
                               highlight=False)
        return self.client.gather(futures)

    def _abandon(self, futures: list[Any]) -> NoReturn:
        self.abandoned = True
        _quiet_cancelled_gathers(self.client)
        self.client.cancel(futures)
        raise KeyboardInterrupt


def _quiet_cancelled_gathers(client: Any) -> None:
    """Drop what the client's event loop would print of the gather a second Ctrl-C left
    waiting: once its futures are cancelled, each of its inner waits ends in Dask's
    ``AllExit`` that nobody retrieves, and asyncio prints each with a traceback ("Task
    exception was never retrieved") — noise after a stop the user asked for.  The handler
    stays with the client's loop: an unretrieved ``AllExit`` is never more than that."""
    from distributed.client import AllExit

    loop = client.loop.asyncio_loop
    previous = loop.get_exception_handler()

    def handler(loop: Any, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), AllExit):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class _Lines:
    """The caller's side of the lines the workers' solves print (:func:`_worker_console`): while
    active, each one is printed here as it comes, ``  [what] line``.

    Each comes as an event of :data:`TOPIC` (naming its run: another run's are not printed)
    through the scheduler, on the client's event loop
    thread, before the result of the task that printed it: a worker sends its events and its
    task's results down one ordered stream, the scheduler passes both on down the client's one
    stream, and the client handles that stream's messages in order, calling this handler before
    it marks the future finished.  So a task's lines are all here (and printed) before its
    ``done`` line, and nothing needs waiting for at the end."""

    def __init__(self, client: Any, run: str, console: Any) -> None:
        self.client, self.run, self.console = client, run, console
        self.active = False

    def __enter__(self) -> "_Lines":
        # before the first submit: the subscription goes down the same stream, so it is in
        # place on the scheduler before any task can print
        self.client.subscribe_topic(TOPIC, self)
        self.active = True
        return self

    def __call__(self, event: tuple[float, Any]) -> None:
        """Print one forwarded line, ``(time, [run, what, line])``, if it is of this run."""
        _, (run, what, line) = event
        if not self.active or run != self.run:   # one in flight as the run ended, or another's
            return
        self.console.print(f"  [{what}] {line.strip()}", markup=False, highlight=False,
                           soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        self.active = False
        with contextlib.suppress(Exception):   # a closed client: nothing left to unsubscribe
            self.client.unsubscribe_topic(TOPIC)


class DaskExecutor:
    """The tasks of a run as futures on ``client``'s cluster (module docstring); ``options``
    the command-line options that reach it again (``--workers 2``), for the go-on line."""

    distributes = True

    def __init__(self, client: Any, options: tuple[str, ...] | list[str] = ()) -> None:
        self.client = client
        self.options: tuple[str, ...] | None = tuple(options)
        self.stop: _Stop | None = None
        self.threads: int | None = None     # the run's BLAS threads, set by run_tasks

    def map(self, part: Callable[..., Any], calls: list[tuple[Any, ...]],
            names: list[str]) -> list[Any]:
        """``part(*args, console=…)`` for each of ``calls`` as futures, gathered (None for a
        part a stop kept from starting); a line as each finishes, named by ``names``."""
        stop = self.stop
        assert stop is not None, "map is for the parts of a task of run_tasks"
        where = str(cwd().absolute())
        batch = uuid.uuid4().hex           # the parts of one call (a run may make several)
        futures = [self.client.submit(_part_on_worker, part, args, stop.run, name, where,
                                      self.threads, key=f"lbdsl-{part.__name__}-{batch}-{k}",
                                      retries=RETRIES, pure=False)
                   for k, (args, name) in enumerate(zip(calls, names))]
        return stop.gather(futures, {f.key: name for f, name in zip(futures, names)})

    def shard_pool(self, shards: int, backend: str) -> Callable[[Any], Any]:
        """Data-parallel training's pool: ``shards`` shards of samples and states kept on the
        workers (:class:`lbdsl.distributed_shards.DaskPool`)."""
        from .distributed_shards import DaskPool

        return DaskPool.factory(self.client, shards, backend)

    def run_tasks(self, ctx: Any, folders: dict[int, Any],
                  run_task: Callable[[Any, Any, Any], Any]) -> list[Any]:
        """Every task of ``ctx`` as a future — a task that splits here, its parts as futures —;
        the results in spec order (after a Ctrl-C: of the tasks that ran, as in a serial run).
        The lines the workers print are printed here as they come, each prefixed with what it
        belongs to."""
        from .tasks.run import label

        self.threads = ctx.threads
        with _Lines(self.client, ctx.run, ctx.console):
            results = self._submit_and_gather(ctx, folders, run_task)
        for result in results:
            where = f" -> {result.path}" if result.path else ""
            (ctx.errors if result.error else ctx.console).print(
                f"  {result.label}: {result.status}{where}"
                + (f": {result.error}" if result.error else ""), highlight=False)
        return results

    def _submit_and_gather(self, ctx: Any, folders: dict[int, Any],
                           run_task: Callable[[Any, Any, Any], Any]) -> list[Any]:
        """The body of :meth:`run_tasks`: the tasks' results, in spec order."""
        from .tasks import runner
        from .tasks.run import label

        client, tasks = self.client, ctx.tasks
        stop = self.stop = _Stop(client, ctx.run, ctx.console)
        here = [i for i, t in enumerate(tasks) if getattr(runner(t.kind), "splits",
                                                            lambda t: False)(t)]
        ref = ctx.spec_ref()
        futures = {index: client.submit(_task_on_worker, dataclasses.replace(ref, index=index),
                                        _absolute(folders.get(index)), ctx.resume,
                                        key=f"lbdsl-task-{index}-{ctx.run}", retries=RETRIES,
                                        pure=False)
                   for index in range(len(tasks)) if index not in here}
        ctx.console.print(f"  {len(tasks)} task(s) on "
                          f"{len(client.scheduler_info()['workers'])} Dask worker(s)",
                          highlight=False)
        local: dict[int, Any] = {}
        for index in here:
            if stop.requested:
                break
            try:
                local[index] = run_task(ctx, tasks[index], folders.get(index))
            except KeyboardInterrupt:
                if stop.abandoned:
                    client.cancel(list(futures.values()))
                    raise
                if not stop.requested:          # a Ctrl-C while this process prepared it
                    stop.request()
                # stopped before any of its parts ran: not started (below)
        names = {f.key: label(tasks[i]) for i, f in futures.items()}
        gathered = {i: _in_callers_folder(r, folders.get(i))
                    for i, r in zip(futures, stop.gather(list(futures.values()), names))}
        results = [local.get(i, gathered.get(i)) for i in range(len(tasks))]
        if stop.requested:  # the run was stopped: a task it kept from starting says so (exit 130)
            results = [_not_started(tasks[i]) if r is None else r for i, r in enumerate(results)]
        return [r for r in results if r is not None]


def _absolute(folder: Any) -> Any:
    """A task's folder as the worker writes it: absolute, from this process's working
    directory (writing, a worker takes a relative path from its own); None or a
    ``SpecError`` (the task reports it) as they are."""
    return cwd() / folder if isinstance(folder, Path) else folder


def _in_callers_folder(result: Any, folder: Any) -> Any:
    """A worker's result with its folder named as this process names it (the worker was
    given it absolute): the summary and the go-on line say what a serial run says."""
    if result is None or result.path is None or not isinstance(folder, Path):
        return result
    return dataclasses.replace(result, path=folder)


def _not_started(task: Any) -> Any:
    """The result of a task a stop kept from starting: ``interrupted``, nothing written."""
    from .tasks.result import TaskResult

    return TaskResult(task.kind, task.network, task.span.line if task.span else None,
                      "interrupted", report={"stop_reason": "not started"})


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask ``Client``: of a new ``LocalCluster`` of ``workers`` processes (one thread each),
    or of the scheduler at ``scheduler`` (given up after
    :data:`lbdsl.scheduler.SCHEDULER_TIMEOUT` seconds: :func:`lbdsl.scheduler.connect`); ``LbdslError`` in one line without Dask, or when the scheduler cannot be
    reached."""
    try:
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise LbdslError("--workers / --scheduler need Dask: pip install 'lbdsl[dask]'") \
            from None
    if scheduler is not None:
        with connect(scheduler) as client:
            yield client
        return
    if workers is None or workers < 1:
        raise LbdslError(f"--workers must be an integer >= 1, got {workers!r}")
    # no dashboard, and the scheduler's web server on a free local port (its default, 8787,
    # may be taken by another cluster: a warning on every run)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0",
                      scheduler_kwargs={"dashboard": False}) as local, \
            Client(local) as client:
        yield client

