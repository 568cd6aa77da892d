"""Dense(W): forward W x, adjoint Wᵀ y, W.T, batches, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import asarray, to_numpy
from lbdsl.ops.base import LinearOperator
from lbdsl.ops.dense import Dense
from op_testing import dense_adjoint_matrix, dense_matrix, dot_test


@pytest.mark.parametrize("m, n", [(1, 1), (3, 5), (7, 2)])
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_forward_adjoint_match_numpy_matmul(xp, m, n, batch):
    rng = np.random.default_rng(m * 10 + n)
    w = rng.standard_normal((m, n))
    x = rng.standard_normal((*batch, n))
    y = rng.standard_normal((*batch, m))
    op = Dense(asarray(xp, w))
    assert isinstance(op, LinearOperator)
    assert (op.shape_in, op.shape_out) == ((n,), (m,))
    np.testing.assert_allclose(to_numpy(op.forward(asarray(xp, x))),
                               np.einsum("ij,...j->...i", w, x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(to_numpy(op.adjoint(asarray(xp, y))),
                               np.einsum("ij,...i->...j", w, y), rtol=1e-13, atol=1e-13)


def test_matrix_by_probing_and_transpose(xp):
    w = np.random.default_rng(1).standard_normal((4, 6))
    op = Dense(asarray(xp, w))
    np.testing.assert_array_equal(dense_matrix(op, xp), w)
    np.testing.assert_array_equal(dense_adjoint_matrix(op, xp), w.T)
    assert (op.T.shape_in, op.T.shape_out) == ((4,), (6,))
    np.testing.assert_array_equal(dense_matrix(op.T, xp), w.T)
    np.testing.assert_array_equal(dense_matrix(op.transpose().T, xp), w)


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_dot_product(xp, batch):
    rng = np.random.default_rng(7)
    op = Dense(asarray(xp, rng.standard_normal((9, 13))))
    err, scale = dot_test(op, xp, rng, batch)
    assert err <= 1e-10 * scale


def test_float32_is_kept(xp):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3))
    op = Dense(asarray(xp, w, xp.float32))
    x = asarray(xp, rng.standard_normal(3), xp.float32)
    assert op.forward(x).dtype == xp.float32
    assert op.adjoint(op.forward(x)).dtype == xp.float32
    assert Dense(asarray(xp, w)).astype(xp.float32).matrix.dtype == xp.float32
    err, scale = dot_test(op, xp, rng, (2,), dtype=xp.float32)
    assert err <= 1e-5 * scale


def test_rejects_non_matrix(xp):
    with pytest.raises(ValueError, match="2-D"):
        Dense(asarray(xp, np.ones(3)))
