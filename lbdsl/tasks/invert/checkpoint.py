"""``checkpoint.npz`` of an ``invert`` task, so that ``lbdsl solve --resume`` goes on from where
Ctrl-C stopped it to the result a run that never stopped reaches (bit for bit on the same
backend) — and takes a task that had finished from the file instead of solving it again.

An ``invert`` task is a sequence of solves — one for a fixed α, several for an α rule, then the
quadratic baseline — and a Ctrl-C stops the one running at its next check.  The checkpoint holds
every solve the run made, in order, as the solvers returned them (the α of each, the iterate,
the lifted variables, the history), the interrupted one with its whole solver state
(``SolveResult.state``), and the baseline's result if it had started.  Resuming replays the
finished solves from the file (an α rule takes the same decisions on the same results), goes on
with the interrupted one from its state, and runs the rest.  A finished solve is taken from the
file under the ``max_iter`` it ran with (the file records it), or under any other that it met
``tol`` within, at a check on the grid.  Under a larger one, a solve that stopped at its
``max_iter`` on the check grid goes on from its state, like an interrupted one; any other is
solved again, and so is every solve after it (they started from it).  The
baseline depends on the main solves through α only: it is taken when α is the one it had.

Like ``train``'s checkpoint (:mod:`lbdsl.tasks.train.checkpoint`), in the one format of
:mod:`lbdsl.tasks.checkpoint`, it carries a *fingerprint* — everything the
solves depend on except ``max_iter``: the backend, the network (input shape, layers, parameters),
the data and truth (sha256), the fidelity, the regulariser, α or its rule, λ, ρ, the solver and
its other settings, the seed, the dtype —
and a checkpoint of another problem is refused in one line that says what changed.  Arrays and
the JSON document are stored as :mod:`..arraytree` packs them: nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np

from ...errors import DataError
from ...ir.nodes import NetworkIR
from ...ir.tasks.records import InvertTask
from ...solvers.base import History, SolveResult, StopReason
from .. import checkpoint as ck
from ..arraytree import pack, unpack
from ..report import json_safe

__all__ = ["FILE", "FORMAT", "WHAT", "Stored", "fingerprint", "write", "read"]

FILE = ck.FILE
FORMAT = 3   # 3: the network's fingerprint holds each layer's terms (linear expressions)
_STOPS = frozenset(get_args(StopReason))

#: Each fingerprint key in words.
WHAT = {"backend": "the backend", "network": "the network (its input, layers or parameters)",
         "data": "the data", "truth": "the truth", "solver": "the solver or its settings (other than `max_iter`)",
         "alpha": "`alpha`", "regulariser": "`regulariser`", "fidelity": "`fidelity`",
         "lambda": "`lambda`", "rho": "`rho`", "seed": "`seed`", "dtype": "`dtype`"}


@dataclass
class Stored:
    """What an ``invert`` run did: its solves ``(α, result)`` in order (the last perhaps
    interrupted), the baseline's result if it had started, the time spent."""

    solves: list[tuple[float, SolveResult]] = field(default_factory=list)
    baseline: SolveResult | None = None
    time_s: float = 0.0
    baseline_time_s: float = 0.0
    complete: bool = False   # the run finished: every solve it needed is here
    max_iter: int = 0        # the solvers' limit in that run
    alpha: float | None = None   # the α it chose (the baseline's)

    @property
    def stopped_at(self) -> SolveResult | None:
        """The solve that was interrupted (None when a Ctrl-C fell between two solves)."""
        last = self.baseline if self.baseline is not None else \
            (self.solves[-1][1] if self.solves else None)
        return last if last is not None and last.stop_reason == "interrupted" else None


def _is_result(r: Any) -> bool:
    """Whether ``r`` has the types of a solver's result (a file edited by hand may not)."""
    return (isinstance(r, SolveResult) and r.stop_reason in _STOPS
            and isinstance(r.iterations, int) and hasattr(r.u, "shape")
            and all(isinstance(v, (int, float)) for v in (r.objective, r.residual))
            and isinstance(r.history, History) and isinstance(r.lifted, dict)
            and isinstance(r.message, str) and isinstance(r.solver, str)
            and (r.state is None or isinstance(r.state, dict)))


def fingerprint(task: InvertTask, net: NetworkIR, f_raw: np.ndarray, f_solver: np.ndarray,
                truth: np.ndarray | None, backend: str) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint (JSON-ready)."""
    solver = ck.plain(task.solver)
    del solver["max_iter"]
    return json_safe({
        "backend": backend,
        "network": ck.network_fingerprint(net),
        "data": ck.sha(f_raw, f_solver),
        "truth": None if truth is None else ck.sha(truth),
        "solver": solver,
        "alpha": [type(task.alpha).__name__, ck.plain(task.alpha)],
        "regulariser": ck.plain(task.regulariser),
        "fidelity": task.fidelity,
        "lambda": float(task.lam),
        "rho": float(task.rho),
        "seed": int(task.seed),
        "dtype": task.dtype,
    })


def write(path: Path, stored: Stored, fp: dict[str, Any]) -> None:
    """Atomically write ``stored`` with its fingerprint."""
    tree = {"alphas": [a for a, _ in stored.solves], "solves": [r for _, r in stored.solves],
            "baseline": stored.baseline}
    document, arrays = pack(tree)
    meta = {"format": FORMAT, "kind": "invert", "fingerprint": fp, "tree": document,
            "time_s": float(stored.time_s), "baseline_time_s": float(stored.baseline_time_s),
            "complete": bool(stored.complete), "max_iter": int(stored.max_iter),
            "alpha": stored.alpha}
    ck.save_npz(path, arrays, meta)


def read(path: Path, xp: Any) -> tuple[Stored, dict[str, Any]]:
    """What the checkpoint at ``path`` holds (arrays on ``xp``) and its fingerprint; a one-line
    :class:`DataError` if it is not an ``invert`` checkpoint lbdsl wrote."""
    try:
        arrays, meta = ck.load_npz(path, FORMAT)
        if meta.get("kind") != "invert":
            raise ValueError("it is not the checkpoint of an invert task")
        tree = unpack(meta["tree"], arrays, xp)
        solves = [(float(a), r) for a, r in zip(tree["alphas"], tree["solves"], strict=True)]
        results = [r for _, r in solves] + ([] if tree["baseline"] is None else
                                            [tree["baseline"]])
        if not all(_is_result(r) for r in results):
            raise ValueError("a solve in it is not a solver's result")
        stored = Stored(solves, tree["baseline"], float(meta["time_s"]),
                        float(meta["baseline_time_s"]), bool(meta["complete"]),
                        int(meta["max_iter"]),
                        None if meta.get("alpha") is None else float(meta["alpha"]))
        return stored, meta["fingerprint"]
    except ck.READ_ERRORS as exc:
        raise DataError(f"cannot read the checkpoint {path}: {ck.reason(exc)}; run without "
                        "--resume to start over") from None
