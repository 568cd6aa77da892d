"""Conv2d against scipy.signal.correlate2d and explicit loops; adjoint by the dot-product test."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import correlate2d

from lbdsl.backend import asarray, to_numpy
from lbdsl.ops.base import LinearOperator
from lbdsl.ops.conv import Conv2d, conv2d_output_shape
from op_testing import dense_adjoint_matrix, dense_matrix, dot_test

# (C_out, C_in, k_h, k_w), (H, W): square and non-square kernels, one and several channels
GEOMETRIES = [
    ((1, 1, 3, 3), (7, 8)),
    ((2, 3, 2, 3), (6, 9)),
    ((3, 2, 1, 4), (5, 7)),
    ((2, 1, 4, 2), (9, 6)),
]


def reference_conv(x: np.ndarray, k: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``Σ_c correlate2d(pad(x_c), K_{o,c}, 'valid')`` subsampled by the stride (PyTorch conv2d)."""
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding)] * 2
    xp_ = np.pad(x, pad)
    batch = x.shape[:-3]
    out = []
    for idx in itertools.product(*map(range, batch)):
        maps = [sum(correlate2d(xp_[idx][c], k[o, c], mode="valid") for c in range(k.shape[1]))
                for o in range(k.shape[0])]
        out.append(np.stack(maps)[:, ::stride, ::stride])
    return np.stack(out).reshape(*batch, *out[0].shape)


def loop_conv(x: np.ndarray, k: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """The definition, one output entry at a time."""
    c_out, c_in, kh, kw = k.shape
    _, h, w = x.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    out = np.zeros((c_out, ho, wo))
    for o, yy, zz, c, i, j in itertools.product(range(c_out), range(ho), range(wo), range(c_in),
                                                range(kh), range(kw)):
        r, s = stride * yy + i - padding, stride * zz + j - padding
        if 0 <= r < h and 0 <= s < w:
            out[o, yy, zz] += k[o, c, i, j] * x[c, r, s]
    return out


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_forward_matches_scipy_and_adjoint_passes_dot_test(xp, geometry, stride, padding):
    kshape, hw = geometry
    rng = np.random.default_rng(hash((kshape, stride, padding)) % 2**32)
    k = rng.standard_normal(kshape)
    op = Conv2d(asarray(xp, k), hw, stride=stride, padding=padding)
    assert isinstance(op, LinearOperator)
    x = rng.standard_normal((2, kshape[1], *hw))
    expected = reference_conv(x, k, stride, padding)
    assert op.shape_out == expected.shape[1:]
    got = to_numpy(op.forward(asarray(xp, x)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for batch in [(), (3,), (2, 2)]:
        err, scale = dot_test(op, xp, rng, batch)
        assert err <= 1e-10 * scale


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_forward_matches_loops_and_adjoint_is_the_transpose(xp, stride, padding):
    rng = np.random.default_rng(stride)
    k = rng.standard_normal((2, 2, 3, 2))
    op = Conv2d(asarray(xp, k), (5, 6), stride=stride, padding=padding)
    x = rng.standard_normal((2, 5, 6))
    np.testing.assert_allclose(to_numpy(op.forward(asarray(xp, x))),
                               loop_conv(x, k, stride, padding), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dense_adjoint_matrix(op, xp), dense_matrix(op, xp).T,
                               rtol=1e-12, atol=1e-12)


def test_float32_is_kept(xp):
    rng = np.random.default_rng(3)
    k = rng.standard_normal((2, 3, 3, 3))
    x = rng.standard_normal((3, 8, 8))
    op32 = Conv2d(asarray(xp, k, xp.float32), (8, 8), stride=2, padding=1)
    y32 = op32.forward(asarray(xp, x, xp.float32))
    assert y32.dtype == xp.float32
    assert op32.adjoint(y32).dtype == xp.float32
    np.testing.assert_allclose(to_numpy(y32), reference_conv(x, k, 2, 1), rtol=1e-4, atol=1e-4)
    err, scale = dot_test(op32, xp, rng, (2,), dtype=xp.float32)
    assert err <= 1e-5 * scale
    assert Conv2d(asarray(xp, k), (8, 8)).astype(xp.float32).kernel.dtype == xp.float32


@pytest.mark.parametrize("h, w, k, s, p", [(7, 8, 3, 1, 0), (7, 8, (2, 3), 2, 1), (5, 5, 5, 3, 2),
                                           (1, 1, 1, 1, 0), (4, 9, (1, 4), 3, 0)])
def test_output_shape_counts_window_positions(h, w, k, s, p):
    kh, kw = (k, k) if isinstance(k, int) else k
    # a window starts at every multiple of s that leaves room for the kernel in the padded input
    rows = len([r for r in range(0, h + 2 * p, s) if r + kh <= h + 2 * p])
    cols = len([c for c in range(0, w + 2 * p, s) if c + kw <= w + 2 * p])
    assert conv2d_output_shape(h, w, k, s, p) == (rows, cols)


def test_empty_output_and_bad_sizes_are_refused(xp):
    with pytest.raises(ValueError, match="does not fit a 2×5 input with padding 0"):
        conv2d_output_shape(2, 5, 3)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        conv2d_output_shape(8, 8, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        conv2d_output_shape(8, 8, 3, padding=-1)
    with pytest.raises(ValueError, match="does not fit"):
        Conv2d(asarray(xp, np.ones((1, 1, 4, 4))), (2, 2), padding=0)
    with pytest.raises(ValueError, match="C_out, C_in, k_h, k_w"):
        Conv2d(asarray(xp, np.ones((3, 3))), (5, 5))
    # padding can make a kernel fit
    assert conv2d_output_shape(2, 2, 4, padding=1) == (1, 1)


# ---------------------------------------------------------------- the gradient in the kernel

def _loop_weight_grad(x, r, kh, kw, stride, padding):
    """``∂/∂K ⟨r, conv(x, K)⟩`` entry by entry, straight from the definition."""
    n, c_in, h, w = x.shape
    _, c_out, ho, wo = r.shape
    g = np.zeros((c_out, c_in, kh, kw))
    for o, c, i, j in itertools.product(range(c_out), range(c_in), range(kh), range(kw)):
        for b, yy, zz in itertools.product(range(n), range(ho), range(wo)):
            row, col = stride * yy + i - padding, stride * zz + j - padding
            if 0 <= row < h and 0 <= col < w:
                g[o, c, i, j] += r[b, o, yy, zz] * x[b, c, row, col]
    return g


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2), (1, 2)])
def test_weight_grad_matches_the_definition_and_the_dot_product_test(xp, stride, padding):
    rng = np.random.default_rng(10 * stride + padding)
    kh, kw, c_in, c_out, hw = 3, 2, 2, 3, (7, 6)
    ho, wo = conv2d_output_shape(*hw, (kh, kw), stride, padding)
    x = rng.standard_normal((2, c_in, *hw))
    r = rng.standard_normal((2, c_out, ho, wo))
    k = rng.standard_normal((c_out, c_in, kh, kw))
    op = Conv2d(asarray(xp, k), hw, stride, padding)
    g = to_numpy(op.weight_grad(asarray(xp, x), asarray(xp, r)))
    np.testing.assert_allclose(g, _loop_weight_grad(x, r, kh, kw, stride, padding),
                               rtol=1e-12, atol=1e-12)
    # ⟨r, conv(x, K)⟩ is linear in K, so ⟨∇_K, K⟩ must equal it for every K
    conv = to_numpy(op.forward(asarray(xp, x)))
    lhs, rhs = float(np.sum(g * k)), float(np.sum(r * conv))
    assert abs(lhs - rhs) <= 1e-12 * (abs(rhs) + np.linalg.norm(g) * np.linalg.norm(k))




def test_gram_trace_is_the_sum_of_the_squared_patches():
    """``Σ_{n, y, w} ‖patch‖²`` by explicit patches of the padded input."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6))
    op = Conv2d(rng.standard_normal((2, 3, 3, 2)), (7, 6), stride=2, padding=1)
    padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    _, ho, wo = op.shape_out
    total = sum(np.sum(padded[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 2] ** 2)
                for i in range(ho) for j in range(wo))
    assert op.gram_trace(x) == pytest.approx(total, rel=1e-12)


def test_gram_norm_is_lambda_max_of_the_kernel_jacobian_gram():
    """``λ_max`` of ``Σ_n J_nᵀ J_n`` for ``K ↦ conv(x_n, K)``, its Jacobian built column by column
    from unit kernels (``G ⊗ I`` has ``G``'s spectrum), below the trace."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 6, 5))
    kernel = rng.standard_normal((2, 2, 3, 2))
    op = Conv2d(kernel, (6, 5), stride=2, padding=1)
    cols = []
    for idx in range(kernel.size):
        unit = np.zeros(kernel.size)
        unit[idx] = 1.0
        cols.append(Conv2d(unit.reshape(kernel.shape), (6, 5), 2, 1).forward(x).reshape(-1))
    j = np.stack(cols, axis=1)
    exact = np.linalg.eigvalsh(j.T @ j)[-1]
    assert op.gram_norm(x) == pytest.approx(exact, rel=1e-10)
    assert op.gram_norm(x) < op.gram_trace(x)
