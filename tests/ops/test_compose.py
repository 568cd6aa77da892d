"""Identity, Reshape, Scaled, Composed, Sum: matrices are the products and sums of the parts."""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import asarray
from lbdsl.ops.compose import Composed, Identity, Reshape, Scaled, Sum
from lbdsl.ops.conv import Conv2d
from lbdsl.ops.dense import Dense
from lbdsl.ops.gradient import Gradient
from op_testing import dense_matrix, dot_test


def test_conv_then_flatten_then_dense(xp):
    rng = np.random.default_rng(0)
    conv = Conv2d(asarray(xp, rng.standard_normal((2, 1, 3, 3))), (5, 5), stride=2, padding=1)
    flat = Reshape(conv.shape_out, (18,))
    head = Dense(asarray(xp, rng.standard_normal((4, 18))))
    net = Composed((head, flat, conv))
    assert (net.shape_in, net.shape_out) == ((1, 5, 5), (4,))
    np.testing.assert_allclose(dense_matrix(net, xp),
                               dense_matrix(head, xp) @ dense_matrix(conv, xp), atol=1e-12)
    for batch in [(), (3,), (2, 2)]:
        err, scale = dot_test(net, xp, rng, batch)
        assert err <= 1e-10 * scale


def test_scaled_sum_identity(xp):
    rng = np.random.default_rng(1)
    a = Dense(asarray(xp, rng.standard_normal((6, 6))))
    grad_flat = Composed((Reshape((2, 2, 3), (12,)), Gradient((2, 3)), Reshape((6,), (2, 3))))
    combo = Sum((Scaled(2.5, a), Identity((6,)), Composed((Dense(asarray(xp, np.ones((6, 12)))),
                                                           grad_flat))))
    expected = (2.5 * dense_matrix(a, xp) + np.eye(6)
                + np.ones((6, 12)) @ dense_matrix(grad_flat, xp))
    np.testing.assert_allclose(dense_matrix(combo, xp), expected, atol=1e-12)
    for batch in [(), (2,)]:
        err, scale = dot_test(combo, xp, rng, batch)
        assert err <= 1e-10 * scale


def test_shape_mismatches_are_refused(xp):
    a = Dense(asarray(xp, np.ones((3, 4))))
    with pytest.raises(ValueError, match="cannot compose"):
        Composed((a, a))
    with pytest.raises(ValueError, match="different shapes"):
        Sum((a, a.T))
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape((2, 3), (5,))
