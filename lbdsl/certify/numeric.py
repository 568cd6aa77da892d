"""Numeric sufficient condition for convexity of ``E^ρ_Ψ`` when the symbolic route does not apply.

Write ``x = W u + b``.  On its domain,

    E^ρ_Ψ(u, z) = (λ/2)‖Ku − f‖² + Ψ(z) + Φ*(x) + ½‖z‖² − ⟨z, W u⟩ + (ρ/2)‖Mu − Vz‖² + (linear)

(``B_Ψ(z, x) = Φ(z) + Φ*(x) − ⟨z, x⟩`` with ``Φ = ½‖·‖² + Ψ``).  ``Ψ`` and ``Φ*∘(W·+b)`` are
convex, so ``E^ρ_Ψ`` is convex whenever the quadratic form

    q_ρ(u, z) = (λ/2)‖Ku‖² + ½‖z‖² − ⟨z, Wu⟩ + (ρ/2)‖Mu − Vz‖²

is, i.e. whenever

    H_ρ = [[λKᵀK + ρMᵀM + μE₀,  −Wᵀ − ρMᵀV],
           [−W − ρVᵀM,          I + ρVᵀV ]]  ⪰ 0,

where ``μ ≥ 0`` is the modulus of strong convexity of the inversion's regulariser on the input
(``α·w`` for ``w * l2sq``; 0 by default) and ``E₀`` the identity on the ``u_0`` block: a
``μ``-strongly convex ``J`` adds ``(μ/2)‖u_0‖²`` to the quadratic part.

No assumption on ``V`` is needed.  For ``V = Wᵀ`` the seed's ``Q ⪰ 0`` implies ``H_ρ ⪰ 0``
(``−⟨r, u⟩ + (ρ/2)‖r‖² ≥ −‖u‖²/(2ρ)`` with ``r = Wᵀz − Mu``), so this test is never stricter.
It depends on the weights, so it is decided by floating-point eigenvalues: the verdict uses the
tolerance ``tol = 100·ε·n·‖H_ρ‖`` (Lanczos: its convergence tolerance, ``1e-8·‖H_ρ‖``) and reports
the margin ``λ_min(H_ρ)``; certified means ``λ_min ≥ −tol``.

The tolerance follows the scale of the matrix tested, and that scale grows with λ and ρ while
the curvature that decides the question — on the null space of ``[M, −V]``, where the ρ-term
vanishes — stays of the size of the λ- and ρ-free part (``I`` and ``W``).  So the tolerance is
*bounded*: when it exceeds ``10⁻³·max(1, ‖W‖)`` the eigenvalues cannot resolve that curvature
and no verdict is given at that (λ, ρ) (not certified, with the largest ρ the test resolves at
this λ).  A negative margin beyond rounding is never certified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..lift.compact import LiftedProblem
from ..ops.norm import operator_norm

__all__ = ["NumericResult", "hessian_blocks", "certify_numeric", "least_modulus", "DENSE_LIMIT"]

#: Largest ``size(u) + size(z)`` assembled densely; larger problems use Lanczos (scipy).
DENSE_LIMIT = 4000


#: The largest tolerance, relative to ``max(1, ‖W‖)``, at which a verdict is given.
RESOLUTION = 1e-3


@dataclass(frozen=True)
class NumericResult:
    """λ_min(H_ρ), the tolerance of the verdict, and the eigenvector (for naming culprits);
    ``unresolved`` says why no verdict was possible (empty: there is one)."""

    rho: float
    margin: float
    tolerance: float
    certified: bool
    eigvec: np.ndarray
    method: str
    unresolved: str = ""


def _dense(op, n: int) -> np.ndarray:  # noqa: ANN001 - a BlockOperator on NumPy
    return np.asarray(op.forward(np.eye(n))).T


def hessian_blocks(lp: LiftedProblem) -> dict[str, np.ndarray]:
    """The dense matrices K, M, V, W of a (small) lifted problem, on NumPy."""
    nu, nz = lp.u_size, lp.z_size
    return {"K": _dense(lp.K, nu), "M": _dense(lp.M, nu), "V": _dense(lp.V, nz),
            "W": _dense(lp.W, nu)}


def _h_matrix(mats: dict[str, np.ndarray], lam: float, rho: float, modulus: float = 0.0,
              n0: int = 0) -> np.ndarray:
    K, M, V, W = mats["K"], mats["M"], mats["V"], mats["W"]
    uu = lam * K.T @ K + rho * M.T @ M
    uu[range(n0), range(n0)] += modulus
    top = np.hstack([uu, -W.T - rho * M.T @ V])
    bottom = np.hstack([-W - rho * V.T @ M, np.eye(V.shape[1]) + rho * V.T @ V])
    return np.vstack([top, bottom])


def certify_numeric(lp: LiftedProblem, lam: float, rho: float,
                    mats: dict[str, np.ndarray] | None = None,
                    modulus: float = 0.0) -> NumericResult:
    """λ_min(H_ρ) ≥ −tol ⇒ certified (dense eigenvalues up to :data:`DENSE_LIMIT`, else
    Lanczos); ``modulus`` is μ of the module docstring."""
    n = lp.u_size + lp.z_size
    if n <= DENSE_LIMIT:
        mats = hessian_blocks(lp) if mats is None else mats
        h = _h_matrix(mats, lam, rho, modulus, lp.u_blocks[0].size)
        evals, evecs = np.linalg.eigh(h)
        scale = float(np.max(np.abs(evals)))
        factor = 100 * np.finfo(float).eps * n
        w_norm = float(np.linalg.norm(mats["W"], 2)) if mats["W"].size else 0.0
        k_norm = float(np.linalg.norm(mats["K"], 2)) if mats["K"].size else 0.0
        stack = np.hstack([mats["M"], -mats["V"]])
        rho_scale = float(np.linalg.norm(stack, 2)) ** 2 if stack.size else 0.0
        fixed = max(lam * k_norm ** 2 + modulus, 1.0) + w_norm   # ≥ ‖H_0‖, the ρ-free part
        return _verdict(rho, float(evals[0]), factor * max(scale, 1.0), evecs[:, 0],
                        "dense eigenvalues", max(1.0, w_norm), factor, fixed, rho_scale)
    return _lanczos(lp, lam, rho, modulus)


def _verdict(rho: float, margin: float, tol: float, eigvec: np.ndarray, method: str,
             base: float, factor: float, fixed: float, rho_scale: float) -> NumericResult:
    """``margin ≥ −tol`` certifies — when ``tol ≤ RESOLUTION·base`` (module docstring); else no
    verdict, with the largest ρ at which ``factor·‖H_ρ‖ ≈ factor·(fixed + ρ·rho_scale)`` is
    still resolved."""
    limit = RESOLUTION * base
    if not (np.isfinite(margin) and np.isfinite(tol)) or tol > limit:
        room = limit / factor - fixed
        reach = (f"it resolves ρ up to about {room / rho_scale:.3g} at this λ"
                 if room > 0 and rho_scale > 0 else "λ is too large for it at any ρ")
        why = (f"at ρ = {rho:g} the rounding of H_ρ (tolerance {tol:.2g}) exceeds "
               f"{RESOLUTION:g}·max(1, ‖W‖) = {limit:.2g}, the size of the curvature that decides "
               f"convexity: no verdict; {reach}")
        return NumericResult(rho, margin, tol, False, eigvec, method, why)
    return NumericResult(rho, margin, tol, bool(margin >= -tol), eigvec, method)


def _lanczos(lp: LiftedProblem, lam: float, rho: float, modulus: float) -> NumericResult:
    from scipy.sparse.linalg import LinearOperator, eigsh

    nu, nz, n0 = lp.u_size, lp.z_size, lp.u_blocks[0].size

    def matvec(v: np.ndarray) -> np.ndarray:
        u, z = v[:nu], v[nu:]
        r = lp.M.forward(u) - lp.V.forward(z)
        hu = lam * lp.K.adjoint(lp.K.forward(u)) + rho * lp.M.adjoint(r) - lp.W.adjoint(z)
        hz = z - lp.W.forward(u) - rho * lp.V.adjoint(r)
        hu[:n0] += modulus * u[:n0]
        return np.concatenate([hu, hz])

    op = LinearOperator((nu + nz, nu + nz), matvec=matvec, dtype=float)
    top = float(eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-8)[0])
    evals, evecs = eigsh(op, k=1, which="SA", tol=1e-10, maxiter=20 * (nu + nz))
    factor = 1e-8
    base = max(1.0, operator_norm(lp.W, np, np.float64, iters=200, tol=1e-6))
    return _verdict(rho, float(evals[0]), factor * max(abs(top), 1.0), evecs[:, 0],
                    "Lanczos (scipy eigsh)", base, factor, abs(top), 0.0)


def least_modulus(lp: LiftedProblem, lam: float, rho: float,
                  mats: dict[str, np.ndarray]) -> float | None:
    """The smallest μ with ``H_ρ + μE₀ ⪰ 0`` (dense, small problems), or None when no μ makes
    it so.  Write ``H_ρ = [[H₀₀, H₀ᵣ], [Hᵣ₀, Hᵣᵣ]]`` with ``0`` the ``u_0`` block: for
    ``Hᵣᵣ ≻ 0`` (a Cholesky factor ``C``), ``H_ρ + μE₀ ⪰ 0`` iff its Schur complement
    ``μI + H₀₀ − H₀ᵣHᵣᵣ⁻¹Hᵣ₀ ⪰ 0``, i.e. ``μ ≥ λ_max(H₀ᵣHᵣᵣ⁻¹Hᵣ₀ − H₀₀)`` (one Cholesky and one
    eigenvalue problem of the input's size, instead of a bisection on eigenvalues of ``H``).
    ``Hᵣᵣ`` not positive definite: None (no μ reaches those blocks)."""
    n0 = lp.u_blocks[0].size
    h = _h_matrix(mats, lam, rho, 0.0, n0)
    if not np.all(np.isfinite(h)):
        return None
    try:
        c = np.linalg.cholesky(h[n0:, n0:])
    except np.linalg.LinAlgError:
        return None
    x = np.linalg.solve(c, h[n0:, :n0])             # C⁻¹ Hᵣ₀ (C lower triangular)
    schur = x.T @ x - h[:n0, :n0]
    mu = float(np.linalg.eigvalsh((schur + schur.T) / 2)[-1])
    return max(mu, 0.0) if math.isfinite(mu) else None
