"""Convexity certificate for block-identity structures (math.md §4): exact, and bounded.

When ``V = Wᵀ`` and every block of ``K`` and ``M`` is a multiple of one identity, the seed's
condition ``Q = λKᵀK − ρ⁻¹I − M − Mᵀ ⪰ 0`` reduces to the small matrix

    A(λ, ρ) = B(λ) − ρ⁻¹ I,      B(λ) = λ kᵀk − m − mᵀ,

(``k``, ``m`` the block coefficients; ``Q = A ⊗ I_n``).  Hence ``A ⪰ 0  ⇔  ρ⁻¹ ≤ λ_min(B)``:
certified for every ``ρ ≥ 1/λ_min(B)`` when ``λ_min(B) > 0`` and for no ``ρ > 0`` otherwise.

The coefficients are kept sparse, and ``B`` is held as integers over one common denominator (a
chain of ``l`` layers has ``p = l + 1`` blocks and about ``3p`` nonzero coefficients; nothing
of size ``p²`` is made, and no rational is normalised by a gcd in the loops).  Up to
:data:`EXACT_LIMIT` blocks everything is decided in exact arithmetic, by counting the
eigenvalues of ``B`` below a rational ``t``:

- ``B`` tridiagonal (every chain of layers): the signs of the leading principal minors of
  ``B − tI`` (Sturm / Sylvester), by the three-term recurrence in *integers* (``B − tI`` scaled
  by its common denominator): p big-integer steps per test, each linear in the size of the
  minors, which grows linearly with p — one exact test costs O(p²) bit operations;
- otherwise: ``p_B(x) = det(xI − B)`` is real-rooted (``B`` symmetric), and ``B − tI ⪰ 0`` iff
  the coefficients of ``p_B(x + t)`` alternate in sign (Descartes' rule of signs).

``λ_min(B)`` is exactly the smallest root ``CRootOf(p_B, 0)`` (radicals when sympy finds them);
its floating value is bracketed rigorously by exact tests around a LAPACK estimate: two tests
confirm the estimate's error bound, one secant step on the exact determinants at the bracket's
ends proposes λ_min to about 16 digits, and two more tests confirm a bracket of relative width
``2.5·10⁻¹³`` (bisection when they do not) — about five exact tests per certificate.

Beyond :data:`EXACT_LIMIT` blocks ``λ_min(B)`` of the tridiagonal ``B`` is bracketed in
floating point instead (:class:`.floating.Floats`): LAPACK's bisection (``dstebz``) estimates
it, and two Sturm counts in float64 — O(p) each, on ``B`` with its diagonal rounded *down* at the
lower end and *up* at the upper — confirm a bracket, widened by the counts' rounding bound.  It
is conservative by construction: certified only when ``1/ρ`` is at most the bracket's lower
end.  The result says ``exact = False``; the certificate is then of kind ``numeric`` and says
why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from .floating import Floats, down_up

__all__ = ["SymbolicResult", "Sparse", "rational", "coefficient_matrix", "certify_blocks",
           "verdict_blocks", "psd_exact", "EXACT_LIMIT", "POLY_LIMIT", "POLY_TEXT_DIGITS",
           "CROSS_CHECK_LIMIT", "LAM", "RHO"]

#: The most blocks ``p`` (a chain of ``p − 1`` layers) decided in exact arithmetic; longer
#: chains are decided in floating point, the rounding counted against them.  One exact test
#: grows like p² (``bench/certify_depth.py``; 2-core AMD EPYC: about 0.05 s at p = 2001,
#: 0.3 s at p = 5001, 1 s at p = 10001), a certificate needs about five, and a failed one's
#: fix search some fifteen more (docs/performance.md).
EXACT_LIMIT = 2001

#: The exact threshold ``1/CRootOf(p_B, 0)`` is written out (``rho_min_exact``) up to this many
#: blocks: ``p_B`` has degree p and coefficients of about p digits, so its text grows like p²
#: (310 kB at p = 1001) and computing it like p³.
POLY_LIMIT = 1001

#: … and only while its coefficients have at most this many digits (Python writes no longer
#: integer as text by default).
POLY_TEXT_DIGITS = 4000

#: The most blocks whose λ_min is cross-checked by a second LAPACK algorithm (``dsterf``,
#: O(p²) time: 0.3 s at p = 5001); beyond, the bracket's own Sturm counts stand alone.
CROSS_CHECK_LIMIT = 5001

_X = sp.Symbol("x")
LAM, RHO = sp.symbols("lambda rho", positive=True)


def rational(value: float | int | str | Fraction) -> Fraction:
    """The exact rational a spec number denotes (``0.1`` is 1/10, not the nearest double)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):  # also numpy floats, whose repr is not a number
        value = repr(float(value))
    return Fraction(str(value))


@dataclass(frozen=True)
class Sparse:
    """An exact coefficient matrix: its shape and its nonzero entries ``{(row, col): q}``."""

    shape: tuple[int, int]
    entries: dict[tuple[int, int], Fraction] = field(default_factory=dict)

    def dense(self) -> list[list[Fraction]]:
        """The dense matrix (for small ones only: reports, the general exact route)."""
        out = [[Fraction(0)] * self.shape[1] for _ in range(self.shape[0])]
        for (i, j), c in self.entries.items():
            out[i][j] = c
        return out

    def denominator(self) -> int:
        den = 1
        for c in self.entries.values():
            den = math.lcm(den, c.denominator)
        return den


def coefficient_matrix(shape: tuple[int, int], entries: dict[tuple[int, int], object]) -> Sparse:
    """The exact block coefficients from ``{(row, col): coefficient}`` (zeros dropped)."""
    out: dict[tuple[int, int], Fraction] = {}
    for key, c in entries.items():
        q = rational(c)  # type: ignore[arg-type]
        out[key] = out[key] + q if key in out else q
    return Sparse(shape, {key: c for key, c in out.items() if c})


def _sym(mat: list[list[Fraction]]) -> sp.Matrix:
    return sp.Matrix([[sp.Rational(e.numerator, e.denominator) for e in row] for row in mat])


@dataclass(frozen=True)
class _Scaled:
    """``B = entries / den``: a symmetric matrix of integers over one common denominator."""

    p: int
    den: int
    entries: dict[tuple[int, int], int]

    def sparse(self) -> Sparse:
        return Sparse((self.p, self.p), {key: Fraction(c, self.den)
                                         for key, c in self.entries.items()})


def _scaled_b(k: Sparse, m: Sparse, lam: Fraction, mu: Fraction) -> _Scaled:
    """``B = λkᵀk − m − mᵀ + μe₀e₀ᵀ`` in integers: ``den = lcm(λ_den·D_k², D_m, μ_den)``."""
    dk, dm = k.denominator(), m.denominator()
    den = math.lcm(lam.denominator * dk * dk, dm, mu.denominator)
    b: dict[tuple[int, int], int] = {}
    rows: dict[int, list[tuple[int, int]]] = {}
    for (r, i), c in k.entries.items():   # kᵀk from the nonzero coefficients only
        rows.setdefault(r, []).append((i, c.numerator * (dk // c.denominator)))
    lam_scale = lam.numerator * (den // (lam.denominator * dk * dk))
    for nz in rows.values():
        for i, ci in nz:
            for j, cj in nz:
                b[(i, j)] = b.get((i, j), 0) + lam_scale * ci * cj
    m_scale = den // dm
    for (i, j), c in m.entries.items():
        v = c.numerator * (dm // c.denominator) * m_scale
        b[(i, j)] = b.get((i, j), 0) - v
        b[(j, i)] = b.get((j, i), 0) - v
    if mu:
        b[(0, 0)] = b.get((0, 0), 0) + mu.numerator * (den // mu.denominator)
    return _Scaled(m.shape[0], den, {key: c for key, c in b.items() if c})


class _Tridiagonal:
    """A symmetric tridiagonal ``B`` with diagonal ``a_int/den`` and off-diagonal
    ``off_int/den`` (integers)."""

    def __init__(self, a_int: list[int], off_int: list[int], den: int) -> None:
        self.a_int, self.off_int, self.den = a_int, off_int, den
        self.e_int = [o * o for o in off_int]          # den²·b_i²

    def count_below(self, t: Fraction) -> tuple[int, bool]:
        """``(#eigenvalues < t, whether t is one)``: :meth:`sturm` without the determinant."""
        return self.sturm(t)[:2]

    def sturm(self, t: Fraction) -> tuple[int, bool, float | None]:
        """``(#eigenvalues < t, whether t is one, log₂|det(B − tI)|)``, exactly (the last only
        for an unreduced ``B``, and None when singular): sign changes of the leading principal
        minors of ``C = den·t_den·(B − tI)`` (integers), by the three-term recurrence.

        Within an unreduced block (nonzero off-diagonals) a zero minor ``P_i`` before the last
        has neighbours of opposite signs (``P_{i+1} = −e P_{i−1}``) and counts as one change
        (Frobenius); a zero last minor means ``t`` is an eigenvalue, not counted (interlacing:
        the leading block has as many eigenvalues below ``t``).  A zero off-diagonal splits the
        matrix: the count restarts."""
        tn, td = t.numerator, t.denominator
        shift = self.den * tn
        d2 = td * td
        a_int, e_int = self.a_int, self.e_int
        count, singular = 0, False
        prev, cur = 0, 1            # P_{i−1}, P_i of the current block
        prev_sign = 1               # the sign P_i counted with
        p = len(a_int)
        for i in range(p):
            c = a_int[i] * td - shift
            if i and e_int[i - 1]:
                nxt = c * cur - d2 * e_int[i - 1] * prev
            else:                   # the start of a block (i = 0 or a zero off-diagonal)
                nxt = c
                cur, prev_sign = 1, 1   # P_0 = 1 of the new block
            if nxt == 0:
                if i == p - 1 or not e_int[i]:
                    singular = True
                    sign = 1        # a new block starts after it with sign +1 anyway
                else:
                    sign = -prev_sign
                    count += 1
            else:
                sign = 1 if nxt > 0 else -1
                if sign != prev_sign:
                    count += 1
            prev, cur, prev_sign = cur, nxt, sign
        if singular or 0 in e_int:
            return count, singular, None
        # det(B − tI) = P_p / (den·t_den)^p
        return count, singular, math.log2(abs(cur)) - p * math.log2(self.den * td)

    def charpoly_int(self) -> list[int]:
        """Coefficients (lowest degree first) of ``det(yI − den·B)``, integers, by the
        recurrence ``p_i = (y − den·a_i) p_{i−1} − den²b_{i−1}² p_{i−2}`` on object arrays."""
        prev = np.array([1], dtype=object)
        cur = np.array([-self.a_int[0], 1], dtype=object)
        for i in range(1, len(self.a_int)):
            nxt = np.zeros(i + 2, dtype=object)
            nxt[1:] = cur
            nxt[:-1] -= self.a_int[i] * cur
            if self.e_int[i - 1]:
                nxt[:-2] -= self.e_int[i - 1] * prev
            prev, cur = cur, nxt
        return [int(c) for c in cur]

    def floats(self) -> tuple[np.ndarray, np.ndarray]:
        """The diagonal and off-diagonal, each entry correctly rounded to float64."""
        den = self.den
        return (np.array([a / den for a in self.a_int], dtype=float),
                np.array([o / den for o in self.off_int], dtype=float))


def _tridiagonal(b: _Scaled) -> _Tridiagonal | None:
    if any(abs(i - j) > 1 for i, j in b.entries):
        return None
    get = b.entries.get
    return _Tridiagonal([get((i, i), 0) for i in range(b.p)],
                        [get((i + 1, i), 0) for i in range(b.p - 1)], b.den)


def _as_scaled(b: Sparse | list[list[Fraction]]) -> _Scaled:
    if not isinstance(b, Sparse):
        b = coefficient_matrix((len(b), len(b)), {(i, j): c for i, row in enumerate(b)
                                                  for j, c in enumerate(row) if c})
    den = b.denominator()
    return _Scaled(b.shape[0], den, {key: c.numerator * (den // c.denominator)
                                     for key, c in b.entries.items()})


@dataclass(frozen=True)
class SymbolicResult:
    """The verdict for ``A(λ, ρ) = λkᵀk − ρ⁻¹I − m − mᵀ + μ e₀e₀ᵀ``.

    ``lambda_min_b`` brackets λ_min(B) rigorously (``exact``: by exact tests; else by float64
    Sturm counts around LAPACK's estimate, :class:`.floating.Floats`); ``certifiable`` says whether
    some ρ > 0 certifies (λ_min(B) > 0, resolved); ``certified`` is the verdict at the given ρ
    (None if none) — in floating point, certified only when a count proves λ_min(B) ≥ 1/ρ.
    """

    lam: Fraction
    rho: Fraction | None
    k: Sparse
    m: Sparse
    b: _Scaled                 # B(λ) as integers / den
    lambda_min_b: tuple[Fraction, Fraction]
    certified: bool | None
    certifiable: bool
    eigvec: np.ndarray
    modulus: Fraction = Fraction(0)   # μ, added to B's input entry
    exact: bool = True

    @property
    def blocks(self) -> int:
        return self.b.p

    @property
    def b_matrix(self) -> Sparse:
        """``B(λ)`` with rational entries."""
        return self.b.sparse()

    @property
    def rho_min(self) -> float | None:
        """``1/λ_min(B)`` as a float, or None: the bracket's midpoint (exact route) or
        ``1/lower end`` (floating point: every ρ from there on is certified by it)."""
        if not self.certifiable:
            return None
        lo, hi = self.lambda_min_b
        return float(2 / (lo + hi)) if self.exact else float(1 / lo)

    @property
    def lambda_min_b_float(self) -> float:
        lo, hi = self.lambda_min_b
        return float((lo + hi) / 2)

    def charpoly(self) -> sp.Poly:
        """``det(xI − B)`` over QQ (computed on demand: it is only needed for exact output)."""
        return _charpoly(self.b)

    def rho_min_exact(self) -> sp.Expr | None:
        """``1/λ_min(B)`` exactly: radicals where sympy finds them, else ``1/CRootOf(p_B, 0)``;
        None when not certifiable, on the floating-point route, beyond :data:`POLY_LIMIT`
        blocks, or when ``p_B``'s coefficients exceed :data:`POLY_TEXT_DIGITS` digits."""
        if not self.certifiable or not self.exact or self.blocks > POLY_LIMIT:
            return None
        tri = _tridiagonal(self.b)
        if tri is None:
            return 1 / _closed_form_min_root(self.charpoly())
        coeffs = tri.charpoly_int()
        if max(abs(c) for c in coeffs).bit_length() > POLY_TEXT_DIGITS * 3.32:
            return None
        # λ_min(B) = (smallest root of det(yI − den·B)) / den
        poly = sp.Poly([sp.Integer(c) for c in reversed(coeffs)], _X, domain=sp.ZZ)
        if tri.den == 1:
            return 1 / _closed_form_min_root(poly)
        return sp.Integer(tri.den) / _closed_form_min_root(poly)

    def a_matrix(self) -> sp.Matrix:
        """``A(λ, ρ)`` with λ and ρ as symbols (for reports; small chains)."""
        p = self.blocks
        kk = sp.zeros(p, p)
        for (r, i), ci in self.k.entries.items():
            for (r2, j), cj in self.k.entries.items():
                if r == r2:
                    kk[i, j] += sp.Rational(ci.numerator * cj.numerator,
                                            ci.denominator * cj.denominator)
        ms = sp.zeros(p, p)
        for (i, j), c in self.m.entries.items():
            q = sp.Rational(c.numerator, c.denominator)
            ms[i, j] += q
            ms[j, i] += q
        mu = sp.zeros(p, p)
        mu[0, 0] = sp.Rational(self.modulus.numerator, self.modulus.denominator)
        return LAM * kk - ms - sp.eye(p) / RHO + mu

    def float_lambda_min(self, shift: float = 0.0) -> float | None:
        """λ_min(B − shift·I) by another LAPACK algorithm than the estimate's — a cross-check:
        implicit QL/QR (``dsterf``, all eigenvalues: O(p²) time, O(p) memory) on the
        tridiagonal B up to :data:`CROSS_CHECK_LIMIT` blocks (None beyond); dense eigenvalues
        for another structure.  (MRRR, ``dstemr``, would allocate p² floats here.)"""
        tri = _tridiagonal(self.b)
        if tri is not None and self.blocks > 1:
            if self.blocks > CROSS_CHECK_LIMIT:
                return None
            from scipy.linalg import eigh_tridiagonal

            diag, off = tri.floats()
            return float(eigh_tridiagonal(diag - shift, off, eigvals_only=True,
                                          lapack_driver="sterf")[0])
        b = np.array([[float(e) for e in row] for row in self.b_matrix.dense()])
        return float(np.linalg.eigvalsh(b - shift * np.eye(self.blocks))[0])


def _charpoly(b: _Scaled) -> sp.Poly:
    """``det(xI − B)`` over QQ; the integer three-term recurrence when ``B`` is tridiagonal."""
    tri = _tridiagonal(b)
    if tri is None:
        dm = DomainMatrix.from_Matrix(_sym(b.sparse().dense())).convert_to(sp.QQ)
        return sp.Poly(dm.charpoly(), _X, domain=sp.QQ)
    coeffs = tri.charpoly_int()   # of det(yI − den·B): x^j has den^{j − p}
    p = len(coeffs) - 1
    return sp.Poly([sp.Rational(c, tri.den ** (p - j)) for j, c in reversed(list(
        enumerate(coeffs)))], _X, domain=sp.QQ)


def _all_roots_at_least(poly: sp.Poly, t: Fraction) -> bool:
    """Exact test ``every root of poly ≥ t`` for a real-rooted monic poly (Descartes' rule)."""
    shifted = poly.shift(sp.Rational(t.numerator, t.denominator)).all_coeffs()
    return all(c * (-1) ** j >= 0 for j, c in enumerate(shifted))


def psd_exact(b: Sparse | list[list[Fraction]], t: Fraction | int = 0) -> bool:
    """Exactly decide ``B − tI ⪰ 0`` for a symmetric rational ``B`` (sparse or dense)."""
    return _Exact(_as_scaled(b)).psd(Fraction(t))


class _Exact:
    """The exact tests on one ``B``: tridiagonal recurrence or Descartes on ``p_B``."""

    def __init__(self, b: _Scaled, tri: _Tridiagonal | None = None) -> None:
        self.tri = tri if tri is not None else _tridiagonal(b)
        self.poly = None if self.tri is not None else _charpoly(b)
        self.tests = 0

    def psd(self, t: Fraction) -> bool:
        return self.test(t)[0] == 0

    def test(self, t: Fraction) -> tuple[int, bool, float | None]:
        """``(#eigenvalues < t, or 0/1 for "none"/"some" without the tridiagonal structure;
        whether t is an eigenvalue; log₂|det(B − tI)| or None)``."""
        self.tests += 1
        if self.tri is not None:
            return self.tri.sturm(t)
        return (0 if _all_roots_at_least(self.poly, t) else 1), False, None

    def positive_definite(self) -> bool:
        """``λ_min(B) > 0``: ``B ⪰ 0`` and ``det B ≠ 0``."""
        if self.tri is not None:
            count, singular = self.tri.count_below(Fraction(0))
            return count == 0 and not singular
        return self.psd(Fraction(0)) and self.poly.coeff_monomial(1) != 0  # det B = ±p_B(0)


def _bracket_min_eigenvalue(exact: _Exact, estimate: float, width: float
                            ) -> tuple[Fraction, Fraction]:
    """A rigorous bracket ``lo ≤ λ_min ≤ hi`` around a floating estimate, by exact tests
    (``width``: the estimate's expected error; widened until the tests confirm it)."""
    for _ in range(60):
        lo, hi = Fraction(estimate - width), Fraction(estimate + width)
        at_lo = exact.test(lo)
        if at_lo[0] == 0:
            if at_lo[1]:                        # lo is an eigenvalue, the smallest: exact
                return lo, lo
            at_hi = exact.test(hi)
            if at_hi[0] > 0:
                return _narrow(exact, lo, hi, at_lo, at_hi)
        width *= 4
    raise ArithmeticError("could not bracket the smallest eigenvalue")  # pragma: no cover


def _narrow(exact: _Exact, lo: Fraction, hi: Fraction, at_lo, at_hi,  # noqa: ANN001
            rel: float = 1e-12, steps: int = 400) -> tuple[Fraction, Fraction]:
    """Narrow ``[lo, hi]`` (``psd(lo)``, not at ``hi``) by exact tests until it is ``rel`` of
    its own size: the float estimate is only good to ``ε‖B‖``, which a large λ makes larger
    than λ_min itself, and ``rho_min`` is reported to 12 digits.

    While one eigenvalue lies in the bracket and the determinants at its ends are known
    exactly, the secant (regula falsi) of ``det(B − tI)`` proposes the eigenvalue — its error is
    of order width²/gap, so from a float bracket one step is enough — and two exact tests at
    ``±rel/8`` around it confirm a bracket of width ``rel/4``; otherwise (or when they do not
    confirm it) bisection — by magnitude while the bracket spans orders of magnitude (a huge λ
    makes the float estimate useless for λ_min: 10¹⁰⁰ against 0.6).  Test points are rounded
    to 64 significant bits (the bracket stays rigorous, the exact tests' integers stay short)."""
    for _ in range(steps):
        if hi - lo <= rel * max(abs(lo), abs(hi)):
            break
        points = []
        if lo < 0 < hi:                             # the sign first: λ_min may be 0 exactly
            points = [Fraction(0)]
        elif at_hi[0] == 1 and at_lo[2] is not None and at_hi[2] is not None:
            ratio = at_hi[2] - at_lo[2]             # log₂ |det(hi)| / |det(lo)|
            w = 0.0 if ratio > 1000 else (1.0 if ratio < -1000 else 1 / (1 + 2.0 ** ratio))
            guess = lo + (hi - lo) * Fraction(w)
            delta = Fraction(rel / 8) * abs(guess)
            points = [p for p in (_short(guess - delta), _short(guess + delta)) if lo < p < hi]
        if not points:
            mid = _split(lo, hi)
            if not lo < mid < hi:
                break
            points = [mid]
        for t in points:
            if not lo < t < hi:
                continue
            result = exact.test(t)
            if result[0] == 0:
                if result[1]:                       # t is the smallest eigenvalue: exact
                    return t, t
                lo, at_lo = t, result
            else:
                hi, at_hi = t, result
                break                               # the next point lies above hi
    return lo, hi


def _split(lo: Fraction, hi: Fraction) -> Fraction:
    """The bisection point of ``[lo, hi]``: 0 across it, else the geometric mean (or a
    2⁻³² step from 0) while the ends differ by more than a factor 2, else the midpoint."""
    if lo < 0 < hi:
        return Fraction(0)
    if lo == 0 or hi == 0:
        return _short((lo + hi) / (1 << 32))
    if hi > 2 * lo > 0 or lo < 2 * hi < 0:
        log_mid = (math.log2(abs(lo)) + math.log2(abs(hi))) / 2
        mid = _short(Fraction(2) ** math.floor(log_mid)
                     * Fraction(2 ** (log_mid - math.floor(log_mid))))
        return mid if hi > 0 else -mid
    return _short((lo + hi) / 2)


def _short(q: Fraction, bits: int = 64) -> Fraction:
    """``q`` rounded to a dyadic rational of about ``bits`` significant bits."""
    if q == 0:
        return q
    shift = bits - (abs(q.numerator).bit_length() - q.denominator.bit_length())
    if shift >= 0:
        return Fraction(round(q * (1 << shift)), 1 << shift)
    return Fraction(round(q / (1 << -shift)) * (1 << -shift))


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


def _estimate(b: _Scaled, tri: _Tridiagonal | None) -> tuple[float, np.ndarray, float]:
    """LAPACK's λ_min(B), its eigenvector and the estimate's expected error: bisection to full
    accuracy on the tridiagonal ``B`` (``dstebz``, O(p); its error is that of a Sturm count,
    :class:`.floating.Floats`), else dense eigenvalues."""
    if tri is not None:
        diag, off = tri.floats()
        eps, tiny = float(np.finfo(float).eps), float(np.finfo(float).tiny)
        bmax = float(np.max(np.abs(off))) if off.size else 0.0
        if b.p == 1:
            evals, evecs = diag[:1], np.ones((1, 1))
        else:
            from scipy.linalg import eigh_tridiagonal

            # abstol 2·tiny: to full relative accuracy (abstol 0 means ε‖B‖₁, which a huge
            # λ makes larger than λ_min itself)
            evals, evecs = eigh_tridiagonal(diag, off, select="i", select_range=(0, 0),
                                            tol=2 * tiny)
        estimate = float(evals[0])
        return estimate, evecs[:, 0], 32 * eps * (bmax + abs(estimate)) + 1e-300
    b_float = np.array([[float(e) for e in row] for row in b.sparse().dense()])
    evals, evecs = np.linalg.eigh(b_float)
    scale = float(np.max(np.abs(b_float))) if b_float.size else 1.0
    return float(evals[0]), evecs[:, 0], 1e-12 * max(scale, 1.0)


def _exact_route(p: int, tri: _Tridiagonal | None, exact: bool | None) -> bool:
    """Exact up to :data:`EXACT_LIMIT` blocks (always without the tridiagonal structure, which
    a chain always has); ``exact`` forces a route."""
    return (p <= EXACT_LIMIT or tri is None) if exact is None else (exact or tri is None)


def certify_blocks(k: Sparse, m: Sparse, lam: object, rho: object | None,
                   modulus: object = 0, exact: bool | None = None) -> SymbolicResult:
    """Decide ``λkᵀk − ρ⁻¹I − m − mᵀ + μ e₀e₀ᵀ ⪰ 0`` and find the set of ρ where it holds
    (``μ = modulus``: the strong convexity of the regulariser on the input block 0); exactly
    up to :data:`EXACT_LIMIT` blocks (``exact`` None), else in floating point."""
    lam_q = rational(lam)  # type: ignore[arg-type]
    mu_q = rational(modulus)  # type: ignore[arg-type]
    rho_q = None if rho is None else rational(rho)  # type: ignore[arg-type]
    b = _scaled_b(k, m, lam_q, mu_q)
    tri = _tridiagonal(b)
    estimate, eigvec, width = _estimate(b, tri)
    if not _exact_route(b.p, tri, exact):
        assert tri is not None
        floats = Floats(tri)
        lo, hi = floats.bracket(estimate)
        verdict = None if rho_q is None else floats.certifies(1 / rho_q)
        return SymbolicResult(lam_q, rho_q, k, m, b, (lo, hi), verdict, lo > 0, eigvec, mu_q,
                              False)
    tests = _Exact(b, tri)
    lo, hi = _bracket_min_eigenvalue(tests, estimate, width)
    # λ_min(B) > 0 exactly ⇔ B ⪰ 0 and det B ≠ 0; the bracket decides unless it straddles 0
    certifiable = lo > 0 or (hi > 0 and tests.positive_definite())
    verdict = None if rho_q is None else tests.psd(1 / rho_q)
    return SymbolicResult(lam_q, rho_q, k, m, b, (lo, hi), verdict, certifiable, eigvec, mu_q,
                          True)


def verdict_blocks(k: Sparse, m: Sparse, lam: object, rho: object, modulus: object = 0,
                   exact: bool | None = None) -> bool:
    """:func:`certify_blocks`' verdict at ``ρ`` alone: one exact test at ``t = 1/ρ`` (no
    bracket, no LAPACK), or beyond :data:`EXACT_LIMIT` (or with ``exact`` False) the same
    floating-point rule (one count)."""
    b = _scaled_b(k, m, rational(lam), rational(modulus))  # type: ignore[arg-type]
    t = 1 / rational(rho)  # type: ignore[arg-type]
    tri = _tridiagonal(b)
    if _exact_route(b.p, tri, exact):
        return _Exact(b, tri).psd(t)
    assert tri is not None
    return Floats(tri).certifies(t)
