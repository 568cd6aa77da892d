"""The reference forward pass (``reference_forward.forward``) against hand-written NumPy.

For random small networks of every kind (feed-forward, dense, tied and untied residual, shallow
sum, conv2d), the values computed from the IR equal those of a direct NumPy transcription of
the spec, using the parameter values the IR holds.  Activations are written out here
independently of the catalogue, so the catalogue's ``prox`` is checked along the way.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir_helpers import build_net
from reference_forward import forward

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTS = {
    "identity": ("", lambda z: z),
    "relu": ("", lambda z: np.maximum(z, 0)),
    "leaky_relu": (", a = 0.2", lambda z: np.where(z >= 0, z, 0.2 * z)),
    "soft": (", theta = 0.3", lambda z: np.sign(z) * np.maximum(np.abs(z) - 0.3, 0)),
    "clip": (", lo = -0.5, hi = 0.7", lambda z: np.clip(z, -0.5, 0.7)),
    "hardtanh": ("", lambda z: np.clip(z, -1, 1)),
    "tanh": ("", np.tanh),
    "sigmoid": ("", lambda z: 1 / (1 + np.exp(-z))),
    "softmax": ("", softmax),
}
act_names = st.sampled_from(sorted(ACTS))
dims = st.integers(1, 6)


def P(net, name):
    return net.params[name].value


@SETTINGS
@given(n1=dims, n2=dims, m=dims, act=act_names, seed=st.integers(0, 100))
def test_feed_forward_matmul(n1, n2, m, act, seed):
    kw, f = ACTS[act]
    net = build_net(f"""
network ff {{
    input  u : {n1}x{n2}
    param  W : {m}x{n1 * n2} = normal(seed = {seed})
    param  b : {m} = uniform(-1, 1, seed = {seed + 1})
    param  A : {n1 * n2}x{m} = normal(std = 0.5, seed = {seed + 2})
    h = {act}(W @ u + b{kw})
    y = A @ h
    output y
}}""")
    u0 = np.random.default_rng(seed).normal(size=(n1, n2))
    h = f(P(net, "W") @ u0.ravel() + P(net, "b"))
    y = P(net, "A") @ h
    got = forward(net, u0)
    np.testing.assert_allclose(got["h"], h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["y"], y, rtol=1e-10, atol=1e-12)
    assert got["y"].shape == net.shapes["y"]


@SETTINGS
@given(n=dims, w1=dims, w2=dims, act=act_names, seed=st.integers(0, 100))
def test_dense_chain(n, w1, w2, act, seed):
    kw, f = ACTS[act]
    net = build_net(f"""
network mlp {{
    input  x : 2x{n}
    h = {act}(dense(x, {w1}){kw})
    h = relu(dense(h, {w2}))
    y = dense(h, 3)
    output y
}}""")
    x0 = np.random.default_rng(seed).normal(size=(2, n))
    h1 = f(P(net, "h_W") @ x0.ravel() + P(net, "h_b"))
    h2 = np.maximum(P(net, "h_W_2") @ h1 + P(net, "h_b_2"), 0)
    y = P(net, "y_W") @ h2 + P(net, "y_b")
    got = forward(net, x0)
    np.testing.assert_allclose(got["h"], h1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["h#2"], h2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["y"], y, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(n=dims, k=dims, reps=st.integers(1, 5), act=act_names, seed=st.integers(0, 100))
def test_tied_residual_repeat(n, k, reps, act, seed):
    kw, f = ACTS[act]
    net = build_net(f"""
network res {{
    input  x : {n}
    repeat {reps} {{
        param W : {k}x{n} = normal(std = 0.3, seed = {seed})
        param b : {k} = normal(std = 0.1)
        x = x + W.T @ {act}(W @ x + b{kw})
    }}
    output x
}}""")
    x = np.random.default_rng(seed).normal(size=n)
    got = forward(net, x)
    for i in range(1, reps + 1):
        W, b = P(net, f"W_{i}"), P(net, f"b_{i}")
        x = x + W.T @ f(W @ x + b)
        np.testing.assert_allclose(got[f"x#{i + 1}"], x, rtol=1e-10, atol=1e-12)
    assert net.output == f"x#{reps + 1}"


@SETTINGS
@given(h=dims, w=dims, k=dims, act=act_names, seed=st.integers(0, 100))
def test_minus_residual_untied(h, w, k, act, seed):
    kw, f = ACTS[act]
    net = build_net(f"""
network minus {{
    input  x : {h}x{w}
    param  W : {k}x{h * w} = normal(std = 0.5, seed = {seed})
    param  V : {h * w}x{k} = uniform(-1, 1, seed = {seed + 1})
    param  A : {h * w}x{k} = normal(seed = {seed + 2})
    x = x - V @ {act}(A.T @ x{kw})
    output x
}}""")
    x0 = np.random.default_rng(seed).normal(size=(h, w))
    want = x0 - (P(net, "V") @ f(P(net, "A").T @ x0.ravel())).reshape(h, w)
    (step,) = net.layers
    assert not step.tied and step.affine.map.transposed
    np.testing.assert_allclose(forward(net, x0)["x#2"], want, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(n=dims, j=st.integers(1, 12), act=act_names, seed=st.integers(0, 100))
def test_shallow_sum(n, j, act, seed):
    kw, f = ACTS[act]
    net = build_net(f"""
network shallow {{
    input  u : {n}
    param  w : {j}x{n} = normal(seed = {seed})
    param  b : {j} = linspace(-1, 1)
    param  c : {j} = normal(seed = {seed + 1})
    param  d : 1 = [0.25]
    y = c @ {act}(w @ u + b{kw}) + d
    output y
}}""")
    u0 = np.random.default_rng(seed).normal(size=n)
    want = np.sum(P(net, "c") * f(P(net, "w") @ u0 + P(net, "b"))) + 0.25
    np.testing.assert_allclose(forward(net, u0)["y"], [want], rtol=1e-10, atol=1e-12)


def conv_loops(x, kernel, stride, padding):
    """Cross-correlation with explicit loops (independent of the evaluator's windows)."""
    c_in, H, W = x.shape
    c_out, _, kh, kw = kernel.shape
    xp = np.zeros((c_in, H + 2 * padding, W + 2 * padding))
    xp[:, padding:padding + H, padding:padding + W] = x
    ho = (H + 2 * padding - kh) // stride + 1
    wo = (W + 2 * padding - kw) // stride + 1
    out = np.zeros((c_out, ho, wo))
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[o, i, j] = np.sum(patch * kernel[o])
    return out


@SETTINGS
@given(c=st.integers(1, 3), hw=st.integers(3, 7), ch=st.integers(1, 3), k=st.integers(1, 3),
       stride=st.integers(1, 2), pad=st.integers(0, 1), act=act_names, seed=st.integers(0, 50))
def test_conv2d(c, hw, ch, k, stride, pad, act, seed):
    kw, f = ACTS[act]
    shape = f"{c}x{hw}x{hw}" if c > 1 else f"{hw}x{hw}"
    net = build_net(f"""
network cnn {{
    input  img : {shape}
    h = {act}(conv2d(img, {ch}, kernel = {k}, stride = {stride}, padding = {pad}){kw})
    y = dense(h, 2)
    output y
}}""")
    x0 = np.random.default_rng(seed).normal(size=(c, hw, hw))
    z = conv_loops(x0, P(net, "h_W"), stride, pad) + P(net, "h_b")[:, None, None]
    h = f(z.ravel()).reshape(z.shape)
    y = P(net, "y_W") @ h.ravel() + P(net, "y_b")
    got = forward(net, x0.reshape(net.input_shape))
    np.testing.assert_allclose(got["h"], h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["y"], y, rtol=1e-10, atol=1e-12)


def test_conv2d_matches_the_operator():
    """The IR's conv settings mean the same operator as ``lbdsl.ops.conv.Conv2d``."""
    from lbdsl.ops.conv import Conv2d

    net = build_net("""
network cnn {
    input  img : 2x9x8
    h = conv2d(img, 3, kernel = 3x2, stride = 2, padding = 1)
    output h
}""")
    (layer,) = net.layers
    a = layer.affine.map
    op = Conv2d(net.params[a.weight].value, a.in_shape[1:], a.stride, a.padding)
    assert op.shape_out == a.out_shape == net.shapes["h"]
    x0 = np.random.default_rng(0).normal(size=(2, 9, 8))
    want = op.forward(x0) + net.params[layer.affine.bias].value[:, None, None]
    np.testing.assert_allclose(forward(net, x0)["h"], want, rtol=1e-12, atol=1e-12)


def test_forward_accepts_batches_and_flat_inputs():
    net = build_net("""
network ff {
    input  u : 3x4
    param  W : 5x12 = normal(seed = 0)
    h = tanh(W @ u)
    output h
}""")
    batch = np.random.default_rng(1).normal(size=(7, 3, 4))
    many = forward(net, batch)["h"]
    assert many.shape == (7, 5)
    for i in range(7):
        np.testing.assert_allclose(many[i], forward(net, batch[i].ravel())["h"], rtol=1e-12)
    with pytest.raises(ValueError):
        forward(net, np.zeros(5))
