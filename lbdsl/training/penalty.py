"""Penalties on hidden states (``penalty = 0.01 * l1(z3) + 1e-4 * l2sq(z1)``) and the prox
that the lifted state update needs: ``prox_{μ(Φ + R)}`` for ``R = a‖·‖₁ + (c/2)‖·‖²``.

The lifted x-update of a state with activation Ψ minimises (math.md §5, derived in
:mod:`.lifted`) ``Φ(x) + R(x) + (smooth in x)``, so its proximal step is ``prox_{μ(Φ + R)}``.
With ``Φ = ½‖·‖² + Ψ``::

    prox_{μ(Φ + R)}(v) = prox_{κ(Ψ + R)}(v / (1 + μ)),          κ = μ / (1 + μ)
    prox_{κ(Ψ + (c/2)‖·‖² + a‖·‖₁)}(w) = prox_{κ'(Ψ + a‖·‖₁)}(w / (1 + κc)),   κ' = κ/(1 + κc)

and for a separable Ψ (derived; tested against brute force): on ``u > 0`` the l1 term is the
linear ``a·u``, on ``u < 0`` it is ``−a·u``, so with ``p = prox_{κΨ}(w − κa)`` and
``m = prox_{κΨ}(w + κa)`` (``p ≤ m`` since proxes are monotone)::

    prox_{κ(Ψ + a|·|)}(w) = p if p > 0;  m if m < 0;  0 otherwise  = max(p, 0) + min(m, 0)

(when neither holds, ``p ≤ 0 ≤ m`` puts 0 in the domain and satisfies the optimality condition).
For soft-thresholding, ``θ|·| + a|·| = (θ + a)|·|`` (one threshold).  For softmax the state
lies on the simplex, where ``‖x‖₁ = 1`` is constant: the l1 term changes the objective by ``a``
and the prox not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from array_api_compat import array_namespace

from ..errors import SolveError
from ..ir.nodes import NetworkIR
from ..prox.piecewise import SoftThreshold
from ..prox.regularisers.composite import RegulariserSum
from ..prox.regularisers.l1 import L1
from ..prox.regularisers.l2sq import L2Squared

__all__ = ["state_penalty", "resolve_penalties", "prox_psi_penalised", "prox_phi_penalised"]


def state_penalty(l1: float = 0.0, l2sq: float = 0.0) -> RegulariserSum:
    """``R(x) = l1·‖x‖₁ + l2sq·½‖x‖²`` on one state, per sample (weights ≥ 0): a
    :class:`~lbdsl.prox.regularisers.composite.RegulariserSum` (``row_values`` per sample,
    ``subgradient`` for backpropagation — ``sign(0) = 0``)."""
    return RegulariserSum.of([(L1(), l1), (L2Squared(), l2sq)], ())


def prox_psi_penalised(psi: Any, w: Any, kappa: float, pen: RegulariserSum | None) -> Any:
    """``prox_{κ(Ψ + R)}(w)`` (module docstring)."""
    if pen is not None:
        w, kappa = pen.fold(w, kappa)
    if pen is None or not pen.l1 or not psi.elementwise:
        return psi.prox_scaled(w, kappa)
    if isinstance(psi, SoftThreshold) and psi.theta > 0:     # θ|·| + a|·| = (θ + a)|·|
        return psi.prox_scaled(w, kappa * (psi.theta + pen.l1) / psi.theta)
    xp = array_namespace(w)
    shift = kappa * pen.l1
    p = psi.prox_scaled(w - shift, kappa)
    m = psi.prox_scaled(w + shift, kappa)
    # p ≤ m, so "p if p > 0, m if m < 0, else 0" is max(p, 0) + min(m, 0)
    return xp.maximum(p, 0.0) + xp.minimum(m, 0.0)


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
            if term.name not in ("l1", "l2sq"):
                raise SolveError(f"unknown state penalty `{term.name}` (l1 or l2sq)")
            if not float(term.weight) > 0.0:
                raise SolveError(f"a penalty weight must be positive, got {term.weight!r}")
            vid = _variable_id(net, term.variable, term.variable_id)
            slot = weights.setdefault(vid, {})
            slot[term.name] = slot.get(term.name, 0.0) + float(term.weight)
        out = {vid: state_penalty(**w) for vid, w in weights.items()}
    if net.input in out:
        raise SolveError(f"the input `{net.input}` cannot be penalised: it is fixed to the data")
    return out
