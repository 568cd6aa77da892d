"""A sum of regularisers, normalised once, that asks its terms: what every solver (and
training's state penalties) reads instead of collapsing ``Σ_i w_i J_i`` by hand.

    J = Σ (gradient terms) + Σ (separable terms) + (c/2)‖·‖² + χ_{[lo, hi]} + Σ (prox terms)

:meth:`RegulariserSum.of` takes ``(regulariser, weight)`` pairs — ``Weighted`` wrappers
unwrapped, equal terms merged (weights added), zero weights dropped, ``interval`` terms
intersected into ``[lo, hi]`` — and refuses (``SolveError``) what cannot be normalised: a
negative or infinite weight, a shaped term on the wrong shape, an empty interval.  The terms
are kept in the order of their folds (:data:`~.base.FOLDS`), and each computes for itself; the
sum gives

* ``value`` (summed over everything) and ``row_values`` (per batch row), ``+∞`` outside the
  interval with each bound's rounding slack;
* the **quadratic fold** ``prox_{τ(h + (c/2)‖·‖²)}(v) = prox_{sh}(v/(1 + τc))``,
  ``s = τ/(1 + τc)`` (complete the square), :meth:`fold`;
* the prox of the **separable part** ``g = φ + (c/2)‖·‖² + χ_{[lo,hi]}`` (``φ`` the separable
  term): the fold, then, for a scalar convex φ and an interval I, ``prox_{φ + χ_I} = P_I ∘
  prox_φ`` (:meth:`prox_separable`; ``s`` may be an array, one step per entry, for diagonal
  preconditioning);
* the **dual projection** of the gradient term ``a·h(∇u)``, ``prox`` of ``(a·h)*``
  (:meth:`project_dual`), through which the primal–dual solvers reach TV;
* a **subgradient** ``ξ ∈ ∂J(u)`` — backpropagation through state penalties and the source
  condition of the α rules use it;
* the **smoothed** value and gradient ``J_ε``, ``∇J_ε`` for quasi-Newton solvers
  (:meth:`smoothed`).

What a solver can take is a question about the sum's :class:`RegulariserForm` — which terms
of which fold — answered by :data:`CAPABILITIES`; TV's prox, iterative and warm-started, is an
algorithm and lives with the solvers (:class:`lbdsl.solvers.input_prox.InputProx`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from array_api_compat import array_namespace

from ...errors import SolveError
from ...ops.gradient import Gradient
from .base import FOLDS, Regulariser, feasibility_tol, unweighted

__all__ = ["RegulariserSum", "RegulariserForm", "CAPABILITIES"]

Term = tuple[Regulariser, float]


@dataclass(frozen=True)
class RegulariserForm:
    """What a solver asks of a sum before it exists: its terms, each as ``(name, fold,
    smoothable)``, in the order of the folds."""

    terms: tuple[tuple[str, str, bool], ...] = ()

    @classmethod
    def of(cls, classes: Iterable[type[Regulariser]]) -> "RegulariserForm":
        terms = [(c.name, c.fold, c.smoothable()) for c in classes]
        return cls(tuple(sorted(terms, key=lambda t: FOLDS.index(t[1]))))

    def names(self, *folds: str) -> tuple[str, ...]:
        return tuple(name for name, fold, _ in self.terms if fold in folds)

    def alone(self) -> tuple["RegulariserForm", ...]:
        """Each term as a form of its own."""
        return tuple(RegulariserForm((t,)) for t in self.terms)


def _one_each(form: RegulariserForm, why: str) -> str | None:
    for fold, what in (("gradient", "gradient terms"), ("separable", "separable terms")):
        names = form.names(fold)
        if len(names) > 1:
            return (f"cannot combine the {what} `{names[0]}` and `{names[1]}` in one {why}: "
                    "each has a prox of its own, their sum has none")
    return None


def _proximable(form: RegulariserForm) -> str | None:
    """The prox of the whole sum in one step: at most one gradient and one separable term
    (with the quadratic and the interval), or one term with a prox of its own (with the
    quadratic)."""
    alone = form.names("prox")
    if alone:
        others = [n for n in form.names(*FOLDS) if n not in alone and
                  n not in form.names("quadratic")]
        if len(alone) > 1 or others:
            return (f"cannot combine `{alone[0]}` with `{(alone[1:] + tuple(others))[0]}` in "
                    f"one proximal step: `{alone[0]}` has only a prox of its own")
        return None
    return _one_each(form, "proximal step")


def _primal_dual(form: RegulariserForm) -> str | None:
    """Primal–dual splitting: ∇ in the dual, the separable part's prox in the primal."""
    alone = form.names("prox")
    if alone:
        return f"`{alone[0]}` is reached only through a prox of its own"
    return _one_each(form, "primal–dual step")


def _smoothable(form: RegulariserForm) -> str | None:
    """Quasi-Newton: every term smooth or smoothed, the interval by projection."""
    rough = [name for name, fold, smooth in form.terms if fold != "interval" and not smooth]
    return f"`{rough[0]}` has no smoothing" if rough else None


def _quadratic(form: RegulariserForm) -> str | None:
    """Closed-form coordinate steps: ``(c/2)‖u‖²`` alone."""
    other = [name for name, fold, _ in form.terms if fold != "quadratic"]
    return f"`{other[0]}` is not ½‖u‖²" if other else None


#: What a solver may ask of a regulariser sum: the capability's name → why a form falls short
#: of it (None: it does not).
CAPABILITIES: Mapping[str, Callable[[RegulariserForm], str | None]] = MappingProxyType({
    "proximable": _proximable, "primal_dual": _primal_dual, "smoothable": _smoothable,
    "quadratic": _quadratic})


@dataclass(frozen=True)
class RegulariserSum:
    """``J`` of the module docstring on arrays whose last axis flattens ``shape``."""

    shape: tuple[int, ...]
    terms: tuple[Term, ...] = ()

    @classmethod
    def of(cls, items: Iterable[tuple[Regulariser, float]],
           shape: tuple[int, ...]) -> "RegulariserSum":
        """The sum of ``weight · regulariser`` over ``items`` (module docstring)."""
        shape = tuple(int(n) for n in shape)
        merged: list[list[Any]] = []
        for reg, weight in items:
            reg, weight = unweighted(reg, float(weight))
            if reg.indicator:
                weight = 1.0
            elif not (math.isfinite(weight) and weight >= 0):
                raise SolveError(f"the weight of `{reg.name}` must be finite and >= 0, got "
                                 f"{weight:g}")
            elif weight == 0.0:
                continue
            same = next((m for m in merged if m[0] == reg and not reg.indicator), None)
            if same is None:
                merged.append([reg, 0.0 if not reg.indicator else 1.0])
                same = merged[-1]
            if not reg.indicator:
                same[1] += weight
        terms = tuple(sorted(((r, w) for r, w in merged), key=lambda t: FOLDS.index(t[0].fold)))
        shape = _common_shape(terms, shape)
        out = cls(shape, terms)
        if out.lo > out.hi:
            raise SolveError(f"the constraints on the input are empty (lo = {out.lo:g} > "
                             f"hi = {out.hi:g})")
        return out

    # -- the terms by fold --------------------------------------------------------------------
    def _fold(self, *folds: str) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t[0].fold in folds)

    @functools.cached_property
    def form(self) -> RegulariserForm:
        return RegulariserForm.of(type(r) for r, _ in self.terms)

    @functools.cached_property
    def quadratic_weight(self) -> float:
        """``c`` of the quadratic term ``(c/2)‖·‖²`` (0: none)."""
        return sum(w for _, w in self._fold("quadratic"))

    @functools.cached_property
    def _interval(self) -> tuple[float, float]:
        lo, hi = -math.inf, math.inf
        for reg, _ in self._fold("interval"):
            a, b = reg.interval
            lo, hi = max(lo, a), min(hi, b)
        return lo, hi

    @property
    def lo(self) -> float:
        return self._interval[0]

    @property
    def hi(self) -> float:
        return self._interval[1]

    @property
    def has_box(self) -> bool:
        return self.lo > -math.inf or self.hi < math.inf

    def _only(self, fold: str) -> Term | None:
        """The one term of ``fold``, if any (``SolveError`` if there are several)."""
        terms = self._fold(fold)
        if len(terms) > 1:
            raise SolveError(_one_each(self.form, "step") or _proximable(self.form) or "")
        return terms[0] if terms else None

    @property
    def separable_term(self) -> Term | None:
        """The separable term ``(φ, weight)``, if any (several: their sum has no prox)."""
        return self._only("separable")

    @property
    def gradient_term(self) -> Term | None:
        """The term ``a·h(∇u)`` reached through ∇, if any (one at most: one dual variable)."""
        return self._only("gradient")

    @property
    def prox_term(self) -> Term | None:
        """The term reached only through its own prox, if any (one at most)."""
        return self._only("prox")

    @property
    def has_separable_part(self) -> bool:
        """Whether ``g = φ + (c/2)‖·‖² + χ_{[lo,hi]}`` is not identically zero."""
        return bool(self._fold("separable", "quadratic")) or self.has_box

    @property
    def names(self) -> frozenset[str]:
        """The names of the terms present."""
        return frozenset(r.name for r, _ in self.terms)

    @property
    def gradient(self) -> Gradient | None:
        """``∇`` on the input's shape when a gradient term is present."""
        return Gradient(self.shape) if self._fold("gradient") else None

    def describe(self) -> str:
        parts = [f"{w:g}·{r.name}" for r, w in self.terms if r.fold != "interval"]
        if self.has_box:
            at = len(self._fold("gradient", "separable", "quadratic"))
            parts.insert(at, f"box({self.lo:g}, {self.hi:g})")
        return " + ".join(parts) or "0"

    # -- values ------------------------------------------------------------------------------
    def image(self, u: Any) -> Any:
        """Flat ``u (..., n)`` in the declared shape."""
        return array_namespace(u).reshape(u, (*u.shape[:-1], *self.shape))

    def _arg(self, reg: Regulariser, u: Any) -> Any:
        return self.image(u) if reg.needs_shape else u

    def value(self, u: Any) -> float:
        """``J(u)`` summed over batch axes (``+inf`` outside the interval, with rounding
        slack)."""
        xp = array_namespace(u)
        total = 0.0
        for reg, w in self._fold("gradient", "separable", "quadratic"):
            total += w * float(reg.value(self._arg(reg, u)))
        if self.has_box and not bool(xp.all(self._inside(u))):
            return math.inf
        for reg, w in self._fold("prox"):
            total += w * float(reg.value(self._arg(reg, u)))
        return total

    def row_values(self, u: Any) -> Any:
        """``J`` of each batch row of ``u (B, n)``: shape ``(B,)``."""
        xp = array_namespace(u)
        total = xp.zeros(u.shape[:1], dtype=u.dtype)
        for reg, w in self.terms:
            if reg.fold != "interval":
                total = total + w * reg.row_values(u)
        if self.has_box:
            inside = xp.all(self._inside(u), axis=-1)
            total = xp.where(inside, total, xp.full_like(total, math.inf))
        return total

    def _inside(self, u: Any) -> Any:
        """Entrywise ``lo ≤ u ≤ hi`` with each bound's slack ``√ε·max(1, |bound|)``."""
        slack = feasibility_tol(u)
        lo = self.lo - slack * max(1.0, abs(self.lo))
        hi = self.hi + slack * max(1.0, abs(self.hi))
        return (u >= lo) & (u <= hi)

    # -- proxes ------------------------------------------------------------------------------
    def fold(self, v: Any, tau: Any) -> tuple[Any, Any]:
        """``(v/(1 + τc), τ/(1 + τc))``: the quadratic term folded into any other prox."""
        c = self.quadratic_weight
        if not c:
            return v, tau
        return v / (1.0 + tau * c), tau / (1.0 + tau * c)

    def prox_folded(self, v: Any, s: Any) -> Any:
        """``prox_{s(φ + χ_{[lo,hi]})}(v) = clip(prox_{sφ}(v), lo, hi)`` (after the fold)."""
        xp = array_namespace(v)
        term = self.separable_term
        out = term[0].prox(v, s * term[1]) if term is not None else v
        if self.has_box:
            out = xp.clip(out, min=None if math.isinf(self.lo) else self.lo,
                          max=None if math.isinf(self.hi) else self.hi)
        return out

    def prox_separable(self, v: Any, s: Any) -> Any:
        """``prox_{s·g}(v)`` for the separable part ``g`` (module docstring)."""
        return self.prox_folded(*self.fold(v, s))

    def project_dual(self, p: Any, radius: Any = None) -> Any:
        """``prox_{σ(a·h)*}(p)`` (every σ) for the gradient term ``a·h(∇u)``: the projection
        of the dual variable onto its set of ``radius`` (default ``a``)."""
        reg, a = self.gradient_term  # type: ignore[misc]
        return reg.project_dual(p, a if radius is None else radius)

    def dual_radius(self, divisor: Any) -> Any:
        """``a / divisor`` for the gradient term's weight ``a`` (an ADMM penalty's radius)."""
        return self.gradient_term[1] / divisor  # type: ignore[index]

    # -- subgradients and smoothing ------------------------------------------------------------
    def subgradient(self, u: Any) -> Any:
        """``ξ ∈ ∂J(u)`` for rows ``u (B, n)``: each term's (the interval's is 0 inside)."""
        xi = array_namespace(u).zeros_like(u)
        for reg, w in self.terms:
            if reg.fold != "interval":
                xi = xi + w * _asked(reg.subgradient, u)
        return xi

    def smoothed(self, u: Any, eps: float) -> tuple[float, Any]:
        """``(J_ε(u), ∇J_ε(u))`` for rows ``u (B, n)``, each term's smoothing (the interval is
        left out: quasi-Newton solvers project onto it)."""
        value, grad = 0.0, array_namespace(u).zeros_like(u)
        for reg, w in self.terms:
            if reg.fold != "interval":
                v, g = _asked(reg.smoothed, u, eps)
                value += w * float(v)
                grad = grad + w * g
        return value, grad


def _asked(method: Callable[..., Any], *args: Any) -> Any:
    """A term's answer, or ``SolveError`` in its words where it has none."""
    try:
        return method(*args)
    except NotImplementedError as exc:
        raise SolveError(str(exc)) from None


def _common_shape(terms: tuple[Term, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the sum sees its rows in: that of its shaped terms (all the same, with the
    input's number of entries), else the input's."""
    shaped = [r for r, _ in terms if r.needs_shape]
    for reg in shaped:
        if math.prod(reg.shape) != math.prod(shape):  # type: ignore[attr-defined]
            raise SolveError(f"{reg.name} acts on shape {reg.shape} but the input has shape "  # type: ignore[attr-defined]
                             f"{shape}")
        if tuple(reg.shape) != tuple(shaped[0].shape):  # type: ignore[attr-defined]
            raise SolveError(f"`{shaped[0].name}` and `{reg.name}` act on different shapes and "
                             "cannot be combined")
    return tuple(shaped[0].shape) if shaped else shape  # type: ignore[attr-defined]
