"""``checkpoint.npz`` of an ``invert`` task, so that ``lbdsl solve --resume`` goes on from where
Ctrl-C stopped it to the result a run that never stopped reaches (bit for bit on the same
backend) — and takes a task that had finished from the file instead of solving it again.

An ``invert`` task is a sequence of solves — one for a fixed α, several for an α rule, then the
quadratic baseline — and a Ctrl-C stops the one running at its next check.  The checkpoint holds
every solve the run made, in order, as the solvers returned them (the α of each, the iterate,
the lifted variables, the history), the interrupted one with its whole solver state
(``SolveResult.state``), and the baseline's result if it had started.  Resuming replays the
finished solves from the file (an α rule takes the same decisions on the same results), goes on
with the interrupted one from its state, and runs the rest.  A solve that had stopped at
``max_iter`` is replayed only if ``max_iter`` has not been raised since; otherwise it and every
solve after it are run again (its state is not kept: only an interrupted solve's is).

Like ``train``'s checkpoint (:mod:`.checkpoint`) it carries a *fingerprint* — everything the
solves depend on except ``max_iter``: the network, the data and truth (sha256), the fidelity,
the regulariser, α or its rule, λ, ρ, the solver and its other settings, the seed, the dtype —
and a checkpoint of another problem is refused in one line that says what changed.  Arrays and
the JSON document are stored as :mod:`.arraytree` packs them: nothing is pickled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..ir.nodes import NetworkIR
from ..ir.tasks.model import InvertTask
from ..solvers.base import SolveResult
from . import checkpoint as ck
from .arraytree import pack, unpack
from .report import json_safe

__all__ = ["FILE", "FORMAT", "Stored", "fingerprint", "check_compatible", "write", "read"]

FILE = ck.FILE
FORMAT = 1

#: Fields of the task's model that say where a value was written, not what it is.
_WHERE = frozenset({"span", "spans", "network_span", "given"})

_WHAT = {"network": "the network (its layers or parameters)", "data": "the data",
         "truth": "the truth", "solver": "the solver or its settings (other than `max_iter`)",
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

    @property
    def stopped_at(self) -> SolveResult | None:
        """The solve that was interrupted (None when a Ctrl-C fell between two solves)."""
        last = self.baseline if self.baseline is not None else \
            (self.solves[-1][1] if self.solves else None)
        return last if last is not None and last.stop_reason == "interrupted" else None


def _plain(value: Any) -> Any:
    """A task's settings as nested plain values, without their source locations."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in _WHERE}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def fingerprint(task: InvertTask, net: NetworkIR, f_raw: np.ndarray, f_solver: np.ndarray,
                truth: np.ndarray | None) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint (JSON-ready)."""
    solver = _plain(task.solver)
    del solver["max_iter"]
    return json_safe({
        "network": ck.network_fingerprint(net),
        "data": ck.sha(f_raw, f_solver),
        "truth": None if truth is None else ck.sha(truth),
        "solver": solver,
        "alpha": [type(task.alpha).__name__, _plain(task.alpha)],
        "regulariser": _plain(task.regulariser),
        "fidelity": task.fidelity,
        "lambda": float(task.lam),
        "rho": float(task.rho),
        "seed": int(task.seed),
        "dtype": task.dtype,
    })


def check_compatible(found: dict[str, Any], expected: dict[str, Any], path: Path) -> None:
    """``SolveError`` (one line) if the checkpoint at ``path`` belongs to another problem."""
    ck.check_compatible(found, expected, path, _WHAT)


def write(path: Path, stored: Stored, fp: dict[str, Any]) -> None:
    """Atomically write ``stored`` with its fingerprint."""
    tree = {"alphas": [a for a, _ in stored.solves], "solves": [r for _, r in stored.solves],
            "baseline": stored.baseline}
    document, arrays = pack(tree)
    meta = {"format": FORMAT, "kind": "invert", "fingerprint": fp, "tree": document,
            "time_s": float(stored.time_s), "baseline_time_s": float(stored.baseline_time_s),
            "complete": bool(stored.complete)}
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
        if not all(isinstance(r, SolveResult) for _, r in solves):
            raise ValueError("a solve is not a solver's result")
        stored = Stored(solves, tree["baseline"], float(meta["time_s"]),
                        float(meta["baseline_time_s"]), bool(meta["complete"]))
        return stored, meta["fingerprint"]
    except ck.READ_ERRORS as exc:
        raise DataError(f"cannot read the checkpoint {path}: {exc}; run without --resume to "
                        "start over") from None
