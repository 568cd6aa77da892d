"""The trainable affine maps: forward against the IR's reference, parameter gradients by the
dot-product test and central differences (conv2d included), Lipschitz bounds and the power
iteration against dense linear algebra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lbdsl.backend import asarray, namespace, to_numpy
from lbdsl.ir.evaluate import forward as reference_forward
from lbdsl.training.layers import conv2d_weight_grad
from lbdsl.training.model import Model
from train_helpers import build_net

MIXED = """
network mixed {
    input img : 2x6x5
    f = relu(conv2d(img, 3, kernel = 3x2, stride = 2, padding = 1))
    g = soft(dense(f, 7), theta = 0.1)
    param c : 4 = normal(seed = 3)
    param V : 7x4 = normal(seed = 4)
    param d : 4 = normal(seed = 5)
    y = c @ tanh(V.T @ g + d)
    output y
}
"""


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
def test_conv_weight_grad_matches_the_definition_and_the_dot_product_test(xp, stride, padding):
    from lbdsl.ops.conv import Conv2d, conv2d_output_shape

    rng = np.random.default_rng(10 * stride + padding)
    kh, kw, c_in, c_out, hw = 3, 2, 2, 3, (7, 6)
    ho, wo = conv2d_output_shape(*hw, (kh, kw), stride, padding)
    x = rng.standard_normal((2, c_in, *hw))
    r = rng.standard_normal((2, c_out, ho, wo))
    g = to_numpy(conv2d_weight_grad(asarray(xp, x), asarray(xp, r), (kh, kw), stride, padding))
    np.testing.assert_allclose(g, _loop_weight_grad(x, r, kh, kw, stride, padding),
                               rtol=1e-12, atol=1e-12)
    # ⟨r, conv(x, K)⟩ is linear in K, so ⟨∇_K, K⟩ must equal it for every K
    k = rng.standard_normal((c_out, c_in, kh, kw))
    conv = to_numpy(Conv2d(asarray(xp, k), hw, stride, padding).forward(asarray(xp, x)))
    lhs, rhs = float(np.sum(g * k)), float(np.sum(r * conv))
    assert abs(lhs - rhs) <= 1e-12 * (abs(rhs) + np.linalg.norm(g) * np.linalg.norm(k))


def test_forward_matches_the_reference_forward_pass(xp):
    net = build_net(MIXED)
    model = Model.from_ir(net, xp)
    params = model.init_params(xp, xp.float64)
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 5))
    values, _ = model.forward(params, asarray(xp, np.reshape(x, (3, -1))))
    ref = reference_forward(net, x)
    for var in ("f", "g", "y.tanh", "y"):
        np.testing.assert_allclose(to_numpy(values[var]), ref[var].reshape(3, -1),
                                   rtol=1e-12, atol=1e-12)


def test_param_grads_of_every_affine_kind_by_central_differences():
    """``∇_Θ ⟨r, A_Θ x + b⟩`` for conv2d (stride, padding), dense, ``V.T @`` and a row vector."""
    xp = namespace("numpy")
    net = build_net(MIXED)
    model = Model.from_ir(net, xp)
    params = model.init_params(xp, xp.float64)
    rng = np.random.default_rng(1)
    values, _ = model.forward(params, rng.standard_normal((3, 60)))
    for layer in model.layers:
        x = values[layer.input]
        r = rng.standard_normal((3, layer.op.out_size))
        grads = layer.op.param_grads(params, x, r)
        assert set(grads) == {layer.op.weight} | ({layer.op.bias} - {None})
        for name, g in grads.items():
            assert g.shape == params[name].shape
            direction = rng.standard_normal(params[name].shape)
            h = 1e-6

            def f(t):
                p = dict(params)
                p[name] = params[name] + t * direction
                return float(np.sum(r * layer.op.forward(p, x)))

            fd = (f(h) - f(-h)) / (2 * h)
            assert abs(fd - float(np.sum(g * direction))) <= 1e-7 * (1 + abs(fd))


def _jacobian_gram(op, params, x):
    """``(1/B) Σ_n J_nᵀ J_n`` of the linear map ``Θ = (A, b) ↦ A_Θ x + b``, column by column."""
    names = [op.weight] + ([op.bias] if op.bias else [])
    cols = []
    for name in names:
        for idx in range(params[name].size):
            p = {n: np.zeros_like(params[n]) for n in names}
            p[name].reshape(-1)[idx] = 1.0
            cols.append(op.forward(p, x).reshape(-1))
    j = np.stack(cols, axis=1)
    return j.T @ j / x.shape[0]


def test_weight_lipschitz_is_the_trace_of_the_jacobian_gram_and_bounds_lambda_max():
    xp = namespace("numpy")
    net = build_net(MIXED)
    model = Model.from_ir(net, xp)
    params = model.init_params(xp, xp.float64)
    rng = np.random.default_rng(2)
    values, _ = model.forward(params, rng.random((4, 60)))
    for layer in model.layers:
        x = values[layer.input]
        gram = _jacobian_gram(layer.op, params, x)
        lip = layer.op.weight_lipschitz(x)
        # trace over the output rows counts each input Gram once per output unit (G ⊗ I)
        units = layer.op.out_size // (1 if not layer.op.is_conv else
                                      int(np.prod(layer.op.affine.out_shape[1:])))
        assert lip == pytest.approx(np.trace(gram) / units, rel=1e-12)
        assert np.linalg.eigvalsh(gram)[-1] <= lip * (1 + 1e-12)


def test_power_iteration_gives_the_squared_operator_norm_from_below(xp):
    net = build_net(MIXED)
    model = Model.from_ir(net, xp)
    params = model.init_params(xp, xp.float64)
    for layer in model.layers:
        op = layer.op
        eye = asarray(xp, np.eye(op.in_size))
        dense = to_numpy(op.linear(params, eye)).T           # columns A e_j
        exact = np.linalg.norm(dense, 2) ** 2
        v = asarray(xp, np.ones((1, op.in_size)) / np.sqrt(op.in_size))
        estimates = []
        for _ in range(200):
            v, est = op.power_step(params, v)
            estimates.append(est)
        assert max(estimates) <= exact * (1 + 1e-10)
        assert estimates[-1] == pytest.approx(exact, rel=1e-6)
