"""Conv2dTranspose (and Conv2d with a stride and padding per axis) against PyTorch's
``conv_transpose2d`` / ``conv2d``, an explicit scatter loop, the dot-product test, and its
kernel gradient and Gram bounds against the dense Jacobian."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lbdsl.backend import asarray, namespace, to_numpy
from lbdsl.ops.conv import Conv2d, Conv2dTranspose, conv2d_transpose_output_shape
from op_testing import dense_adjoint_matrix, dense_matrix, dot_test

# kernel (C_a, C_b, k_h, k_w), input (H, W), stride, padding, output_padding
CASES = [
    ((2, 3, 3, 3), (4, 5), 1, 0, 0),
    ((3, 2, 3, 2), (5, 4), 2, 1, 1),
    ((1, 4, 4, 4), (3, 3), 3, 2, 2),
    ((2, 1, 3, 3), (7, 6), (3, 2), 1, (1, 1)),     # PyTorch's test_ConvTranspose2d geometry
    ((2, 2, 2, 3), (4, 6), (2, 1), (1, 0), (1, 0)),
]


def scatter_loop(v: np.ndarray, k: np.ndarray, stride, padding, extra) -> np.ndarray:
    """The definition: each input entry adds its kernel-weighted patch at ``s·i − p``."""
    (sh, sw), (ph, pw), (qh, qw) = (np.broadcast_to(a, 2) for a in (stride, padding, extra))
    c_a, c_b, kh, kw = k.shape
    _, h, w = v.shape
    ho, wo = (h - 1) * sh - 2 * ph + kh + qh, (w - 1) * sw - 2 * pw + kw + qw
    out = np.zeros((c_b, ho, wo))
    for a, b, i, j, r, s in itertools.product(range(c_a), range(c_b), range(h), range(w),
                                              range(kh), range(kw)):
        row, col = sh * i - ph + r, sw * j - pw + s
        if 0 <= row < ho and 0 <= col < wo:
            out[b, row, col] += v[a, i, j] * k[a, b, r, s]
    return out


@pytest.mark.parametrize("kshape, hw, stride, padding, extra", CASES)
def test_forward_is_the_scatter_and_pytorch_and_the_adjoint_passes_the_dot_test(
        xp, kshape, hw, stride, padding, extra):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(kshape) + hw[0])
    k = rng.standard_normal(kshape)
    op = Conv2dTranspose(asarray(xp, k), hw, stride, padding, extra)
    v = rng.standard_normal((2, kshape[0], *hw))
    got = to_numpy(op.forward(asarray(xp, v)))
    np.testing.assert_allclose(got[1], scatter_loop(v[1], k, stride, padding, extra),
                               rtol=1e-12, atol=1e-12)
    ref = torch.nn.functional.conv_transpose2d(torch.from_numpy(v), torch.from_numpy(k),
                                               stride=stride, padding=padding,
                                               output_padding=extra).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert op.shape_out == ref.shape[1:]
    for batch in [(), (3,)]:
        err, scale = dot_test(op, xp, rng, batch)
        assert err <= 1e-10 * scale
    np.testing.assert_allclose(dense_adjoint_matrix(op, xp), dense_matrix(op, xp).T,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding", [((2, 3), (1, 0)), ((1, 2), (0, 2))])
def test_a_stride_and_padding_per_axis_are_pytorchs(xp, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    k = rng.standard_normal((2, 3, 3, 2))
    x = rng.standard_normal((2, 3, 7, 8))
    op = Conv2d(asarray(xp, k), (7, 8), stride, padding)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(k), stride=stride,
                                     padding=padding).numpy()
    np.testing.assert_allclose(to_numpy(op.forward(asarray(xp, x))), ref, rtol=1e-12,
                               atol=1e-12)
    err, scale = dot_test(op, xp, rng, (2,))
    assert err <= 1e-10 * scale


def test_it_is_the_adjoint_of_the_convolution_with_the_same_kernel():
    """``conv_t(K) = conv(K)ᵀ`` as matrices, for the convolution whose output it reads."""
    rng = np.random.default_rng(4)
    k = rng.standard_normal((3, 2, 3, 3))
    t = Conv2dTranspose(k, (4, 5), 2, 1, 1)
    conv = Conv2d(k, t.shape_out[1:], 2, 1)
    assert conv.shape_out == t.shape_in
    xp = namespace("numpy")
    np.testing.assert_allclose(dense_matrix(t, xp), dense_matrix(conv, xp).T, rtol=1e-12,
                               atol=1e-12)


def test_output_shape_and_refusals():
    assert conv2d_transpose_output_shape(7, 6, 3, (3, 2), 1, (1, 1)) == (20, 12)   # (H−1)s − 2p + k + q
    with pytest.raises(ValueError, match="output_padding must be below the stride"):
        conv2d_transpose_output_shape(4, 4, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="empty"):
        conv2d_transpose_output_shape(1, 1, 1, 1, 1)


@pytest.mark.parametrize("stride, padding, extra", [(1, 0, 0), (2, 1, 1), ((3, 2), 1, (2, 0))])
def test_kernel_gradient_and_gram_bounds_against_the_dense_jacobian(stride, padding, extra):
    """``∇_K ⟨r, conv_t(K) v⟩`` against central differences (exact: linear in K) and PyTorch
    autograd; ``gram_trace`` / ``gram_norm`` against the Jacobian ``K ↦ conv_t(K) v`` built
    column by column from unit kernels."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    k = rng.standard_normal((2, 3, 3, 2))
    v = rng.standard_normal((2, 2, 4, 3))
    op = Conv2dTranspose(k, (4, 3), stride, padding, extra)
    r = rng.standard_normal((2, *op.shape_out))
    g = op.weight_grad(v, r)
    assert g.shape == k.shape
    kt = torch.from_numpy(k.copy()).requires_grad_(True)
    out = torch.nn.functional.conv_transpose2d(torch.from_numpy(v), kt, stride=stride,
                                               padding=padding, output_padding=extra)
    (out * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(g, kt.grad.numpy(), rtol=1e-12, atol=1e-12)
    d = rng.standard_normal(k.shape)
    h = 1e-3
    fd = (np.sum(r * Conv2dTranspose(k + h * d, (4, 3), stride, padding, extra).forward(v))
          - np.sum(r * Conv2dTranspose(k - h * d, (4, 3), stride, padding, extra).forward(v))
          ) / (2 * h)
    assert abs(fd - np.sum(g * d)) <= 1e-9 * (1 + abs(fd))
    cols = []
    for idx in range(k.size):
        unit = np.zeros(k.size)
        unit[idx] = 1.0
        cols.append(Conv2dTranspose(unit.reshape(k.shape), (4, 3), stride, padding,
                                    extra).forward(v).reshape(-1))
    j = np.stack(cols, axis=1)
    # every output channel sees the same input rows: JᵀJ = G ⊗ I with G the Gram of D
    assert op.gram_trace(v) * k.shape[1] == pytest.approx(np.trace(j.T @ j), rel=1e-10)
    assert op.gram_norm(v) == pytest.approx(np.linalg.eigvalsh(j.T @ j)[-1], rel=1e-10)
