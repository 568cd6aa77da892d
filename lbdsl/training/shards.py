"""Data-parallel lifted training: the samples split into shards, each shard keeping its rows
*and their lifted states* where it lives (a worker of a Dask cluster, or this process), the
parameters stepped here from a reduction of per-shard sums.

Why it decomposes (``S`` a batch, ``S_p`` its rows held by shard ``p``):

* the state sweep is row by row given Θ and the operator norms ``‖A_k‖²`` (which depend on Θ
  only): each shard sweeps its rows of the batch;
* ``∇_Θ E_S = (1/|S|) Σ_n (σ(pre_n) − z_n) u_nᵀ`` is a sum over rows: each shard sends its part
  (the parameters' size), scaled by the whole batch's ``1/|S|``;
* the Θ-step's Lipschitz constant ``λ_max(G)``, ``G = Σ_{n∈S} u_n u_nᵀ = Σ_p U_pᵀU_p``, does not
  split into per-shard eigenvalues, but ``G`` does: each shard sends the triangular factor
  ``R_p`` of ``U_p = Q_p R_p`` (:func:`~lbdsl.ops.norm.gram_factor`, ``min(|S_p|, d) × d``;
  ``Σ_p R_pᵀR_p = G``), and ``λ_max`` of the stacked factors is the serial constant (up to
  rounding).  Later inner sweeps of the batch use the serial bound ``(‖P(u_ref)‖₂ +
  ‖P(u − u_ref)‖_F)²``, whose ``‖·‖_F²`` is again a sum of per-shard scalars.

The shards' parts are reduced pairwise (:func:`reduce_tree` with :func:`combine`: ``∇`` parts
and traces added, two Gram factors stacked — and factored again once taller than wide, so
that a factor stays at most ``d × d``) and the root turned into numbers (:func:`finish`:
``λ_max`` of each factor): on Dask the tree runs on the workers, and this process receives one
``∇_Θ`` and a few numbers per round, however many shards there are.

So the run takes the serial run's steps, with the same batches (the one generator here draws
every epoch's order), up to the order of floating-point sums: within 1e-10 of it in float64
(tested).  What travels per batch and inner sweep: Θ to every shard (once from here, copied
among the workers when large); ``∇_Θ`` parts and Gram factors up the tree (``K − 1`` parts
between workers), one reduced part back; per epoch the new row order (``n`` integers) and, at
the epoch's check, the states once (for the checkpoint — a :class:`~lbdsl.training.TrainState`
holds them, so that a run resumes, serially or not, as today).  The rows and states never
travel within an epoch.

A *pool* runs a :class:`Shard` method on every shard, and reduces the results of ``round``
(:class:`LocalPool` here; the Dask one in :mod:`lbdsl.distributed_shards`); a pool that lost
shards (a dead worker) raises :class:`ShardsLost`, and the epoch is run again from its start on
the shards rebuilt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
from array_api_compat import array_namespace

from ..backend import asarray
from ..errors import SolveError
from ..ops.norm import gram_factor, gram_lambda_max
from ..solvers.base import is_finite
from .backprop import mse_objective
from .epochs import Epochs, LiftedMethod, Samples, checked_order, on_backend
from .lifted import LiftedTrainer, metrics_of

__all__ = ["Shard", "Pool", "LocalPool", "ShardsLost", "ShardedEpochs", "split", "RETRIES",
           "combine", "finish", "reduce_tree"]

Params = dict[str, Any]
#: one shard's part of a round (:meth:`Shard.round`), or several combined (:func:`combine`)
Part = dict[str, Any]
T = TypeVar("T")

#: how many times an epoch is run again after a pool lost shards
RETRIES = 2


class ShardsLost(Exception):
    """A pool's shards are gone (their worker died); ``lost`` are their indices."""

    def __init__(self, lost: Sequence[int], why: str = "") -> None:
        super().__init__(f"shards {sorted(lost)} lost" + (f": {why}" if why else ""))
        self.lost = tuple(lost)


def split(n: int, shards: int) -> list[np.ndarray]:
    """The sample indices of each shard: ``shards`` contiguous, near-equal ranges of ``0..n-1``."""
    if not 1 <= shards <= n:
        raise SolveError(f"shards = {shards}: need 1 <= shards <= the {n} training samples")
    return [np.asarray(a, dtype=np.int64) for a in np.array_split(np.arange(n), shards)]


class Shard:
    """One shard's samples ``ids`` (rows of ``x``, ``y``) and their states, in sample order, with
    the trainer's block updates on its rows of each batch."""

    def __init__(self, trainer: LiftedTrainer, ids: np.ndarray, x: Any, y: Any,
                 states: dict[str, Any]) -> None:
        self.trainer, self.xp = trainer, trainer.xp
        self.ids = np.asarray(ids, dtype=np.int64)
        self.x = asarray(self.xp, x, dtype=trainer.dtype)
        self.y = asarray(self.xp, y, dtype=trainer.dtype)
        self.set_states(states)
        self.rows = np.zeros(0, dtype=np.int64)     # each sample's row in the epoch's order
        self._batch: Any = None
        self._local: Any = None
        self._refs: dict[int, Any] = {}

    def set_states(self, states: dict[str, Any]) -> None:
        self.states = {k: asarray(self.xp, v, dtype=self.trainer.dtype) for k, v in states.items()}

    def get_states(self) -> dict[str, Any]:
        return dict(self.states)

    def order(self, order: np.ndarray) -> None:
        """The epoch's row order (``order[j]`` = the sample in row ``j``)."""
        where = np.empty(order.size, dtype=np.int64)
        where[np.asarray(order, dtype=np.int64)] = np.arange(order.size)
        self.rows = where[self.ids]

    def round(self, start: int, stop: int, first: bool, last: bool, params: Params,
              normsq: dict[str, float], lipschitz: bool) -> dict[str, Any] | None:
        """One state sweep on this shard's rows of the batch ``rows start..stop-1`` and its
        parts of ``∇_Θ`` and of the Lipschitz constants (see the module docstring); ``first``
        starts the batch, ``last`` writes its states back.  None: no row of the batch here."""
        t, xp = self.trainer, self.xp
        if first:
            mine = np.nonzero((self.rows >= start) & (self.rows < stop))[0]
            self._local = mine[np.argsort(self.rows[mine])]   # the serial run's row order
            self._refs = {}
            if self._local.size == 0:
                self._batch = None
                return None
            idx = xp.asarray(self._local)
            self._batch = t.batch(params, xp.take(self.x, idx, axis=0),
                                  xp.take(self.y, idx, axis=0),
                                  {k: xp.take(s, idx, axis=0) for k, s in self.states.items()})
        b = self._batch
        if b is None:
            return None
        if not first:
            t.substitute(params, b)
        t.set_norm_estimates(normsq)
        cache = t.sweep(params, b)
        grads, _ = t.theta_gradient(params, b, cache, lipschitz=False, scale=1.0 / (stop - start))
        out: dict[str, Any] = {"grads": grads, "gram": {}, "trace": {}, "resid": {}}
        if lipschitz:
            for layer in t.net.layers:
                u_in = b.u[layer.input_block]
                ref = self._refs.get(layer.index)
                if ref is None:
                    self._refs[layer.index] = u_in
                    out["gram"][layer.index] = gram_factor(layer.A.gram_rows(params, u_in))
                else:
                    out["trace"][layer.index] = (0.0 if ref is u_in else
                                                 layer.A.gram_trace(params, u_in - ref))
            for l in t.roles.hidden:
                if t.net.layers[l].V is not None:
                    z = b.z[l]
                    out["resid"][l] = gram_factor(xp.reshape(z, (int(z.shape[0]), -1)))
        if last:       # in place: no snapshot holds these arrays (state() gathers copies)
            new = t.states(b)
            for k, s in self.states.items():
                s[xp.asarray(self._local), ...] = new[k]
            self._batch = None
        return out

    def totals(self, params: Params) -> tuple[float, float, float]:
        """The lifted objective's sums over this shard (:meth:`LiftedTrainer.totals`)."""
        return self.trainer.totals(params, self.x, self.y, self.states)

    def finite(self) -> bool:
        return all(is_finite(s) for s in self.states.values())


class Pool(Protocol):
    """Where the shards live: ``open`` builds them, ``map`` calls a :class:`Shard` method on
    each (``each``: per-shard arguments) and returns the results in shard order."""

    shards: int

    def open(self, ids: list[np.ndarray], x: Any, y: Any, states: list[dict[str, Any]],
             only: Sequence[int] | None = None) -> None: ...

    def map(self, name: str, *args: Any, each: Sequence[Any] | None = None) -> list[Any]: ...

    def reduce(self, name: str, *args: Any) -> Part | None:
        """``finish(reduce_tree(map(name, *args), combine))``, wherever the shards are."""
        ...

    def close(self) -> None: ...


class LocalPool:
    """The shards in this process (the reference for the Dask pool, and its test)."""

    def __init__(self, shards: int, make: Callable[[], LiftedTrainer]) -> None:
        self.shards, self.make = shards, make
        self._shards: list[Shard | None] = [None] * shards

    def open(self, ids: list[np.ndarray], x: Any, y: Any, states: list[dict[str, Any]],
             only: Sequence[int] | None = None) -> None:
        for p in (range(self.shards) if only is None else only):
            self._shards[p] = Shard(self.make(), ids[p], x[p], y[p], states[p])

    def map(self, name: str, *args: Any, each: Sequence[Any] | None = None) -> list[Any]:
        return [getattr(s, name)(*args, *(() if each is None else (each[p],)))
                for p, s in enumerate(self._shards)]

    def reduce(self, name: str, *args: Any) -> Part | None:
        """``finish`` of the tree of ``combine`` over the shards' results, here."""
        return finish(reduce_tree(self.map(name, *args), combine))

    def close(self) -> None:
        self._shards = [None] * self.shards


class ShardedEpochs(Epochs):
    """:class:`~lbdsl.training.epochs.Epochs` of a :class:`LiftedMethod` whose rows and states
    live in the shards of ``pool``; the parameters, optimizer, norms, generator and row order
    here.  ``data`` keeps the inputs and targets (for the MSE and for rebuilding lost shards),
    its ``states`` empty."""

    def __init__(self, method: LiftedMethod, data: Samples, params: Params, seed: int,
                 batch: int, validate: Any, xp: Any, dtype: Any, pool: Pool) -> None:
        super().__init__(method, Samples(data.x, data.y, {}, data.order), params, seed, batch,
                         validate, xp, dtype)
        self.pool = pool
        self.ids = split(int(data.x.shape[0]), pool.shards)
        self._open(data.states, range(pool.shards))
        self._start: dict[str, Any] | None = None   # the state at the last check
        self._fresh = False                            # no step since it was taken

    def _open(self, states: dict[str, Any], which: Sequence[int]) -> None:
        """Build shards ``which`` from ``states`` (rows in sample order)."""
        xp = self.xp
        take = [xp.asarray(i) for i in self.ids]
        self.pool.open(self.ids, [xp.take(self.data.x, t, axis=0) for t in take],
                       [xp.take(self.data.y, t, axis=0) for t in take],
                       [{k: xp.take(s, t, axis=0) for k, s in states.items()} for t in take],
                       only=list(which))
        self.pool.map("order", np.asarray(self.data.order))

    # -- the epoch -----------------------------------------------------------------------------
    def step(self) -> None:
        start = self._start if self._start is not None else self.state()
        lost: set[int] = set()
        for attempt in range(RETRIES + 1):
            try:
                if lost:        # back to the epoch's start, the lost shards built again
                    self.restore(start, rebuild=sorted(lost))
                    lost = set()
                self._fresh = False
                self._epoch()
                return
            except ShardsLost as exc:
                lost |= set(exc.lost)
                if attempt == RETRIES:
                    raise SolveError(f"data-parallel training: {exc}, {RETRIES + 1} times; "
                                     "giving up") from None

    def _epoch(self) -> None:
        n = self.data.x.shape[0]
        self.data = Samples(self.data.x, self.data.y, {},
                            self.data.order[self.rng.permutation(n)])
        self.pool.map("order", np.asarray(self.data.order))
        params = self.params
        for start in range(0, n, self.batch):
            params = self._batch(params, start, min(start + self.batch, n))
        self.params = params

    def _batch(self, params: Params, start: int, stop: int) -> Params:
        """One batch's Θ-steps (:meth:`LiftedMethod.theta_steps`, as serially), each round's
        gradient reduced from the shards."""
        m: LiftedMethod = self.method
        t = m.trainer
        t.ensure_norms(params)
        implicit = m.update is None
        sigma: dict[int, float] = {}

        def gradient(theta: Params, i: int) -> tuple[Params, dict[str, float]]:
            part = self.pool.reduce("round", start, stop, i == 0, i == m.rounds - 1, theta,
                                    t.norm_estimates(), implicit)
            assert part is not None, "a batch's rows are in some shard"
            lips = self._lipschitz(theta, part, stop - start, sigma) if implicit else {}
            return part["grads"], lips

        return m.theta_steps(params, gradient)

    def _lipschitz(self, params: Params, part: Part, rows: int,
                   sigma: dict[int, float]) -> dict[str, float]:
        """The serial Θ-step's constants (:meth:`LiftedTrainer.theta_gradient`) from the reduced
        part: ``λ_max`` of the stacked Gram factors (first sweep of the batch: ``σ = ‖P(u)‖₂``)
        or the summed traces (later sweeps: ``(σ + ‖P(u − u_ref)‖_F)²``)."""
        t = self.method.trainer
        lips: dict[str, float] = {}
        for layer in t.net.layers:
            k = layer.index
            if k not in sigma:
                lam = part["lam"][k]
                sigma[k] = math.sqrt(lam)
            else:
                lam = (sigma[k] + math.sqrt(part["trace"][k])) ** 2
            lip = layer.weight_lipschitz(params, None, lam, rows=rows)
            for name in (layer.A.weight, *layer.biases):
                lips[name] = lips.get(name, 0.0) + lip
        for l in t.roles.hidden:
            layer = t.net.layers[l]
            if layer.V is not None and t.reads(l):
                readers = t.reader_norm(l)
                name = layer.V.weight
                lips[name] = lips.get(name, 0.0) + readers * part["resid_lam"][l] / rows
                if layer.branch_bias is not None:
                    c = layer.branch_bias
                    lips[c] = lips.get(c, 0.0) + readers * t.branch_bias_count(params[c], layer)
        return lips

    def close(self) -> None:
        """Drop the shards (on their workers)."""
        self.pool.close()

    # -- checks and state ----------------------------------------------------------------------
    def finite(self) -> bool:
        return (all(is_finite(a) for a in self.params.values())
                and all(self.pool.map("finite")))

    def check(self, k: int) -> dict[str, float]:
        sums = self.pool.map("totals", self.params)
        out = metrics_of(int(self.data.x.shape[0]), *(sum(s[j] for s in sums) for j in range(3)))
        out["mse_loss"] = mse_objective(self.method.trainer.net, self.params, self.data.x,
                                        self.data.y, {})["mse_loss"]
        if self.validate is not None:
            out.update({key: float(v) for key, v in self.validate(self.params).items()})
        return out

    def sample_states(self, shapes: dict[str, tuple[int, ...]] | None = None,
                      ) -> dict[str, Any]:
        """Every hidden state's rows in sample order, gathered from the shards (as
        ``(N, *shapes[k])`` where given)."""
        xp = self.xp
        parts = self.pool.map("get_states")
        out = {k: xp.concat([p[k] for p in parts], axis=0) for k in parts[0]}
        if shapes is None:
            return out
        return {k: xp.reshape(s, (int(s.shape[0]), *shapes[k])) for k, s in out.items()}

    def state(self) -> dict[str, Any]:
        """As :meth:`Epochs.state` (the states in row order, gathered once per epoch)."""
        if self._fresh and self._start is not None:
            return self._start
        optimizer, norms = self.method.state()
        xp = self.xp
        rows = xp.asarray(np.asarray(self.data.order, dtype=np.int64))
        states = {k: xp.take(s, rows, axis=0) for k, s in self.sample_states().items()}
        self._start = {"params": self.params, "states": states, "order": self.data.order,
                       "optimizer": optimizer, "norms": norms,
                       "rng": self.rng.bit_generator.state}
        self._fresh = True
        return self._start

    def restore(self, state: dict[str, Any], rebuild: Sequence[int] = ()) -> None:
        """As :meth:`Epochs.restore` (a state of this run, or a checkpoint's); the states go back
        to their shards (``rebuild``: shards built again first, after their worker was lost).
        The inputs and targets stay in sample order here: only ``order`` says the rows."""
        xp, n = self.xp, int(self.data.x.shape[0])
        order = checked_order(state, n)
        self.params = {k: asarray(xp, v, dtype=self.dtype) for k, v in state["params"].items()}
        rows = self._states(state["states"], n)
        self.method.load_state(on_backend(xp, state["optimizer"], self.dtype), state["norms"])
        self.rng.bit_generator.state = state["rng"]
        self.data = Samples(self.data.x, self.data.y, {}, order)
        inverse = xp.asarray(np.argsort(order))
        by_sample = {k: xp.take(s, inverse, axis=0) for k, s in rows.items()}
        if rebuild:
            self._open(by_sample, rebuild)
        take = [xp.asarray(i) for i in self.ids]
        self.pool.map("set_states", each=[{k: xp.take(s, t, axis=0)
                                           for k, s in by_sample.items()} for t in take])
        self.pool.map("order", order)
        self._start, self._fresh = dict(state), True


def reduce_tree(parts: Sequence[T], pair: Callable[[T, T], T],
                root: Callable[[T, T], T] | None = None) -> T:
    """``parts`` reduced pairwise, level by level — ``((p₀ p₁)(p₂ p₃))…`` —, so each node takes two
    parts, never ``K``, and the depth is ``⌈log₂ K⌉``; ``root`` (default ``pair``) makes the last
    node.  The same tree whatever ``pair`` does (add here, submit a Dask task there): the same
    sums in the same order."""
    level = list(parts)
    if not level:
        raise ValueError("reduce_tree of no parts")
    while len(level) > 2:
        paired = [pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + level[len(level) - len(level) % 2:]
    return level[0] if len(level) == 1 else (root or pair)(level[0], level[1])


def combine(a: Part | None, b: Part | None) -> Part | None:
    """Two round parts as one (None: a shard without rows in the batch): ``∇`` parts and traces
    added; Gram factors stacked, ``RᵀR = R_aᵀR_a + R_bᵀR_b`` for ``R = [R_a; R_b]``, and factored
    again (``[R_a; R_b] = QR``) once the stack is taller than wide — so a factor never exceeds
    ``d × d``, however many parts it sums."""
    if a is None or b is None:
        return b if a is None else a
    return {"grads": _sum([a["grads"], b["grads"]]),
            "gram": _stacked(a["gram"], b["gram"]),
            "trace": {k: a["trace"].get(k, 0.0) + b["trace"].get(k, 0.0)
                      for k in sorted(a["trace"].keys() | b["trace"].keys())},
            "resid": _stacked(a["resid"], b["resid"])}


def finish(part: Part | None) -> Part | None:
    """The root of the tree with its factors as numbers: ``grads``, ``trace`` and, by layer,
    ``lam = λ_max(RᵀR)`` of the inputs' factor and ``resid_lam`` of the residual states'."""
    if part is None:
        return None
    return {"grads": part["grads"], "trace": part["trace"],
            "lam": {k: gram_lambda_max(r) for k, r in part["gram"].items()},
            "resid_lam": {k: gram_lambda_max(r) for k, r in part["resid"].items()}}


def _stacked(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
    """The factors of ``a`` and ``b`` stacked by key; factored again only where the stack has
    more rows than columns (a QR costs ``O(m d²)``: where it would not shrink the part, it is
    not worth its time)."""
    out = {}
    for k in sorted(a.keys() | b.keys()):
        both = [f for f in (a.get(k), b.get(k)) if f is not None]
        stack = both[0] if len(both) == 1 else array_namespace(both[0]).concat(both, axis=0)
        out[k] = gram_factor(stack) if stack.shape[0] > stack.shape[1] else stack
    return out


def _sum(parts: list[Params]) -> Params:
    out: Params = {}
    for g in parts:
        for name, v in g.items():
            out[name] = v if name not in out else out[name] + v
    return out
