"""The shards of data-parallel lifted training (:mod:`lbdsl.training.shards`) on the workers of
a Dask cluster: ``train(..., shards=DaskPool.factory(client, K))``, or a ``train`` task with
``shards = K`` under ``lbdsl solve --workers N`` / ``--scheduler ADDRESS``.

Each shard is an object in its worker's memory (``_HELD``, by run and index), built once from
the network (its IR: a few kB), the penalties and its rows, states included; every call after
that is a small task pinned to that worker (``workers=[address]``, no other worker allowed), its
broadcast arguments (Θ, once per call) scattered to the shards' workers only.  So a shard's
rows and states stay where they are.  A round's parts are reduced by a tree of tasks on the
workers (:meth:`DaskPool.reduce`), not here: this process receives one ``∇_Θ`` per round.
A worker that dies takes its shards with it: the pool sees its address leave the scheduler
(or a call fail), raises
:class:`~lbdsl.training.shards.ShardsLost`, and the epoch runs again from its start with
those shards rebuilt on the workers that are left (the nanny's replacement included) — nothing
lost, nothing counted twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .training.shards import Part, Shard, ShardsLost, combine, finish, reduce_tree

__all__ = ["DaskPool", "TrainerRecipe"]

#: the shards this worker process holds, by ``run/index``
_HELD: dict[str, Shard] = {}

#: how often (seconds) a pending call checks that its workers are still there
_POLL = 0.5


@dataclass(frozen=True)
class TrainerRecipe:
    """What a worker needs to build the run's :class:`~lbdsl.training.lifted.LiftedTrainer`:
    the network's IR, the penalties by variable, the backend and dtype names."""

    net: Any
    penalties: dict[str, Any]
    backend: str
    dtype: str

    def build(self) -> Any:
        from .backend import float_dtype, namespace
        from .lift.network import lifted_network
        from .training.api import lifted_trainer

        xp = namespace(self.backend)
        dtype = float_dtype(xp, self.dtype)
        return lifted_trainer(lifted_network(self.net, xp, dtype, params={}), self.penalties,
                              xp, dtype)


def _open(key: str, recipe: TrainerRecipe, payload: tuple[Any, Any, Any, Any]) -> int:
    ids, x, y, states = payload
    _HELD[key] = Shard(recipe.build(), ids, x, y, states)
    return int(np.asarray(ids).size)


class ShardNotHeld(LookupError):
    """A call reached a worker that does not hold its shard (a replacement of a dead one) —
    its own class, so that a ``KeyError`` inside a shard's work is not taken for a loss."""


def _call(key: str, name: str, args: tuple[Any, ...], extra: tuple[Any, ...]) -> Any:
    from .backend import to_numpy

    shard = _HELD.get(key)
    if shard is None:            # this worker never held it: a replacement
        raise ShardNotHeld(f"shard {key} is not on this worker")
    out = getattr(shard, name)(*args, *extra)
    return _host(out, to_numpy)


def _host(value: Any, to_numpy: Callable[[Any], Any]) -> Any:
    """``value`` with its arrays as NumPy (a CuPy worker's results travel as host arrays)."""
    if isinstance(value, dict):
        return {k: _host(v, to_numpy) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v, to_numpy) for v in value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return to_numpy(value)
    return value


def _close(prefix: str) -> int:
    gone = [k for k in _HELD if k.startswith(prefix)]
    for k in gone:
        del _HELD[k]
    return len(gone)


class DaskPool:
    """The shards on the workers of ``client`` (round robin over the workers at the start)."""

    def __init__(self, client: Any, shards: int, recipe: TrainerRecipe) -> None:
        self.client, self.shards, self.recipe = client, shards, recipe
        self.run = uuid.uuid4().hex
        self.where: list[str | None] = [None] * shards
        #: bytes this process sent to the shards and received back, by what (measured from
        #: the NumPy payloads; what the workers move among themselves is not in it)
        self.sent: dict[str, int] = {}
        #: the shards each ``open`` built (the first: all; later ones: rebuilt after a loss)
        self.opened: list[list[int]] = []

    @classmethod
    def factory(cls, client: Any, shards: int, backend: str = "numpy",
                ) -> Callable[[Any], "DaskPool"]:
        """``train(..., shards=DaskPool.factory(client, K))`` (the workers on ``backend``)."""
        def make(trainer: Any) -> DaskPool:
            return cls(client, shards, recipe_of(trainer, backend))
        return make

    def _workers(self) -> list[str]:
        return sorted(self.client.scheduler_info()["workers"])

    def open(self, ids: list[np.ndarray], x: Any, y: Any, states: list[dict[str, Any]],
             only: Sequence[int] | None = None) -> None:
        from .backend import to_numpy

        which = list(range(self.shards)) if only is None else list(only)
        self.opened.append(which)
        workers = self._workers()
        if not workers:           # all of them died: wait for the nannies' replacements
            try:
                self.client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise ShardsLost(which, "the cluster has no worker") from None
            workers = self._workers()
        futures = []
        for j, p in enumerate(which):
            addr = workers[(p if only is None else j) % len(workers)]
            self.where[p] = addr
            payload = (np.asarray(ids[p]), to_numpy(x[p]), to_numpy(y[p]),
                       {k: to_numpy(v) for k, v in states[p].items()})
            self._count("open", payload)
            sent = self.client.scatter([payload], workers=[addr], hash=False)[0]  # not in graph
            futures.append(self.client.submit(_open, self._key(p), self.recipe, sent,
                                              workers=[addr], allow_other_workers=False,
                                              pure=False, key=_task_key("open", p)))
        self._wait(futures, futures, which)

    def map(self, name: str, *args: Any, each: Sequence[Any] | None = None) -> list[Any]:
        futures = self._submit(name, args, each)
        out = self._wait(futures, futures)
        self._count(f"{name} (back)", out)
        return out

    def reduce(self, name: str, *args: Any) -> Part | None:
        """``name`` on every shard, the parts reduced by a tree of tasks on the workers
        (:func:`~lbdsl.training.shards.reduce_tree`; each node placed by Dask where its inputs
        are) and finished there: one reduced part comes back, whatever the number of shards."""
        futures = self._submit(name, args, None)

        def task(node: Callable[..., Any]) -> Callable[..., Any]:
            return lambda *parts: self.client.submit(node, *parts, pure=False,
                                                     key=_task_key(node.__name__))

        # the root finishes too (one hop less); a single shard's part is finished alone
        final = (reduce_tree(futures, task(combine), root=task(_combined_and_finished))
                 if len(futures) > 1 else task(finish)(futures[0]))
        out = self._wait(futures, [final])[0]
        self._count(f"{name} (back)", out)
        return out

    def _submit(self, name: str, args: tuple[Any, ...], each: Sequence[Any] | None,
                ) -> list[Any]:
        """``name`` called on every shard as a task pinned to its worker (``args`` scattered once
        to those workers when large, ``each[p]`` to shard ``p`` alone)."""
        from .backend import to_numpy

        args = _host(args, to_numpy)
        self._check(range(self.shards))
        if _big(args):       # one copy from here; Dask replicates it among the workers (a tree)
            self._count(name, args)
            try:
                shared = self.client.scatter(args, workers=sorted(set(self.where)),
                                             broadcast=True, hash=False)
            except (KeyError, OSError, TimeoutError):  # a worker left during the scatter?
                self._check(range(self.shards))
                raise
        else:                # small: inside each shard's task
            self._count(name, args, len(self.where))
            shared = args
        futures = []
        for p, addr in enumerate(self.where):
            extra = () if each is None else (_host(each[p], to_numpy),)
            if extra:
                self._count(name, extra)
            futures.append(self.client.submit(_call, self._key(p), name, shared, extra,
                                              workers=[addr], allow_other_workers=False,
                                              pure=False, key=_task_key(name, p)))
        return futures

    def _wait(self, calls: list[Any], results: list[Any],
              which: Sequence[int] | None = None) -> list[Any]:
        """The values of ``results`` (the shards' ``calls`` or tasks that depend on them), or
        :class:`ShardsLost` once a shard's worker is gone — also after its call finished, since
        its part dies with it before a tree has read it."""
        from dask.distributed import wait
        from distributed import KilledWorker

        which = list(range(len(calls)) if which is None else which)
        try:
            while True:
                try:
                    wait(results, timeout=_POLL)
                    break
                except TimeoutError:       # still running: are their workers still there?
                    self._check(which)
                except CancelledError:     # an input lost with its worker (Θ's only copy, say)
                    self._check(which)
                    raise
            lost = [p for p, f in zip(which, calls) if f.status == "error"
                    and isinstance(f.exception(), (ShardNotHeld, KilledWorker))]
            if lost:
                raise ShardsLost(lost, "their worker died")
            # an input lost with its worker errs or cancels its tasks
            if any(f.status in ("error", "cancelled") for f in results):
                self._check(which)
            return self.client.gather(results)
        finally:
            self.client.cancel([f for f in [*calls, *results] if not f.done()])

    def _check(self, which: Iterable[int]) -> None:
        """:class:`ShardsLost` if the worker of a shard in ``which`` has left the cluster."""
        live = set(self._workers())
        lost = [p for p in which if self.where[p] not in live]
        if lost:
            raise ShardsLost(lost, "their worker left the cluster")

    def close(self) -> None:
        """Drop this run's shards on every worker (quietly when the cluster is gone)."""
        try:
            self.client.run(_close, f"{self.run}/")
        except Exception:                      # noqa: BLE001 - closing must not mask an error
            pass

    def _key(self, p: int) -> str:
        return f"{self.run}/{p}"

    def _count(self, what: str, value: Any, copies: int = 1) -> None:
        self.sent[what] = self.sent.get(what, 0) + copies * _nbytes(value)


def _combined_and_finished(a: Part | None, b: Part | None) -> Part | None:
    """The root of the tree: ``finish(combine(a, b))`` in one task."""
    return finish(combine(a, b))


def recipe_of(trainer: Any, backend: str = "numpy") -> TrainerRecipe:
    """The recipe of a driver-side trainer (its network's IR, penalties, dtype) on ``backend``."""
    pens = {trainer.roles.keys[l]: pen for l, pen in trainer.penalties.items()}
    dtype = "float32" if "float32" in str(trainer.dtype) else "float64"
    return TrainerRecipe(trainer.net.network, pens, backend, dtype)


def _task_key(name: str, p: int | None = None) -> str:
    return f"lbdsl-shard-{name}-{'' if p is None else f'{p}-'}{uuid.uuid4().hex}"


def _big(args: Any) -> bool:
    return _nbytes(args) > 64 * 1024


def _nbytes(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 8))
