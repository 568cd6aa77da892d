"""Numeric sufficient condition for convexity of ``E^ρ_Ψ`` when the symbolic route does not apply.

Write ``x = W u + b``.  On its domain,

    E^ρ_Ψ(u, z) = (λ/2)‖Ku − f‖² + Ψ(z) + Φ*(x) + ½‖z‖² − ⟨z, W u⟩ + (ρ/2)‖Mu − Vz‖² + (linear)

(``B_Ψ(z, x) = Φ(z) + Φ*(x) − ⟨z, x⟩`` with ``Φ = ½‖·‖² + Ψ``).  ``Ψ`` and ``Φ*∘(W·+b)`` are
convex, so ``E^ρ_Ψ`` is convex whenever the quadratic form

    q_ρ(u, z) = (λ/2)‖Ku‖² + ½‖z‖² − ⟨z, Wu⟩ + (ρ/2)‖Mu − Vz‖²

is, i.e. whenever

    H_ρ = [[λKᵀK + ρMᵀM,  −Wᵀ − ρMᵀV],
           [−W − ρVᵀM,    I + ρVᵀV ]]  ⪰ 0.

No assumption on ``V`` is needed.  For ``V = Wᵀ`` the seed's ``Q ⪰ 0`` implies ``H_ρ ⪰ 0``
(``−⟨r, u⟩ + (ρ/2)‖r‖² ≥ −‖u‖²/(2ρ)`` with ``r = Wᵀz − Mu``), so this test is never stricter.
It depends on the weights, so it is decided by floating-point eigenvalues: the verdict uses the
tolerance ``tol = 100·ε·n·‖H_ρ‖`` and reports the margin ``λ_min(H_ρ)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lift.compact import LiftedProblem

__all__ = ["NumericResult", "hessian_blocks", "certify_numeric", "DENSE_LIMIT"]

#: Largest ``size(u) + size(z)`` assembled densely; larger problems use Lanczos (scipy).
DENSE_LIMIT = 4000


@dataclass(frozen=True)
class NumericResult:
    """λ_min(H_ρ), the tolerance of the verdict, and the eigenvector (for naming culprits)."""

    rho: float
    margin: float
    tolerance: float
    certified: bool
    eigvec: np.ndarray
    method: str


def _dense(op, n: int) -> np.ndarray:  # noqa: ANN001 - a BlockOperator on NumPy
    return np.asarray(op.forward(np.eye(n))).T


def hessian_blocks(lp: LiftedProblem) -> dict[str, np.ndarray]:
    """The dense matrices K, M, V, W of a (small) lifted problem, on NumPy."""
    nu, nz = lp.u_size, lp.z_size
    return {"K": _dense(lp.K, nu), "M": _dense(lp.M, nu), "V": _dense(lp.V, nz),
            "W": _dense(lp.W, nu)}


def _h_matrix(mats: dict[str, np.ndarray], lam: float, rho: float) -> np.ndarray:
    K, M, V, W = mats["K"], mats["M"], mats["V"], mats["W"]
    top = np.hstack([lam * K.T @ K + rho * M.T @ M, -W.T - rho * M.T @ V])
    bottom = np.hstack([-W - rho * V.T @ M, np.eye(V.shape[1]) + rho * V.T @ V])
    return np.vstack([top, bottom])


def certify_numeric(lp: LiftedProblem, lam: float, rho: float,
                    mats: dict[str, np.ndarray] | None = None) -> NumericResult:
    """λ_min(H_ρ) ≥ −tol ⇒ certified (dense eigenvalues up to :data:`DENSE_LIMIT`, else Lanczos)."""
    n = lp.u_size + lp.z_size
    if n <= DENSE_LIMIT:
        mats = hessian_blocks(lp) if mats is None else mats
        h = _h_matrix(mats, lam, rho)
        evals, evecs = np.linalg.eigh(h)
        scale = float(np.max(np.abs(evals)))
        tol = 100 * np.finfo(float).eps * n * max(scale, 1.0)
        return NumericResult(rho, float(evals[0]), tol, bool(evals[0] >= -tol), evecs[:, 0],
                             "dense eigenvalues")
    return _lanczos(lp, lam, rho)


def _lanczos(lp: LiftedProblem, lam: float, rho: float) -> NumericResult:
    from scipy.sparse.linalg import LinearOperator, eigsh

    nu, nz = lp.u_size, lp.z_size

    def matvec(v: np.ndarray) -> np.ndarray:
        u, z = v[:nu], v[nu:]
        r = lp.M.forward(u) - lp.V.forward(z)
        hu = lam * lp.K.adjoint(lp.K.forward(u)) + rho * lp.M.adjoint(r) - lp.W.adjoint(z)
        hz = z - lp.W.forward(u) - rho * lp.V.adjoint(r)
        return np.concatenate([hu, hz])

    op = LinearOperator((nu + nz, nu + nz), matvec=matvec, dtype=float)
    top = float(eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-8)[0])
    evals, evecs = eigsh(op, k=1, which="SA", tol=1e-10, maxiter=20 * (nu + nz))
    tol = 1e-8 * max(abs(top), 1.0)
    return NumericResult(rho, float(evals[0]), tol, bool(evals[0] >= -tol), evecs[:, 0],
                         "Lanczos (scipy eigsh)")
