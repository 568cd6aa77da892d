"""What a solver declares about itself (:class:`SolverInfo`), in its own module, in the manner
of CVXPY's ``Solver.accepts``: its ``solve``, its settings dataclass (whose
:func:`~lbdsl.options.option` fields are the options a spec may give it), the fidelities it
solves, what it asks of the regulariser sum (a capability of
:data:`~lbdsl.prox.regularisers.composite.CAPABILITIES`) and of the network's structure, and
the warm start it takes from a previous solve.  :mod:`.registry` lists the solvers; nothing
else does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import SolveError
from ..prox.regularisers.composite import CAPABILITIES, RegulariserForm
from ..prox.regularisers.registry import REGULARISERS
from .base import SolveResult

__all__ = ["SolverInfo", "FIDELITY_WORDS", "last_iterate"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: The problem each fidelity asks for, in words.
FIDELITY_WORDS: Mapping[str, str] = MappingProxyType({
    "bregman": "lifted Bregman problem", "l2": "quadratic problem"})


def last_iterate(result: SolveResult) -> Any:
    """The warm start most solvers take: the previous solve's input ``u``."""
    return result.u


@dataclass(frozen=True)
class SolverInfo:
    """One solver (module docstring).  ``needs`` maps a fidelity to the structural property
    (:class:`~lbdsl.lift.structure.Structure`) the solver needs for it; ``auto`` the fidelities
    for which ``solver = auto`` may pick it (in the registry's order), saying ``why``."""

    name: str
    solve: Callable[..., SolveResult]
    settings: type
    fidelities: frozenset[str]
    regulariser: str                                  # a key of CAPABILITIES
    needs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    auto: frozenset[str] = frozenset()
    why: str = ""
    warm_start: Callable[[SolveResult], Any] = last_iterate

    def __post_init__(self) -> None:
        if self.regulariser not in CAPABILITIES:
            raise ValueError(f"solver `{self.name}`: unknown capability {self.regulariser!r}")

    # -- refusals, each in one line (None: accepted) -------------------------------------------
    def refuses(self, fidelity: str, form: RegulariserForm, structure: Any = None) -> str | None:
        """Why this solver cannot take a problem of this form (None: it can).  ``structure``
        None: the network is not known yet (a spec check)."""
        return (self.refuses_fidelity(fidelity) or self.refuses_regulariser(form)
                or (self.refuses_structure(fidelity, structure) if structure else None))

    def refuses_fidelity(self, fidelity: str) -> str | None:
        if fidelity in self.fidelities:
            return None
        solves = " or ".join(FIDELITY_WORDS[f].removesuffix(" problem")
                             for f in sorted(self.fidelities))
        return (f"`{self.name}` solves the {solves} problem, but `fidelity = {fidelity}` asks "
                f"for the {FIDELITY_WORDS[fidelity]}")

    def refuses_regulariser(self, form: RegulariserForm) -> str | None:
        """A term it cannot take at all (named, with the ones it can), else a combination of
        terms it cannot take together."""
        check = CAPABILITIES[self.regulariser]
        for term, alone in zip(form.terms, form.alone()):
            if check(alone) is not None:
                return f"the `{self.name}` solver handles only {self.handles}, not `{term[0]}`"
        reason = check(form)
        return f"the `{self.name}` solver {reason}" if reason else None

    def refuses_structure(self, fidelity: str, structure: Any) -> str | None:
        prop = self.needs.get(fidelity)
        if prop is not None and not structure.has(prop):
            return f"`{self.name}`: {getattr(structure, prop)}"
        return None

    @property
    def handles(self) -> str:
        """The registered regularisers it takes, in words."""
        check = CAPABILITIES[self.regulariser]
        names = [name for name, cls in REGULARISERS.items()
                 if check(RegulariserForm.of([cls])) is None]
        if len(names) == 1:
            return f"`{names[0]}`"
        return ", ".join(names[:-1]) + f" and {names[-1]}" if names else "no regulariser"

    def require(self, problem: Any) -> None:
        """Refuse, in one line (``SolveError``), a problem this solver does not accept."""
        reason = self.refuses(problem.fidelity, problem.regulariser.form, problem.structure)
        if reason is not None:
            raise SolveError(reason)
