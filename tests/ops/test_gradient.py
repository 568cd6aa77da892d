"""∇ against numpy.diff; div = −∇ᵀ exactly; ‖∇‖² against the path-Laplacian eigenvalues."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lbdsl.backend import asarray, to_numpy
from lbdsl.ops.base import LinearOperator
from lbdsl.ops.gradient import Gradient, divergence
from lbdsl.ops.norm import operator_norm
from op_testing import dense_matrix, dot_test

SHAPES = [(1,), (2,), (7,), (1, 1), (1, 5), (4, 1), (5, 6), (3, 4, 2)]


def numpy_gradient(u: np.ndarray, ndim: int) -> np.ndarray:
    """Forward differences along each of the last ``ndim`` axes, a zero appended (Neumann)."""
    parts = [np.diff(u, axis=a, append=np.take(u, [-1], axis=a))
             for a in range(u.ndim - ndim, u.ndim)]
    return np.stack(parts, axis=u.ndim - ndim)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_forward_matches_numpy_diff(xp, shape, batch):
    u = np.random.default_rng(len(shape)).standard_normal((*batch, *shape))
    grad = Gradient(shape)
    assert isinstance(grad, LinearOperator)
    assert grad.shape_out == (len(shape), *shape)
    np.testing.assert_array_equal(to_numpy(grad.forward(asarray(xp, u))),
                                  numpy_gradient(u, len(shape)))


@pytest.mark.parametrize("shape", SHAPES)
def test_divergence_is_minus_the_transpose_exactly(xp, shape):
    grad = Gradient(shape)
    g = dense_matrix(grad, xp)
    n = math.prod(shape)
    basis = np.eye(n * len(shape)).reshape((n * len(shape), len(shape), *shape))
    d = to_numpy(grad.divergence(asarray(xp, basis))).reshape(n * len(shape), n).T
    np.testing.assert_array_equal(d, -g.T)
    d2 = to_numpy(divergence(asarray(xp, basis), shape)).reshape(n * len(shape), n).T
    np.testing.assert_array_equal(d2, -g.T)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_dot_product(xp, shape, batch):
    err, scale = dot_test(Gradient(shape), xp, np.random.default_rng(5), batch)
    assert err <= 1e-10 * scale


@pytest.mark.parametrize("shape", [(9,), (5, 6), (8, 8), (3, 4, 5)])
def test_norm_against_eigenvalues_of_the_path_laplacian(xp, shape):
    grad = Gradient(shape)
    # ∇ᵀ∇ is a Kronecker sum of path-graph Laplacians with eigenvalues 4 sin²(πk / 2n)
    exact = sum(4 * math.sin(math.pi * (n - 1) / (2 * n)) ** 2 for n in shape)
    assert exact <= grad.norm_squared_bound == 4 * len(shape)
    np.testing.assert_allclose(np.linalg.norm(dense_matrix(grad, xp), 2) ** 2, exact, rtol=1e-12)
    est = operator_norm(grad, xp, iters=20000, tol=1e-13)
    assert est**2 <= exact * (1 + 1e-12)
    np.testing.assert_allclose(est**2, exact, rtol=1e-6)


def test_float32_is_kept(xp):
    u = asarray(xp, np.random.default_rng(0).standard_normal((4, 5)), xp.float32)
    grad = Gradient((4, 5))
    assert grad.forward(u).dtype == xp.float32
    assert grad.adjoint(grad.forward(u)).dtype == xp.float32


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="positive sizes"):
        Gradient(())
    with pytest.raises(ValueError, match="positive sizes"):
        Gradient((3, 0))
