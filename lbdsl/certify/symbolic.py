"""Exact convexity certificate for block-identity structures (math.md §4).

When ``V = Wᵀ`` and every block of ``K`` and ``M`` is a multiple of one identity, the seed's
condition ``Q = λKᵀK − ρ⁻¹I − M − Mᵀ ⪰ 0`` reduces to the small matrix

    A(λ, ρ) = B(λ) − ρ⁻¹ I,      B(λ) = λ kᵀk − m − mᵀ,

(``k``, ``m`` the block coefficients; ``Q = A ⊗ I_n``).  Hence ``A ⪰ 0  ⇔  ρ⁻¹ ≤ λ_min(B)``:
certified for every ``ρ ≥ 1/λ_min(B)`` when ``λ_min(B) > 0`` and for no ``ρ > 0`` otherwise.

Everything is decided in exact rational arithmetic, by counting the eigenvalues of ``B`` below
a rational ``t``:

- ``B`` tridiagonal (every chain of layers): Sylvester's law of inertia on the pivots of the
  LDLᵀ factorisation of ``B − tI`` — O(p) exact operations per test, O(p²) for the
  characteristic polynomial by the three-term recurrence, so depth scales quadratically;
- otherwise: ``p_B(x) = det(xI − B)`` is real-rooted (``B`` symmetric), and ``B − tI ⪰ 0`` iff
  the coefficients of ``p_B(x + t)`` alternate in sign (Descartes' rule of signs).

``λ_min(B)`` is exactly the smallest root ``CRootOf(p_B, 0)`` (radicals when sympy finds them);
its floating value is bracketed rigorously by two exact tests around a LAPACK estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

__all__ = ["SymbolicResult", "rational", "coefficient_matrix", "certify_blocks", "psd_exact",
           "LAM", "RHO"]

_X = sp.Symbol("x")
LAM, RHO = sp.symbols("lambda rho", positive=True)

Matrix = list[list[Fraction]]


def rational(value: float | int | str | Fraction) -> Fraction:
    """The exact rational a spec number denotes (``0.1`` is 1/10, not the nearest double)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):  # also numpy floats, whose repr is not a number
        value = repr(float(value))
    return Fraction(str(value))


def coefficient_matrix(shape: tuple[int, int], entries: dict[tuple[int, int], object]) -> Matrix:
    """A dense matrix of exact block coefficients from ``{(row, col): coefficient}``."""
    mat = [[Fraction(0)] * shape[1] for _ in range(shape[0])]
    for (i, j), c in entries.items():
        mat[i][j] += rational(c)  # type: ignore[arg-type]
    return mat


def _sym(mat: Matrix) -> sp.Matrix:
    return sp.Matrix([[sp.Rational(e.numerator, e.denominator) for e in row] for row in mat])


@dataclass(frozen=True)
class SymbolicResult:
    """The exact verdict for ``A(λ, ρ) = λkᵀk − ρ⁻¹I − m − mᵀ + μ e₀e₀ᵀ``.

    ``lambda_min_b`` brackets λ_min(B) rigorously; ``certifiable`` says whether some ρ > 0
    certifies (λ_min(B) > 0); ``certified`` is the exact verdict at the given ρ (None if none).
    """

    lam: Fraction
    rho: Fraction | None
    kk: Matrix                 # kᵀk
    m_sym: Matrix              # m + mᵀ
    b_matrix: Matrix           # B(λ)
    lambda_min_b: tuple[Fraction, Fraction]
    certified: bool | None
    certifiable: bool
    eigvec: np.ndarray
    modulus: Fraction = Fraction(0)   # μ, added to B's input entry

    @property
    def rho_min(self) -> float | None:
        """``1/λ_min(B)`` as a float (from the rigorous bracket), or None."""
        if not self.certifiable:
            return None
        lo, hi = self.lambda_min_b
        return float(2 / (lo + hi))

    @property
    def lambda_min_b_float(self) -> float:
        lo, hi = self.lambda_min_b
        return float((lo + hi) / 2)

    def charpoly(self) -> sp.Poly:
        """``det(xI − B)`` over QQ (computed on demand: it is only needed for exact output)."""
        return _charpoly(self.b_matrix)

    def rho_min_exact(self) -> sp.Expr | None:
        """``1/λ_min(B)`` exactly: radicals where sympy finds them, else ``1/CRootOf(p_B, 0)``."""
        if not self.certifiable:
            return None
        return 1 / _closed_form_min_root(self.charpoly())

    def a_matrix(self) -> sp.Matrix:
        """``A(λ, ρ)`` with λ and ρ as symbols (for reports)."""
        p = len(self.b_matrix)
        mu = sp.zeros(p, p)
        mu[0, 0] = sp.Rational(self.modulus.numerator, self.modulus.denominator)
        return LAM * _sym(self.kk) - _sym(self.m_sym) - sp.eye(p) / RHO + mu


def _is_tridiagonal(b: Matrix) -> bool:
    p = len(b)
    return all(b[i][j] == 0 for i in range(p) for j in range(p) if abs(i - j) > 1)


def _charpoly(b: Matrix) -> sp.Poly:
    """``det(xI − B)`` over QQ; the three-term recurrence when ``B`` is tridiagonal."""
    if not _is_tridiagonal(b):
        dm = DomainMatrix.from_Matrix(_sym(b)).convert_to(sp.QQ)
        return sp.Poly(dm.charpoly(), _X, domain=sp.QQ)
    # coefficient lists, lowest degree first: p_i = (x − a_i) p_{i−1} − b_{i−1}² p_{i−2}
    prev: list[Fraction] = [Fraction(1)]
    cur: list[Fraction] = [-b[0][0], Fraction(1)]
    for i in range(1, len(b)):
        nxt = [Fraction(0)] + cur  # x · p_{i−1}
        for d, c in enumerate(cur):
            nxt[d] -= b[i][i] * c
        off = b[i][i - 1] * b[i - 1][i]
        for d, c in enumerate(prev):
            nxt[d] -= off * c
        prev, cur = cur, nxt
    coeffs = [sp.Rational(c.numerator, c.denominator) for c in reversed(cur)]
    return sp.Poly(coeffs, _X, domain=sp.QQ)


def _count_below_tridiagonal(b: Matrix, t: Fraction) -> int | None:
    """#eigenvalues of tridiagonal ``B`` below ``t`` (inertia of LDLᵀ); None on a zero pivot."""
    count = 0
    d = b[0][0] - t
    for i in range(len(b)):
        if i:
            if d == 0:
                return None
            d = (b[i][i] - t) - b[i][i - 1] * b[i - 1][i] / d
        if d < 0:
            count += 1
    return None if d == 0 else count


def _all_roots_at_least(poly: sp.Poly, t: Fraction) -> bool:
    """Exact test ``every root of poly ≥ t`` for a real-rooted monic poly (Descartes' rule)."""
    shifted = poly.shift(sp.Rational(t.numerator, t.denominator)).all_coeffs()
    return all(c * (-1) ** j >= 0 for j, c in enumerate(shifted))


def psd_exact(b: Matrix, t: Fraction | int = 0) -> bool:
    """Exactly decide ``B − tI ⪰ 0`` for a symmetric rational ``B``."""
    t = Fraction(t)
    if _is_tridiagonal(b):
        count = _count_below_tridiagonal(b, t)
        if count is not None:
            return count == 0
    return _all_roots_at_least(_charpoly(b), t)


def _bracket_min_eigenvalue(b: Matrix, estimate: float, scale: float
                            ) -> tuple[Fraction, Fraction]:
    """A rigorous bracket ``lo ≤ λ_min ≤ hi`` around a floating estimate, by exact tests."""
    width = 1e-12 * max(scale, 1.0)
    for _ in range(40):
        lo, hi = Fraction(estimate - width), Fraction(estimate + width)
        if psd_exact(b, lo) and not psd_exact(b, hi):
            return _narrow(b, lo, hi)
        width *= 4
    raise ArithmeticError("could not bracket the smallest eigenvalue")  # pragma: no cover


def _narrow(b: Matrix, lo: Fraction, hi: Fraction, rel: float = 1e-12,
            steps: int = 400) -> tuple[Fraction, Fraction]:
    """Exact bisection of ``[lo, hi]`` (``psd_exact(b, lo)``, not at ``hi``) until it is
    ``rel`` of its own size: the float estimate is only good to ``ε‖B‖``, which a large λ makes
    larger than λ_min itself."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        if hi - lo <= rel * max(abs(lo), abs(hi)) or mid in (lo, hi):
            break
        if psd_exact(b, mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


def _closed_form_min_root(poly: sp.Poly) -> sp.Expr:
    """λ_min exactly: radicals for degree ≤ 4 when sympy finds them, else ``CRootOf(p, 0)``."""
    if poly.degree() <= 4:
        roots = [r for r in sp.roots(poly, multiple=True) if r.is_real]
        if len(roots) == poly.degree():
            return min(roots, key=lambda r: float(r))
    # CRootOf(p, 0) is the smallest real root; build it unevaluated for large degrees, where
    # sympy's root isolation is slow and the floating bracket already gives the value
    if poly.degree() <= 12:
        return sp.CRootOf(poly.as_expr(), 0)
    return sp.Symbol(f"CRootOf({_poly_text(poly)}, 0)")


def _poly_text(poly: sp.Poly) -> str:
    """``x**3 - 5*x**2 + …`` written directly from the coefficients (sympy's printer is slow
    for degree ~100)."""
    terms = []
    for (deg,), c in poly.terms():
        mag = abs(c)
        coef = "" if (mag == 1 and deg) else str(mag)
        power = "" if deg == 0 else ("x" if deg == 1 else f"x**{deg}")
        body = f"{coef}*{power}" if coef and power else (coef or power)
        terms.append(("- " if c < 0 else "+ ") + body)
    text = " ".join(terms)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def certify_blocks(k: Matrix, m: Matrix, lam: object, rho: object | None,
                   modulus: object = 0) -> SymbolicResult:
    """Decide ``λkᵀk − ρ⁻¹I − m − mᵀ + μ e₀e₀ᵀ ⪰ 0`` exactly and find the set of ρ where it
    holds (``μ = modulus``: the strong convexity of the regulariser on the input block 0)."""
    lam_q = rational(lam)  # type: ignore[arg-type]
    mu_q = rational(modulus)  # type: ignore[arg-type]
    p = len(m)
    kk = [[Fraction(0)] * p for _ in range(p)]
    for row in k:  # kᵀk from the nonzero coefficients only (K selects one or a few blocks)
        nz = [(i, c) for i, c in enumerate(row) if c]
        for i, ci in nz:
            for j, cj in nz:
                kk[i][j] += ci * cj
    m_sym = [[m[i][j] + m[j][i] for j in range(p)] for i in range(p)]
    b = [[lam_q * kk[i][j] - m_sym[i][j] for j in range(p)] for i in range(p)]
    b[0][0] += mu_q
    b_float = np.array([[float(e) for e in row] for row in b])
    evals, evecs = np.linalg.eigh(b_float)
    scale = float(np.max(np.abs(b_float))) if b_float.size else 1.0
    lo, hi = _bracket_min_eigenvalue(b, float(evals[0]), scale)
    # λ_min(B) > 0 exactly ⇔ B ⪰ 0 and det B ≠ 0; the bracket decides unless it straddles 0
    certifiable = lo > 0 or (hi > 0 and psd_exact(b, Fraction(0)) and
                             _charpoly(b).coeff_monomial(1) != 0)  # det B = ±p_B(0)
    rho_q = None if rho is None else rational(rho)  # type: ignore[arg-type]
    verdict = None if rho_q is None else psd_exact(b, 1 / rho_q)
    return SymbolicResult(lam_q, rho_q, kk, m_sym, b, (lo, hi), verdict, certifiable,
                          evecs[:, 0], mu_q)
