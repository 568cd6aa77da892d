"""operator_norm against numpy.linalg.norm(·, 2) of the probed dense matrix."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import asarray
from lbdsl.ops.compose import Composed, Reshape
from lbdsl.ops.conv import Conv2d
from lbdsl.ops.dense import Dense
from lbdsl.ops.norm import gram_lambda_max, operator_norm
from op_testing import dense_matrix


@pytest.mark.parametrize("m, n, seed", [(1, 1, 0), (5, 3, 1), (20, 30, 2), (40, 12, 3)])
def test_dense(xp, m, n, seed):
    w = np.random.default_rng(seed).standard_normal((m, n))
    exact = np.linalg.norm(w, 2)
    est = operator_norm(Dense(asarray(xp, w)), xp, iters=20000, tol=1e-13, seed=seed)
    assert est <= exact * (1 + 1e-12)  # a lower estimate
    np.testing.assert_allclose(est, exact, rtol=1e-6)


@pytest.mark.parametrize("kshape, hw, stride, padding", [((2, 1, 3, 3), (6, 7), 1, 1),
                                                       ((3, 2, 2, 3), (7, 5), 2, 0),
                                                       ((1, 3, 3, 2), (8, 6), 3, 2)])
def test_conv_and_composition(xp, kshape, hw, stride, padding):
    rng = np.random.default_rng(sum(kshape))
    conv = Conv2d(asarray(xp, rng.standard_normal(kshape)), hw, stride, padding)
    exact = np.linalg.norm(dense_matrix(conv, xp), 2)
    np.testing.assert_allclose(operator_norm(conv, xp, iters=20000, tol=1e-13), exact, rtol=1e-6)
    flat = (int(np.prod(conv.shape_out)),)
    head = Dense(asarray(xp, rng.standard_normal((4, flat[0]))))
    net = Composed((head, Reshape(conv.shape_out, flat), conv))
    exact = np.linalg.norm(dense_matrix(net, xp), 2)
    np.testing.assert_allclose(operator_norm(net, xp, iters=20000, tol=1e-13), exact, rtol=1e-6)


def test_float32_safety_and_zero(xp):
    w = np.random.default_rng(4).standard_normal((10, 8))
    exact = np.linalg.norm(w, 2)
    est32 = operator_norm(Dense(asarray(xp, w, xp.float32)), xp, xp.float32, tol=1e-6)
    np.testing.assert_allclose(est32, exact, rtol=1e-4)
    op = Dense(asarray(xp, w))
    safe = operator_norm(op, xp, safety=1.01, iters=20000, tol=1e-13)
    np.testing.assert_allclose(safe, 1.01 * exact, rtol=1e-6)
    assert operator_norm(Dense(asarray(xp, np.zeros((3, 4)))), xp) == 0.0
    with pytest.raises(ValueError):
        operator_norm(op, xp, iters=0)


def test_same_seed_same_estimate(xp):
    op = Dense(asarray(xp, np.random.default_rng(5).standard_normal((6, 6))))
    assert operator_norm(op, xp, iters=7, seed=3) == operator_norm(op, xp, iters=7, seed=3)


@pytest.mark.parametrize("shape", [(5, 9), (9, 5)])
def test_gram_lambda_max_is_the_squared_spectral_norm_from_either_side(xp, shape):
    rows = np.random.default_rng(6).standard_normal(shape)
    exact = np.linalg.norm(rows, 2) ** 2
    assert gram_lambda_max(asarray(xp, rows)) == pytest.approx(exact, rel=1e-10)
    assert Dense(asarray(xp, rows.T)).gram_norm(asarray(xp, rows)) == pytest.approx(exact,
                                                                                     rel=1e-10)


def test_gram_lambda_max_falls_back_to_the_trace_above_the_limit(monkeypatch):
    """Both sides above the limit: the Frobenius norm², still an upper bound of λ_max."""
    import lbdsl.ops.norm as norm

    rows = np.random.default_rng(7).standard_normal((6, 7))
    monkeypatch.setattr(norm, "GRAM_EIG_LIMIT", 5)
    assert gram_lambda_max(rows) == pytest.approx(np.sum(rows ** 2), rel=1e-12)
    assert gram_lambda_max(rows) >= np.linalg.norm(rows, 2) ** 2
