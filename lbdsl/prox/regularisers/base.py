"""The regulariser contract: value, prox, conjugate and conjugate prox (by Moreau's identity)."""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace

__all__ = ["Regulariser", "Weighted", "check_step", "feasibility_tol", "unweighted"]


def check_step(c: Any) -> None:
    """Refuse a scalar step ``c`` that is not a positive finite number (arrays pass unchecked)."""
    if isinstance(c, (int, float)) and not (math.isfinite(c) and c > 0):
        raise ValueError(f"a prox step must be a positive finite number, got c = {c!r}")


def feasibility_tol(x: Any) -> float:
    """``√ε`` of ``x``'s dtype: the slack with which an indicator tests membership of its set.

    A projection computed through Moreau's identity, ``v − c·prox_{J/c}(v/c)``, lands on the
    boundary only up to rounding; testing with slack keeps ``J*`` of it at 0 instead of +∞.
    """
    xp = array_namespace(x)
    return math.sqrt(float(xp.finfo(x.dtype).eps))


class Regulariser:
    """A proper convex lsc ``J`` with ``value``, ``prox``, ``conj`` and ``conj_prox``.

    Subclasses write ``_value``, ``_prox`` and, where ``J*`` has a closed form, ``_conj``; the
    conjugate prox comes from Moreau's identity ``prox_{cJ*}(v) = v − c·prox_{J/c}(v/c)`` here,
    once.  A subclass overrides it only with a closed form that avoids the identity's
    cancellation: ``v − c·prox_{J/c}(v/c)`` carries an absolute error ``≈ ε·|v|``, which in
    float32 left l1's projection 1.6% outside the unit ball (|v| ≈ 1.5e5, c ≈ 7.7e4) and is
    several percent of ``v/(1 + c)`` for l2sq at ``c = 1e6``.  The identity itself is tested for
    every regulariser.

    Values are sums over every entry (batch axes included) as 0-d arrays; indicators give 0 or
    +∞, never NaN.  ``options`` go to iterative proxes (TV: ``tol``, ``max_iter``, ``p0``); closed
    forms ignore them.  Separable closed forms also accept an array ``c`` (one step per entry,
    for diagonal preconditioning).
    """

    name: str = "regulariser"
    #: ``m ≥ 0`` with ``J − (m/2)‖·‖²`` convex (strong convexity; 0: none known) — what the
    #: convexity certificate counts on the input
    modulus: float = 0.0

    def value(self, u: Any) -> Any:
        """``J(u)``."""
        return self._value(u)

    def prox(self, v: Any, c: Any, **options: Any) -> Any:
        """``prox_{cJ}(v) = argmin_u ½‖u − v‖² + c·J(u)``, ``c > 0``."""
        check_step(c)
        return self._prox(v, c, **options)

    def conj(self, v: Any) -> Any:
        """``J*(v) = sup_u ⟨u, v⟩ − J(u)``; ``NotImplementedError`` where it has no closed form."""
        return self._conj(v)

    def conj_prox(self, v: Any, c: Any, **options: Any) -> Any:
        """``prox_{cJ*}(v) = argmin_w ½‖w − v‖² + c·J*(w) = v − c·prox_{J/c}(v/c)``."""
        check_step(c)
        return self._conj_prox(v, c, **options)

    # -- what subclasses provide -------------------------------------------------------------
    def _value(self, u: Any) -> Any:
        raise NotImplementedError

    def _prox(self, v: Any, c: Any, **options: Any) -> Any:
        raise NotImplementedError

    def _conj(self, v: Any) -> Any:
        raise NotImplementedError(f"the conjugate of {self.name} has no closed form in lbdsl")

    def _conj_prox(self, v: Any, c: Any, **options: Any) -> Any:
        # Moreau's identity: the one place a conjugate prox is derived from a prox
        return v - c * self._prox(v / c, 1.0 / c, **options)


class Weighted(Regulariser):
    """``(αJ)(u) = α·J(u)``, ``α > 0`` — a spec's ``0.015 * tv``.

    ``prox_{c·αJ} = prox_{(cα)J}``; ``(αJ)*(v) = α·J*(v/α)``;
    ``prox_{c(αJ)*}(v) = α·prox_{(c/α)J*}(v/α)`` (so a projection stays a projection).
    """

    def __init__(self, inner: Regulariser, alpha: float) -> None:
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"a regulariser's weight must be positive and finite, got {alpha!r}")
        self.inner = inner
        self.alpha = float(alpha)
        self.name = f"{alpha:g} * {inner.name}"

    def __repr__(self) -> str:
        return f"Weighted({self.inner!r}, {self.alpha!r})"

    @property  # type: ignore[override]
    def modulus(self) -> float:
        """``α·m``: weighting scales the strong convexity."""
        return self.alpha * self.inner.modulus

    def _value(self, u: Any) -> Any:
        return self.alpha * self.inner.value(u)

    def _prox(self, v: Any, c: Any, **options: Any) -> Any:
        return self.inner.prox(v, self.alpha * c, **options)

    def _conj(self, v: Any) -> Any:
        return self.alpha * self.inner.conj(v / self.alpha)

    def _conj_prox(self, v: Any, c: Any, **options: Any) -> Any:
        return self.alpha * self.inner.conj_prox(v / self.alpha, c / self.alpha, **options)


def unweighted(reg: Regulariser, weight: float = 1.0) -> tuple[Regulariser, float]:
    """``(J, w·α₁·α₂…)`` for ``reg = α₁·(α₂·(… J))``: the plain regulariser and its total weight."""
    while isinstance(reg, Weighted):
        reg, weight = reg.inner, weight * reg.alpha
    return reg, weight
