"""The regulariser contract: what a regulariser *is* (its spec name, parameters and facts) and
what it computes (value, prox, conjugate and conjugate prox by Moreau's identity, per-row
values, a subgradient, a smoothing).

A regulariser declares how it folds into a sum ``Σ_i w_i J_i`` (:attr:`Regulariser.fold`, read by
:class:`~.composite.RegulariserSum` and by the solvers' capabilities):

============  =====================================================================  =========
fold          what the term is, and how a sum reaches it                             example
============  =====================================================================  =========
quadratic     ``½‖u‖²``: folded into any other prox by completing the square         ``l2sq``
interval      ``χ_{[lo, hi]}`` entrywise: a projection after a separable prox        ``box``
separable     ``Σ_i φ(u_i)``: its own entrywise prox, then the interval              ``l1``
gradient      ``h(∇u)`` with ``prox`` of ``h*`` closed: primal–dual solvers reach    ``tv``
              it through ``∇`` and :meth:`project_dual`, proximal ones by
              :meth:`prox_with_dual`
prox          anything else with a prox: alone in a sum (a quadratic folds in)
============  =====================================================================  =========
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from array_api_compat import array_namespace

__all__ = ["Regulariser", "Weighted", "Fold", "FOLDS", "check_step", "feasibility_tol",
           "unweighted"]

Fold = Literal["quadratic", "interval", "separable", "gradient", "prox"]
#: The folds in the order a sum keeps its terms (and adds their values).
FOLDS: tuple[str, ...] = ("gradient", "separable", "quadratic", "interval", "prox")


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

    name: ClassVar[str] = "regulariser"
    #: one line for ``lbdsl`` listings and docs: the formula
    summary: ClassVar[str] = ""
    #: how a spec writes it with its parameters (hints; default: the bare name)
    example: ClassVar[str] = ""
    #: how it folds into a sum (module docstring)
    fold: ClassVar[Fold] = "prox"
    #: a constraint (0 or +∞): not weighted by α, and a weight on it is refused
    indicator: ClassVar[bool] = False
    #: acts on the input in its declared shape (built with ``shape=``; given images, not rows)
    needs_shape: ClassVar[bool] = False
    #: may penalise a hidden state in training (it implements :meth:`prox_with_psi`)
    penalises_states: ClassVar[bool] = False
    #: ``m ≥ 0`` with ``J − (m/2)‖·‖²`` convex (strong convexity; 0: none known) — what the
    #: convexity certificate counts on the input
    modulus: ClassVar[float] = 0.0

    @classmethod
    def build(cls, shape: tuple[int, ...] | None = None, **params: Any) -> "Regulariser":
        """The regulariser with the spec's ``params`` (its :func:`~lbdsl.options.option`
        fields) on an input of ``shape`` (used only where :attr:`needs_shape`)."""
        if cls.needs_shape:
            if shape is None:
                raise ValueError(f"`{cls.name}` acts on the input's declared shape: pass shape=")
            return cls(shape=tuple(shape), **params)  # type: ignore[call-arg]
        return cls(**params)

    @classmethod
    def smoothable(cls) -> bool:
        """Whether :meth:`smoothed` is implemented (quasi-Newton solvers need it)."""
        return cls._smoothed is not Regulariser._smoothed

    @property
    def interval(self) -> tuple[float, float]:
        """``(lo, hi)`` of an ``interval`` term."""
        raise NotImplementedError(f"`{self.name}` is not an interval")

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

    def row_values(self, u: Any) -> Any:
        """``J`` of each row of ``u (B, n)``: shape ``(B,)`` (rows flat, as a sum holds them)."""
        return self._row_values(u)

    def subgradient(self, u: Any) -> Any:
        """``ξ ∈ ∂J(u)`` for rows ``u (B, n)`` (``NotImplementedError`` where none is given)."""
        return self._subgradient(u)

    def smoothed(self, u: Any, eps: float) -> tuple[Any, Any]:
        """``(J_ε(u), ∇J_ε(u))`` for rows ``u (B, n)``: a smooth ``J_ε ≥ J`` that tends to ``J``
        as ``ε → 0`` (``J`` itself where it is smooth) — what quasi-Newton solvers minimise."""
        return self._smoothed(u, eps)

    def prox_with_psi(self, psi: Any, w: Any, kappa: float, weight: float) -> Any:
        """``prox_{κ(Ψ + weight·J)}(w)`` for an activation's ``Ψ`` — the state update of lifted
        training with this penalty on the state (where :attr:`penalises_states`)."""
        raise NotImplementedError(f"`{self.name}` cannot penalise a hidden state")

    def project_dual(self, p: Any, radius: Any) -> Any:
        """``gradient`` terms ``J = h∘∇``: ``prox`` of ``(radius·h)*``, the projection of the
        dual variable ``p`` (of ``∇u``'s shape) — how primal–dual solvers reach ``radius·J``."""
        raise NotImplementedError(f"`{self.name}` is not a term of the gradient")

    def prox_with_dual(self, v: Any, c: float, *, tol: float, max_iter: int,
                       p0: Any = None) -> Any:
        """``gradient`` terms: ``prox_{cJ}(v)`` by an iteration on the dual, warm-started from
        ``p0``; a result with ``u``, the dual ``p`` (to pass back) and ``iterations``."""
        raise NotImplementedError(f"`{self.name}` is not a term of the gradient")

    # -- what subclasses provide -------------------------------------------------------------
    def _value(self, u: Any) -> Any:
        raise NotImplementedError

    def _row_values(self, u: Any) -> Any:
        raise NotImplementedError(f"`{self.name}` gives no per-row values")

    def _subgradient(self, u: Any) -> Any:
        raise NotImplementedError(f"`{self.name}` gives no subgradient")

    def _smoothed(self, u: Any, eps: float) -> tuple[Any, Any]:
        raise NotImplementedError(f"`{self.name}` has no smoothing for quasi-Newton solvers")

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
