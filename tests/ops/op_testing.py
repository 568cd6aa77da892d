"""Oracles shared by the operator tests: dense matrices by probing, and the dot-product test."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lbdsl.backend import asarray, to_numpy


def dense_matrix(op: Any, xp: Any, dtype: Any = None) -> np.ndarray:
    """The matrix of ``op``: column k is ``op.forward(e_k)`` (all columns in one batched call)."""
    n = math.prod(op.shape_in)
    m = math.prod(op.shape_out)
    basis = np.eye(n).reshape((n, *op.shape_in))
    cols = to_numpy(op.forward(asarray(xp, basis, dtype or xp.float64)))
    assert cols.shape == (n, *op.shape_out)
    return cols.reshape(n, m).T


def dense_adjoint_matrix(op: Any, xp: Any) -> np.ndarray:
    """The matrix of ``op.adjoint`` by probing with the basis of the output space."""
    m = math.prod(op.shape_out)
    basis = np.eye(m).reshape((m, *op.shape_out))
    rows = to_numpy(op.adjoint(asarray(xp, basis, xp.float64)))
    return rows.reshape(m, -1).T


def dot_test(op: Any, xp: Any, rng: np.random.Generator, batch: tuple[int, ...] = (),
             dtype: Any = None) -> tuple[float, float]:
    """``(|⟨Ax, y⟩ − ⟨x, Aᵀy⟩|, ‖Ax‖·‖y‖)`` for random ``x``, ``y`` with leading ``batch`` axes."""
    dtype = dtype or xp.float64
    x = rng.standard_normal((*batch, *op.shape_in))
    y = rng.standard_normal((*batch, *op.shape_out))
    ax = op.forward(asarray(xp, x, dtype))
    aty = op.adjoint(asarray(xp, y, dtype))
    assert tuple(ax.shape) == (*batch, *op.shape_out)
    assert tuple(aty.shape) == (*batch, *op.shape_in)
    assert ax.dtype == dtype and aty.dtype == dtype
    ax, aty = to_numpy(ax).astype(np.float64), to_numpy(aty).astype(np.float64)
    return abs(np.sum(ax * y) - np.sum(x * aty)), float(np.linalg.norm(ax) * np.linalg.norm(y))
