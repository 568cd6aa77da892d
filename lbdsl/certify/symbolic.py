"""Exact convexity certificate for block-identity structures (math.md §4).

When ``V = Wᵀ`` and every block of ``K`` and ``M`` is a multiple of one identity, the seed's
condition ``Q = λKᵀK − ρ⁻¹I − M − Mᵀ ⪰ 0`` reduces to the small matrix

    A(λ, ρ) = B(λ) − ρ⁻¹ I,      B(λ) = λ kᵀk − m − mᵀ,

(``k``, ``m`` the block coefficients; ``Q = A ⊗ I_n``).  Hence ``A ⪰ 0  ⇔  ρ⁻¹ ≤ λ_min(B)``:
certified for every ``ρ ≥ 1/λ_min(B)`` when ``λ_min(B) > 0`` and for no ``ρ > 0`` otherwise.

Everything is decided in exact rational arithmetic.  ``p_B(x) = det(xI − B)`` is real-rooted
(``B`` symmetric), so ``B − tI ⪰ 0`` iff the coefficients of ``p_B(x + t)`` alternate in sign
(Descartes: a polynomial with non-negative coefficients has no positive root).  ``λ_min(B)``
is the smallest root of ``p_B`` — exactly ``CRootOf(p_B, 0)``; a floating estimate is bracketed
rigorously by two such exact tests.  The characteristic polynomial of a tridiagonal ``B`` (every
chain of layers) comes from the three-term recurrence in O(p²) operations, otherwise from
sympy's DomainMatrix in O(p⁴) — so certifying an l-layer residual network is quadratic in l.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

__all__ = ["SymbolicResult", "rational", "coefficient_matrix", "certify_blocks", "psd_exact"]

_X = sp.Symbol("x")
LAM, RHO = sp.symbols("lambda rho", positive=True)


def rational(value: float | int | str | Fraction) -> sp.Rational:
    """The exact rational a spec number denotes (``0.1`` is 1/10, not the nearest double)."""
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):  # also numpy floats, whose repr is not a number
        value = repr(float(value))
    return sp.Rational(str(value))


@dataclass(frozen=True)
class SymbolicResult:
    """The exact verdict for ``A(λ, ρ) = λkᵀk − ρ⁻¹I − m − mᵀ``.

    ``lambda_min_b`` brackets λ_min(B) rigorously; ``rho_min`` is ``1/λ_min(B)`` (None when no
    ρ > 0 certifies); ``certified`` is the exact verdict at the given ρ (None if ρ not given).
    """

    lam: sp.Rational
    rho: sp.Rational | None
    kk: sp.Matrix  # kᵀk
    m_sym: sp.Matrix  # m + mᵀ
    b_matrix: sp.Matrix
    charpoly: sp.Poly
    lambda_min_b: tuple[Fraction, Fraction]
    rho_min_exact: sp.Expr | None
    certified: bool | None
    certifiable: bool
    eigvec: np.ndarray

    @property
    def rho_min(self) -> float | None:
        """``1/λ_min(B)`` as a float (upper end of the rigorous bracket), or None."""
        if not self.certifiable:
            return None
        return float(1 / self.lambda_min_b[0])

    @property
    def lambda_min_b_float(self) -> float:
        lo, hi = self.lambda_min_b
        return float((lo + hi) / 2)

    def a_matrix(self) -> sp.Matrix:
        """``A(λ, ρ)`` with λ and ρ as symbols (for reports)."""
        p = self.b_matrix.shape[0]
        return self.kk * LAM - self.m_sym - sp.eye(p) / RHO


def coefficient_matrix(shape: tuple[int, int], entries: dict[tuple[int, int], object]) -> sp.Matrix:
    """A sympy matrix of block coefficients from ``{(row, col): coefficient}``."""
    mat = sp.zeros(*shape)
    for (i, j), c in entries.items():
        mat[i, j] += rational(c) if not isinstance(c, sp.Basic) else c
    return mat


def _charpoly(b: sp.Matrix) -> sp.Poly:
    """``det(xI − B)`` over QQ; the three-term recurrence when ``B`` is tridiagonal."""
    p = b.shape[0]
    tridiagonal = all(b[i, j] == 0 for i in range(p) for j in range(p) if abs(i - j) > 1)
    if not tridiagonal:
        dm = DomainMatrix.from_Matrix(b).convert_to(sp.QQ)
        return sp.Poly(dm.charpoly(), _X, domain=sp.QQ)
    x = sp.Poly(_X, _X, domain=sp.QQ)
    prev, cur = sp.Poly(1, _X, domain=sp.QQ), x - b[0, 0]
    for i in range(1, p):
        prev, cur = cur, (x - b[i, i]) * cur - b[i, i - 1] * b[i - 1, i] * prev
    return cur


def _all_roots_at_least(poly: sp.Poly, t: sp.Rational) -> bool:
    """Exact test ``every root of poly ≥ t`` for a real-rooted monic poly (Descartes' rule)."""
    shifted = poly.shift(t).all_coeffs()  # p(x + t), highest degree first
    return all(c * (-1) ** j >= 0 for j, c in enumerate(shifted))


def psd_exact(b: sp.Matrix, t: sp.Rational) -> bool:
    """Exactly decide ``B − tI ⪰ 0`` for a symmetric rational ``B``."""
    return _all_roots_at_least(_charpoly(b), t)


def _bracket_min_root(poly: sp.Poly, estimate: float, scale: float) -> tuple[Fraction, Fraction]:
    """A rigorous bracket ``lo ≤ λ_min ≤ hi`` around a floating estimate, by exact tests."""
    width = 1e-12 * max(scale, 1.0)
    for _ in range(40):
        lo = rational(Fraction(estimate - width))
        hi = rational(Fraction(estimate + width))
        if _all_roots_at_least(poly, lo) and not _all_roots_at_least(poly, hi):
            return Fraction(int(lo.p), int(lo.q)), Fraction(int(hi.p), int(hi.q))
        width *= 4
    raise ArithmeticError("could not bracket the smallest eigenvalue")  # pragma: no cover


def _closed_form_min_root(poly: sp.Poly) -> sp.Expr:
    """λ_min exactly: radicals for degree ≤ 4 when sympy finds them, else ``CRootOf(p, 0)``."""
    if poly.degree() <= 4:
        roots = [r for r in sp.roots(poly, multiple=True) if r.is_real]
        if len(roots) == poly.degree():
            return min(roots, key=lambda r: float(r))
    return sp.CRootOf(poly.as_expr(), 0, radicals=False) if poly.degree() <= 12 else \
        sp.Function("CRootOf")(poly.as_expr(), 0)


def certify_blocks(k: sp.Matrix, m: sp.Matrix, lam: object, rho: object | None) -> SymbolicResult:
    """Decide ``λkᵀk − ρ⁻¹I − m − mᵀ ⪰ 0`` exactly and find the set of ρ where it holds."""
    lam_q = rational(lam) if not isinstance(lam, sp.Basic) else lam
    k_term = (k.T * k).applyfunc(sp.nsimplify)
    m_sym = (m + m.T).applyfunc(sp.nsimplify)
    b = lam_q * k_term - m_sym
    poly = _charpoly(b)
    b_float = np.array(b.tolist(), dtype=float)
    evals, evecs = np.linalg.eigh(b_float)
    scale = float(np.max(np.abs(b_float))) if b_float.size else 1.0
    lo, hi = _bracket_min_root(poly, float(evals[0]), scale)
    # λ_min(B) > 0 exactly ⇔ B ⪰ 0 and det B ≠ 0
    certifiable = _all_roots_at_least(poly, sp.Rational(0)) and poly.eval(0) != 0
    rho_q = None if rho is None else (rational(rho) if not isinstance(rho, sp.Basic) else rho)
    verdict = None if rho_q is None else _all_roots_at_least(poly, 1 / rho_q)
    exact = 1 / _closed_form_min_root(poly) if certifiable else None
    return SymbolicResult(lam_q, rho_q, k_term, m_sym, b, poly, (lo, hi), exact, verdict,
                          certifiable, evecs[:, 0])
