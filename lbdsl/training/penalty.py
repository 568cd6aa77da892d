"""Penalties on hidden states (``penalty = 0.01 * l1(z3) + 1e-4 * l2sq(z1)``) and the prox
that the lifted state update needs: ``prox_{μ(Φ + R)}`` for a penalty ``R = Σ_k w_k R_k``.

The lifted x-update of a state with activation Ψ minimises (math.md §5, derived in
:mod:`.lifted`) ``Φ(x) + R(x) + (smooth in x)``, so its proximal step is ``prox_{μ(Φ + R)}``.
With ``Φ = ½‖·‖² + Ψ``::

    prox_{μ(Φ + R)}(v) = prox_{κ(Ψ + R)}(v / (1 + μ)),          κ = μ / (1 + μ)
    prox_{κ(Ψ + (c/2)‖·‖² + w·φ)}(x) = prox_{κ'(Ψ + w·φ)}(x / (1 + κc)),   κ' = κ/(1 + κc)

(the quadratic folds, :meth:`~lbdsl.prox.regularisers.composite.RegulariserSum.fold`) and
``prox_{κ'(Ψ + w·φ)}`` is the penalty term's own knowledge
(:meth:`~lbdsl.prox.regularisers.base.Regulariser.prox_with_psi`: for ``l1`` a shift of Ψ's
prox each way).  The terms a penalty may hold are the registered regularisers that say
``penalises_states``: at most one besides the quadratic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SolveError
from ..ir.nodes import NetworkIR
from ..prox.regularisers.composite import RegulariserSum
from ..prox.regularisers.registry import REGULARISERS

__all__ = ["state_penalty", "resolve_penalties", "prox_psi_penalised", "prox_phi_penalised",
           "penalty_names"]


def penalty_names() -> tuple[str, ...]:
    """The regulariser names a state penalty may use (those of the registry that say
    ``penalises_states``)."""
    return tuple(name for name, cls in REGULARISERS.items() if cls.penalises_states)


def state_penalty(**weights: float) -> RegulariserSum:
    """``R(x) = Σ_k w_k R_k(x)`` on one state, per sample, from ``name = weight`` (weights
    ≥ 0; each name a registered regulariser that ``penalises_states``): a
    :class:`~lbdsl.prox.regularisers.composite.RegulariserSum` (``row_values`` per sample,
    ``subgradient`` for backpropagation — ``sign(0) = 0`` for ``l1``)."""
    for name in weights:
        if name not in REGULARISERS or not REGULARISERS[name].penalises_states:
            raise SolveError(f"unknown state penalty `{name}` "
                             f"({', '.join(penalty_names())})")
    pen = RegulariserSum.of([(REGULARISERS[name](), w) for name, w in weights.items()], ())
    if len(pen.form.names("separable", "gradient", "prox")) > 1:
        names = pen.form.names("separable", "gradient", "prox")
        raise SolveError(f"a state penalty takes at most one of {', '.join(names)} (besides "
                         "l2sq): their sum has no prox with the activation's")
    return pen


def prox_psi_penalised(psi: Any, w: Any, kappa: float, pen: RegulariserSum | None) -> Any:
    """``prox_{κ(Ψ + R)}(w)`` (module docstring)."""
    if pen is None:
        return psi.prox_scaled(w, kappa)
    w, kappa = pen.fold(w, kappa)
    term = pen.separable_term
    if term is None:
        return psi.prox_scaled(w, kappa)
    return term[0].prox_with_psi(psi, w, kappa, term[1])


def prox_phi_penalised(psi: Any, v: Any, mu: float, pen: RegulariserSum | None) -> Any:
    """``prox_{μ(Φ + R)}(v) = prox_{κ(Ψ + R)}(v / (1 + μ))`` with ``κ = μ/(1 + μ)``."""
    return prox_psi_penalised(psi, v / (1.0 + mu), mu / (1.0 + mu), pen)


def _variable_id(net: NetworkIR, name: str, vid: str | None = None) -> str:
    """The IR id a penalty refers to: ``vid`` when the task builder resolved it, else the last
    binding of the name as written (``z3`` → ``z3#2`` if rebound; ``y.relu`` is its own name),
    else an id given directly."""
    if vid:
        return vid
    versions = [v for v in net.variables.values() if v.name == name]
    if versions:
        return max(versions, key=lambda v: v.version).id
    if name in net.variables:
        return name
    raise SolveError(f"the penalty names `{name}`, which is not a variable of network "
                     f"`{net.name}` (variables: {', '.join(net.variables)})")


def resolve_penalties(net: NetworkIR, penalties: Any) -> dict[str, RegulariserSum]:
    """Variable id → its penalty (:func:`state_penalty`) from a task's ``PenaltyTerms`` (or its
    terms, or a mapping ``{variable: penalty}``); ``SolveError`` for the input or an unknown
    variable."""
    if penalties is None:
        return {}
    if isinstance(penalties, Mapping):
        out = {_variable_id(net, name): pen for name, pen in penalties.items()}
    else:
        weights: dict[str, dict[str, float]] = {}
        for term in getattr(penalties, "terms", penalties):
            if not float(term.weight) > 0.0:
                raise SolveError(f"a penalty weight must be positive, got {term.weight!r}")
            vid = _variable_id(net, term.variable, term.variable_id)
            slot = weights.setdefault(vid, {})
            slot[term.name] = slot.get(term.name, 0.0) + float(term.weight)
        out = {vid: state_penalty(**w) for vid, w in weights.items()}
    if net.input in out:
        raise SolveError(f"the input `{net.input}` cannot be penalised: it is fixed to the data")
    return out
