"""The inversion solvers as data: what each one is called, where it lives, which options a spec
may give it, and which problems it accepts.

One table (:data:`SOLVERS`) serves every place that asks which solver fits a problem, in the
manner of CVXPY's ``Solver.accepts``: the spec checks (a written solver that cannot take the
task's fidelity or regulariser is a spec error at its term), ``solver = auto`` (the first of
:data:`AUTO` that accepts the problem) and each solver's own refusal at run time
(:meth:`SolverSpec.refuses`).  A problem's *form* is its fidelity, the kinds of its regulariser
(``tv``, ``l1``, ``l2sq``, ``box`` — ``nonneg`` is a box — or another name) and, once the network
is lifted, its :class:`~lbdsl.lift.structure.Structure`.  Adding a solver is its module (with
``solve`` and a settings dataclass) and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import reader as r

__all__ = ["SolverSpec", "SOLVERS", "AUTO", "SOLVER_OPTIONS", "kinds_of", "choose"]

_STEPS = (r.Arg("tau", r.positive, None), r.Arg("sigma", r.positive, None))
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class SolverSpec:
    """One solver: its module (``solve`` and the settings class ``settings``), its spec options
    beyond ``max_iter``, ``tol``, ``warm_start``, ``check_every``, and what it accepts."""

    name: str
    module: str
    settings: str
    options: tuple[r.Arg, ...]
    fidelities: frozenset[str]
    regularisers: frozenset[str] | None        # the kinds it handles (None: any)
    needs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # fidelity → property
    why: str = ""                                        # what `auto` says when it picks it
    handles: str = ""                                    # the regularisers, in words

    def refuses(self, fidelity: str, kinds: frozenset[str], structure: Any = None,
                ) -> str | None:
        """Why this solver cannot take a problem of this form (None: it can).  ``structure``
        None: the network is not known yet (a spec check)."""
        return (self.refuses_fidelity(fidelity) or self.refuses_kinds(kinds)
                or (self.refuses_structure(fidelity, structure) if structure else None))

    def refuses_fidelity(self, fidelity: str) -> str | None:
        if fidelity in self.fidelities:
            return None
        return (f"`{self.name}` solves the {_FIDELITY[self.fidelities]}, but "
                f"`fidelity = {fidelity}` asks for the {_FIDELITY[frozenset({fidelity})]}")

    def refuses_kinds(self, kinds: frozenset[str]) -> str | None:
        extra = sorted(kinds - self.regularisers) if self.regularisers is not None else []
        if extra:
            return f"the `{self.name}` solver handles only {self.handles}, not `{extra[0]}`"
        return None

    def refuses_structure(self, fidelity: str, structure: Any) -> str | None:
        prop = self.needs.get(fidelity)
        if prop is not None and not structure.has(prop):
            return f"`{self.name}`: {getattr(structure, prop)}"
        return None


_FIDELITY = {frozenset({"bregman"}): "lifted Bregman problem",
             frozenset({"l2"}): "quadratic problem",
             frozenset({"bregman", "l2"}): "Bregman or quadratic problem"}

SOLVERS: Mapping[str, SolverSpec] = MappingProxyType({
    "pdhg": SolverSpec(
        "pdhg", "lbdsl.solvers.pdhg", "PDHGSettings", _STEPS, frozenset({"bregman"}),
        frozenset({"tv", "l1", "l2sq", "box"}), MappingProxyType({"bregman": "single_layer"}),
        why="single layer, Bregman fidelity", handles="tv, l1, l2sq, nonneg and box"),
    "coordinate": SolverSpec(
        "coordinate", "lbdsl.solvers.coordinate", "CoordinateSettings", (),
        frozenset({"bregman"}), frozenset({"l2sq"}),
        MappingProxyType({"bregman": "shallow_sum"}), why="shallow sum with l2sq",
        handles="`l2sq` (J = ½‖u‖²)"),
    "lifted": SolverSpec(
        "lifted", "lbdsl.solvers.lifted", "LiftedSettings",
        (r.Arg("tau", r.positive, None),  # proximal gradient: no dual step
         r.Arg("backtracking", r.boolean, None)),
        frozenset({"bregman"}), None, why="deep network, Bregman fidelity"),
    "gradient": SolverSpec(
        "gradient", "lbdsl.solvers.gradient", "GradientSettings",
        (r.Arg("lr", r.positive, None), r.Arg("momentum", r.unit, None),
         r.Arg("backtracking", r.boolean, None)),
        frozenset({"bregman", "l2"}), None, MappingProxyType({"bregman": "single_layer"}),
        why="quadratic fidelity"),
    "lbfgs": SolverSpec(
        "lbfgs", "lbdsl.solvers.lbfgs", "LBFGSSettings",
        (r.Arg("memory", r.count, None), r.Arg("eps", r.positive, None),
         r.Arg("eps_start", r.positive, None), r.Arg("eps_factor", r.positive, None),
         r.Arg("stage_tol", r.positive, None)),
        frozenset({"bregman", "l2"}), frozenset({"tv", "l1", "l2sq", "box"}),
        MappingProxyType({"bregman": "single_layer"}),
        why="quadratic fidelity, quasi-Newton", handles="tv, l1, l2sq, nonneg and box"),
})

#: The order in which ``solver = auto`` tries the solvers, per fidelity.
AUTO: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "bregman": ("pdhg", "coordinate", "lifted"), "l2": ("lbfgs", "gradient")})

#: The options each solver accepts beyond ``max_iter``, ``tol``, ``warm_start``, ``check_every``.
SOLVER_OPTIONS: Mapping[str, tuple[r.Arg, ...]] = MappingProxyType(
    {"auto": (), **{name: spec.options for name, spec in SOLVERS.items()}})


def kinds_of(names: Any) -> frozenset[str]:
    """The regulariser kinds of a spec's term names (``nonneg`` and ``box`` are boxes)."""
    return frozenset("box" if n in ("nonneg", "box") else n for n in names)


def choose(fidelity: str, kinds: frozenset[str], structure: Any) -> tuple[str, str]:
    """``(solver, why)``: the first solver of :data:`AUTO` that accepts the form."""
    for name in AUTO[fidelity]:
        if SOLVERS[name].refuses(fidelity, kinds, structure) is None:
            return name, f"auto: {SOLVERS[name].why}"
    return AUTO[fidelity][-1], f"auto: {SOLVERS[AUTO[fidelity][-1]].why}"
