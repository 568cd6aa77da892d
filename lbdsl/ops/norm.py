"""Operator norms: ``‖A‖₂`` of a matrix-free operator by power iteration on ``AᵀA``, and
``λ_max(XᵀX) = ‖X‖₂²`` of an explicit matrix of rows (the Gram matrix behind a weight gradient)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import asarray
from .base import LinearOperator

__all__ = ["operator_norm", "gram_lambda_max", "gram_factor", "GRAM_EIG_LIMIT"]

#: the largest side of the Gram matrix :func:`gram_lambda_max` diagonalises (2048³ flops ≈ 1 s)
GRAM_EIG_LIMIT = 2048


def operator_norm(op: LinearOperator, xp: Any, dtype: Any = None, iters: int = 1000,
                  tol: float = 1e-9, seed: int = 0, safety: float = 1.0) -> float:
    """``safety · sqrt(‖AᵀA x_k‖)``, an estimate of ``‖A‖₂`` from below (for ``safety = 1``).

    Power iteration ``x_{k+1} = AᵀA x_k / ‖AᵀA x_k‖`` from a seeded Gaussian start.  For unit
    ``x``, ``‖AᵀA x‖ ≤ ‖AᵀA‖ = ‖A‖²``, so every iterate's estimate is a lower bound (up to
    rounding); it stops when two successive estimates agree to ``tol`` relative, or after
    ``iters`` products.  Step sizes need an upper bound: pass ``safety > 1`` (e.g. 1.01), since the
    relative change underestimates the error when the top singular values are close.
    """
    if iters < 1 or not tol > 0 or not safety > 0:
        raise ValueError("operator_norm needs iters >= 1, tol > 0 and safety > 0")
    dtype = xp.float64 if dtype is None else dtype
    start = np.random.default_rng(seed).standard_normal(tuple(op.shape_in))
    x = asarray(xp, start, dtype)
    x = x / xp.linalg.vector_norm(x)
    previous = 0.0
    estimate = 0.0
    for k in range(iters):
        z = op.adjoint(op.forward(x))
        size = float(xp.linalg.vector_norm(z))
        if size == 0.0:  # a random start lies in A's null space only if A = 0
            return 0.0
        estimate = math.sqrt(size)
        x = z / size
        if k > 0 and abs(estimate - previous) <= tol * estimate:
            break
        previous = estimate
    return safety * estimate


def gram_lambda_max(rows: Any) -> float:
    """``λ_max(XᵀX) = λ_max(XXᵀ) = ‖X‖₂²`` for a 2-D array ``X (m, n)``, exactly (up to rounding)
    by ``eigvalsh`` of the smaller of the two Gram matrices; ``trace(XᵀX) = ‖X‖_F² ≥ λ_max``, a
    valid upper bound, when both sides exceed :data:`GRAM_EIG_LIMIT`."""
    xp = array_namespace(rows)
    m, n = rows.shape
    if min(m, n) > GRAM_EIG_LIMIT:
        return float(xp.sum(rows * rows))
    t = xp.matrix_transpose(rows)
    gram = xp.matmul(rows, t) if m <= n else xp.matmul(t, rows)
    return max(float(xp.linalg.eigvalsh(gram)[-1]), 0.0)


def gram_factor(rows: Any) -> Any:
    """``R (min(m, n), n)`` with ``RᵀR = XᵀX`` for ``X (m, n)``: the triangular factor of
    ``X = QR``.  Factors of row blocks stack to a factor of the stacked rows
    (``Σ_p R_pᵀR_p = Σ_p X_pᵀX_p``), so :func:`gram_lambda_max` of the stack is ``λ_max`` of the
    whole Gram matrix, while no row of ``X`` is sent — only a rotation of at most ``n`` of them."""
    xp = array_namespace(rows)
    if rows.shape[0] == 0:
        return rows
    return xp.linalg.qr(rows, mode="reduced")[1]
