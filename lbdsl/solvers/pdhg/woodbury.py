"""The ADMM ``u``-solve ``(r₁ WᵀW + r_b B₀) u = g`` in O(m·n) per right-hand side.

``B₀ = Cᵀ diag(μ) C`` is diagonal in an orthogonal basis ``C``: the DCT-II when TV is present
(``μ = λ + κ₃``, ``λ`` the Neumann Laplacian's eigenvalues, ``κ₃ = r₃/r₂`` from the ``z₃ = u``
split), the identity otherwise (``μ = 1``).  Everything is computed in that basis, with
``W̃ = W Cᵀ`` (m × n, dense) and ``ĝ = C g``.  Woodbury's identity with ``B = r_b B₀``:

    (B + r₁WᵀW)⁻¹ = B⁻¹ − B⁻¹Wᵀ (I/r₁ + W B⁻¹ Wᵀ)⁻¹ W B⁻¹,    W B⁻¹ Wᵀ = G / r_b,
    G = W̃ diag(1/μ) W̃ᵀ = Q Λ Qᵀ   (eigendecomposed once: any r₁, r_b costs O(m²) afterwards)

so ``s = (I/r₁ + G/r_b)⁻¹ W B⁻¹ g = Q diag(1/(1/r₁ + Λ/r_b)) Qᵀ W B⁻¹ g`` and
``û = (ĝ − W̃ᵀ s) / (r_b μ)``.  ``W u`` comes out without another pass over ``W``:
``W u = W B⁻¹ g − G s / r_b``.  (Everything with ``G`` is diagonal in ``Q``'s coordinates.)

**The mean (border).**  Without the ``z₃`` split, ``∇ᵀ∇`` is singular on constants.  Then
``μ₀ = κ`` replaces the zero eigenvalue (``B₀ = ∇ᵀ∇ + κ e eᵀ``, ``e`` the normalised constant,
which is the DCT's first basis vector ``e₀``) and the term is taken back by one more Woodbury
column: ``U = [W; e]``, ``S = diag(r₁ I, −r_b κ)``.  The capacitance matrix becomes the bordered
``[[I/r₁ + G/r_b, w̄/β₀], [w̄ᵀ/β₀, 0]]`` (``w̄ = W̃ e₀``, ``β₀ = r_b κ``; the corner is
``e B⁻¹ eᵀ − 1/(r_b κ) = 0``), solved by one Schur complement on the extra unknown.  It is
invertible exactly when ``W`` does not annihilate constants, i.e. when the problem is.

Arrays carry one leading batch axis; ``r₁`` and ``r_b`` are ``(B, 1)`` (one penalty per
problem: the eigendecomposition is shared, the diagonal is not).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

__all__ = ["SpectralSystem"]


class SpectralSystem:
    """``(r₁ WᵀW + r_b B₀)⁻¹`` applied in the basis of ``B₀`` (see the module docstring).

    The data block is kept in the eigenvectors of ``G``: ``W_Q = Qᵀ W̃`` is stored instead of
    ``W̃``, so the capacitance solve is diagonal and an iteration needs two m×m products
    (``Qᵀv₁`` and ``Q (Qᵀ W u)``) besides its one pass over ``W_Q`` each way.
    """

    def __init__(self, Wt: Any, mu: Any, border: bool) -> None:
        xp = array_namespace(Wt)
        self.xp = xp
        self.mu = mu                          # (n,)
        self.border = border
        G = xp.matmul(Wt / mu, xp.matrix_transpose(Wt))
        G = 0.5 * (G + xp.matrix_transpose(G))   # symmetric to rounding before eigh
        lam, Q = xp.linalg.eigh(G)
        self.lam = xp.clip(lam, min=0.0)      # G ⪰ 0; rounding may leave −ε
        self.Q = Q
        self.Qt = xp.matrix_transpose(Q)
        self.Wq = xp.matmul(self.Qt, Wt)      # W_Q = Qᵀ W̃, (m, n)
        self.wq = self.Wq[:, 0] if border else None   # Qᵀ w̄, w̄ = W̃ e₀
        if border:
            e0 = xp.zeros_like(mu[None, :])
            self.e0 = xp.concat([xp.ones_like(e0[:, :1]), e0[:, 1:]], axis=1)

    def adjoint_norms(self, x: Any) -> Any:
        """``‖Wᵀ x_b‖`` for each row ``x_b`` of ``x`` (= ‖W̃ᵀx_b‖: ``C`` is orthogonal)."""
        xp = self.xp
        return xp.linalg.vector_norm(xp.matmul(xp.matmul(x, self.Q), self.Wq), axis=1)

    def solve(self, v1: Any, hhat: Any, r1: Any, rb: Any) -> tuple[Any, Any]:
        """``(û, W u)`` for ``g = r₁Wᵀv₁ + h`` with ``ĥ = C h`` given (rows: batch).

        ``ĝ = r₁W̃ᵀv₁ + ĥ``; ``W B⁻¹ g = (r₁/r_b) G v₁ + W̃ (ĥ / (r_b μ))``; in ``Q``
        coordinates (subscript q) ``G`` is ``diag(Λ)``.
        """
        xp = self.xp
        beta = rb * self.mu                                       # (B, n)
        vq = xp.matmul(v1, self.Q)                                # Qᵀv₁
        tq = (r1 / rb) * self.lam * vq + xp.matmul(hhat / beta, xp.matrix_transpose(self.Wq))
        d = 1.0 / r1 + self.lam / rb                              # (B, m)
        s1 = tq / d
        if self.border:
            beta0 = beta[:, :1]                                   # r_b κ, (B, 1)
            t2 = (r1[:, 0] * xp.matmul(vq, self.wq) + hhat[:, 0]) / beta0[:, 0]
            bq = self.wq[None, :] / beta0                         # (B, m)
            mb = bq / d
            s2 = (xp.sum(bq * s1, axis=1) - t2) / xp.sum(bq * mb, axis=1)
            s1 = s1 - mb * s2[:, None]
        ghat = xp.matmul(r1 * vq - s1, self.Wq) + hhat
        wuq = tq - self.lam * s1 / rb
        if self.border:
            ghat = ghat - self.e0 * s2[:, None]
            wuq = wuq - self.wq[None, :] * (s2[:, None] / beta0)
        return ghat / beta, xp.matmul(wuq, self.Qt)
