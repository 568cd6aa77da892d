"""Lowering: an ``invert`` task on a lifted network → the :class:`InverseProblem` a solver takes.

* the data ``f`` goes onto the problem's namespace and dtype, flattened to ``(*batch, m)``; for
  the Bregman fidelity it is first projected onto the domain of the output layer's Ψ (math.md
  §3: B_Ψ(f, ·) = +∞ off dom Ψ), strictly inside for tanh / sigmoid / softmax, and the number
  of entries that moved is reported;
* the regulariser ``α · Σ_i w_i J_i`` becomes ``Term(α·w_i, J_i)`` (zero weights dropped),
  ``nonneg`` / ``box`` become unweighted constraints;
* ``solver = auto`` is resolved (:func:`choose_solver`) and ``solver(max_iter, tol, options)``
  mapped onto that solver's settings dataclass (:func:`solver_settings`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...backend import asarray, to_numpy
from ...errors import SpecError
from ...ir.tasks.records import FixedAlpha, InvertTask, Solver
from ...lift.compact import LiftedProblem
from ...lift.structure import structure
from ...prox.regularisers.composite import RegulariserForm
from ...prox.regularisers.registry import REGULARISERS, make_regulariser
from ...solvers import registry as solvers
from ...solvers.base import Stopping
from ...solvers.problems import InverseProblem, Term

__all__ = ["Projection", "project_data", "output_psi", "regularisers", "regulariser_form",
           "lower", "at_alpha", "choose_solver", "solver_settings", "warm_start",
           "effective_weights"]

#: Options consumed by lbdsl itself rather than by a solver's settings.
_RUNNER_OPTIONS = frozenset({"warm_start"})

#: How far inside dom Ψ data are projected for a Ψ with ``interior_data`` (float64, float32).
_MARGIN = {"float64": 1e-6, "float32": 1e-4}


# --- the data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Projection:
    """What projecting the data onto dom Ψ of the output layer did."""

    psi: str                 # the output layer's Ψ ("relu"), "none" for a residual/linear output
    margin: float
    moved: int               # entries that changed
    entries: int

    def to_json(self) -> dict[str, Any]:
        return {"psi": self.psi, "margin": self.margin, "moved": self.moved,
                "entries": self.entries}


def output_psi(lp: LiftedProblem) -> Any | None:
    """The Ψ whose prox produces the network's output, or None when the output is a residual
    sum (no domain: any value can be reached) or there is no layer."""
    if not structure(lp).has("plain_output"):
        return None
    return next(layer.psi for layer in lp.layers if layer.output_block == lp.output_block)


def project_data(lp: LiftedProblem, f: np.ndarray, dtype: str = "float64",
                 ) -> tuple[np.ndarray, Projection]:
    """``f`` (host, ``(*batch, m)``) projected onto dom Ψ of the output layer."""
    psi = output_psi(lp)
    if psi is None:
        return f, Projection("none", 0.0, 0, int(f.size))
    margin = 0.0
    if psi.interior_data:
        margin = _MARGIN[dtype]
        if psi.name == "softmax":
            margin = min(margin, 0.1 / f.shape[-1])
    projected = np.asarray(to_numpy(psi.project_domain(np.asarray(f, dtype=np.float64),
                                                       margin)), dtype=np.float64)
    moved = int(np.count_nonzero(projected != f))
    return projected, Projection(str(psi.name), margin, moved, int(f.size))


# --- the regulariser -------------------------------------------------------------------------

def regularisers(task: InvertTask, input_shape: tuple[int, ...], alpha: float,
                 ) -> tuple[tuple[Term, ...], tuple[Any, ...]]:
    """``(terms, constraints)``: ``Term(α·w_i, J_i)`` for the weighted terms with α·w_i > 0,
    and the indicators."""
    terms: list[Term] = []
    constraints: list[Any] = []
    for t in task.regulariser.terms:
        reg = make_regulariser(t.name, shape=tuple(input_shape), **dict(t.args))
        if t.is_indicator:
            constraints.append(reg)
        elif alpha * t.weight > 0:
            terms.append(Term(alpha * t.weight, reg))
    return tuple(terms), tuple(constraints)


def modulus(task: InvertTask, input_shape: tuple[int, ...]) -> float:
    """``μ = Σ_i α·w_i·m_i``: the strong convexity of the regulariser on the input, which the
    certificate counts (``m_i`` each term's
    :attr:`~lbdsl.prox.regularisers.base.Regulariser.modulus`, 1 for ``l2sq``); 0 when α is
    chosen by a rule (α is not known before the solves)."""
    if not isinstance(task.alpha, FixedAlpha):
        return 0.0
    terms, _ = regularisers(task, input_shape, float(task.alpha.value))
    return float(sum(t.weight * t.reg.modulus for t in terms))


def lower(task: InvertTask, lp: LiftedProblem, f: np.ndarray, alpha: float, *,
          fidelity: str | None = None) -> InverseProblem:
    """The inverse problem at ``alpha`` (``f`` host, already projected where it must be)."""
    xp = lp.xp
    terms, constraints = regularisers(task, lp.u_blocks[0].shape, alpha)
    batch = f.shape[:-1] if f.ndim > 1 else ()
    flat = np.ascontiguousarray(f.reshape(*batch, -1))
    return InverseProblem(lifted=lp, f=asarray(xp, flat, lp.dtype), terms=terms,
                          constraints=constraints, fidelity=fidelity or task.stage_fidelity,
                          lam=float(task.lam), rho=float(task.rho))


def at_alpha(problem: InverseProblem, task: InvertTask, alpha: float) -> InverseProblem:
    """The same problem with the regulariser weighted by another ``alpha``."""
    terms, _ = regularisers(task, problem.input_shape, alpha)
    return dataclasses.replace(problem, terms=terms)


# --- the solver ------------------------------------------------------------------------------

def regulariser_form(task: InvertTask) -> RegulariserForm:
    """What the solvers ask of ``task``'s regulariser, before it is built."""
    return RegulariserForm.of(REGULARISERS[t.name] for t in task.regulariser.terms)


def choose_solver(task: InvertTask, lp: LiftedProblem, fidelity: str | None = None,
                  ) -> tuple[str, str]:
    """``(solver name, why)``; ``solver = auto`` picks from the network and the task."""
    fidelity = fidelity or task.stage_fidelity
    if task.solver.name != "auto" and fidelity == task.stage_fidelity:
        return task.solver.name, "as written in the spec"
    return solvers.choose(fidelity, regulariser_form(task), structure(lp))


def solver_settings(name: str, spec: Solver, settings_cls: type, source_spans: Mapping[str, Any],
                    *, common_only: bool = False) -> Any:
    """``spec``'s ``max_iter``, ``tol`` and options as an instance of ``settings_cls``.

    The field ``stopping`` receives a :class:`Stopping`; every other written option must be
    an option of ``settings_cls`` (else a :class:`SpecError` at the option: the spec reader
    checked it against the solver it names, a ``--set`` may have changed the solver since).
    ``common_only`` (the baseline run, the refinement) passes only the stopping rule.
    """
    fields = {f.name for f in dataclasses.fields(settings_cls)}
    options = dict(spec.options)
    check_every = options.pop("check_every", None)
    stopping = Stopping(max_iter=int(spec.max_iter), tol=float(spec.tol),
                        **({} if check_every is None else {"check_every": int(check_every)}))
    kwargs: dict[str, Any] = {"stopping": stopping}
    if not common_only:
        for key, value in options.items():
            if key in _RUNNER_OPTIONS:
                continue
            if key not in fields:
                known = ["max_iter", "tol", "check_every", "warm_start"] + sorted(
                    fields - {"stopping"})
                raise SpecError.at(source_spans.get(key, spec.span),
                                   f"the `{name}` solver has no option `{key}`",
                                   f"its options: {', '.join(known)}")
            kwargs[key] = value
    try:
        return settings_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError.at(spec.span, f"bad settings for the `{name}` solver: {exc}") from None


def warm_start(spec: Solver) -> bool:
    """Whether parameter-choice rules start each solve from the previous one (default yes)."""
    return bool(spec.options.get("warm_start", True))


def effective_weights(task: InvertTask, alpha: float) -> list[dict[str, Any]]:
    """Each regulariser term with its weight w_i and α·w_i (constraints: weight None)."""
    out = []
    for t in task.regulariser.terms:
        entry: dict[str, Any] = {"term": t.name}
        if t.is_indicator:
            entry.update(args=dict(t.args), weight=None, effective=None)
        else:
            entry.update(weight=float(t.weight), effective=float(alpha * t.weight))
        out.append(entry)
    return out

