"""The lifting pass against math.md §2's invariant and the dot-product test.

For networks of every supported kind (dense, matmul, transposed matmul, linear, tied and untied
residual with both signs and branch biases, shallow sums, conv2d with stride and padding,
transposed and tied convolutions, pre-activations over several variables, every Ψ), the
forward pass ``u*`` of the lifted problem must satisfy ``M u* = V prox_Ψ(W u* + b) + c`` and
``K u* = N(u_0)``, where ``N`` is the IR's independent reference evaluator; and each block of
``W`` is the matrix of the pre-activation's terms on that variable, built from the reference
evaluator one unit input at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lbdsl.backend import namespace, to_numpy
from lbdsl.program import build_module
from reference_forward import forward as reference_forward
from lbdsl.lift.compact import lift
from lbdsl.syntax.parser import parse

NETWORKS = {
    "feedforward": """
        network n { input u : 6
          param A : 5x6 = normal(seed = 1)  param a : 5 = normal(seed = 2)
          param B : 4x5 = normal(seed = 3)  param c : 4 = normal(seed = 4)
          h = relu(A @ u + a)  y = tanh(B @ h + c)  output y }""",
    "dense_every_psi": """
        network n { input u : 3x4
          h1 = leaky_relu(dense(u, 7), a = 0.2)  h2 = soft(dense(h1, 6), theta = 0.3)
          h3 = clip(dense(h2, 5), lo = -0.5, hi = 0.7)  h4 = sigmoid(dense(h3, 5))
          h5 = softmax(dense(h4, 4))  h6 = hardtanh(dense(h5, 3))  output h6 }""",
    "transposed_and_linear": """
        network n { input u : 5
          param A : 5x7 = normal(seed = 5)  param b : 7 = normal(seed = 6)
          param C : 3x7 = normal(seed = 7)
          h = relu(A.T @ u + b)  y = C @ h  output y }""",
    "residual_tied_plus": """
        network n { input u : 4
          repeat 3 { param W : 6x4 = normal(std = 0.5, seed = 1)  param b : 6 = normal(seed = 2)
                     u = u + W.T @ relu(W @ u + b) }
          output u }""",
    "residual_tied_minus": """
        network n { input u : 4
          repeat 2 { param W : 6x4 = normal(std = 0.5, seed = 3)  param b : 6 = normal(seed = 4)
                     u = u - W.T @ tanh(W @ u + b) }
          output u }""",
    "residual_untied": """
        network n { input u : 4
          param W : 6x4 = normal(seed = 8)  param V : 4x6 = normal(seed = 9)
          param b : 6 = zeros
          u = u + V @ relu(W @ u + b)  u = u - V @ soft(W @ u + b, theta = 0.1)  output u }""",
    "shallow_sum": """
        network n { input u : 1
          param w : 25x1 = ones  param b : 25 = linspace(0, -1.44)
          param c : 25 = normal(seed = 3)
          y = c @ relu(w @ u + b)  output y }""",
    "conv": """
        network n { input u : 2x9x8
          h = relu(conv2d(u, 3, kernel = 3, stride = 2, padding = 1))
          g = tanh(conv2d(h, 2, kernel = 2))
          y = dense(g, 5)  output y }""",
    # pre-activations that are linear expressions: skip inputs, multiples, compositions
    "linear_expressions": """
        network n { input u : 6
          param A : 5x6 = normal(seed = 1)  param B : 5x5 = normal(std = 0.5, seed = 2)
          param C : 5x6 = normal(seed = 3)  param a : 5 = normal(seed = 4)
          h = relu(A @ u + a)  y = tanh(B @ h + C @ u - 0.5 * h + 2 * B @ (B.T @ h))
          w = y - 0.5 * h + C @ u  output w }""",
    # the seed's proximal network: one kernel as a convolution and its adjoint
    "tied_convolutions": """
        network n { input z : 1x6x5
          param L : 3x1x3x3 = normal(std = 0.4, seed = 1)
          u = clip(0.5 * L @ z, lo = -0.2, hi = 0.2)
          u = clip(u - 0.5 * L @ (L.T @ u - z), lo = -0.2, hi = 0.2)
          x = z - L.T @ u  output x }""",
    "transposed_convolution": """
        network n { input u : 1x6x6
          h = relu(conv2d(u, 2, kernel = 3, stride = 2, padding = 1))
          c = relu(dense(h, 2x3x3))
          y = sigmoid(conv2d_t(c, 1, kernel = 3, stride = 2, padding = 1, output_padding = 1))
          output y }""",
    "residual_branch_bias": """
        network n { input u : 4
          param W : 6x4 = normal(std = 0.5, seed = 1)  param b : 6 = normal(seed = 2)
          param c : 4 = normal(seed = 3)  param V : 4x6 = normal(seed = 4)
          param d : 4 = normal(seed = 5)
          u = u + W.T @ relu(W @ u + b) + c  u = u - V @ tanh(W @ u) - d  output u }""",
}


def _net(name: str) -> Any:
    module = parse(NETWORKS[name], f"<{name}>")
    return build_module(module).networks["n"]


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_forward_pass_satisfies_the_compact_form(name: str, xp: Any) -> None:
    net = _net(name)
    lp = lift(net, xp)
    rng = np.random.default_rng(0)
    u0_host = rng.normal(size=(3, lp.u_blocks[0].size))  # a batch of three inputs
    u = lp.forward(xp.asarray(u0_host))
    lhs = to_numpy(lp.M.forward(u))
    rhs = to_numpy(lp.V.forward(lp.prox(lp.W.forward(u) + lp.b)))
    if lp.c is not None:                 # the residual branch biases: M u = V z + c
        rhs = rhs + to_numpy(lp.c)
    scale = max(1.0, float(np.max(np.abs(lhs))))
    assert np.max(np.abs(lhs - rhs)) <= 1e-12 * scale
    reference = reference_forward(net, u0_host.reshape(3, *net.input_shape))
    expected = reference[net.output].reshape(3, -1)
    assert np.allclose(to_numpy(lp.output(u)), expected, rtol=1e-12, atol=1e-12)
    # every block of u* is the reference value of its variable
    for blk in lp.u_blocks:
        got = to_numpy(u)[:, blk.offset:blk.offset + blk.size]
        assert np.allclose(got, reference[blk.var].reshape(3, -1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("op_name", ["K", "M", "V", "W"])
def test_block_operators_pass_the_dot_product_test(name: str, op_name: str, xp: Any) -> None:
    lp = lift(_net(name), xp)
    op = getattr(lp, op_name)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, op.shape_in[0]))
    y = rng.normal(size=(2, op.shape_out[0]))
    ax = to_numpy(op.forward(xp.asarray(x)))
    aty = to_numpy(op.adjoint(xp.asarray(y)))
    lhs, rhs = np.sum(ax * y), np.sum(x * aty)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, np.linalg.norm(ax) * np.linalg.norm(y))


def test_float32_lifting_keeps_the_dtype(xp: Any) -> None:
    lp = lift(_net("feedforward"), xp, xp.float32)
    u = lp.forward(xp.ones((1, lp.u_blocks[0].size), dtype=xp.float32))
    assert u.dtype == xp.float32
    r = to_numpy(lp.M.forward(u) - lp.V.forward(lp.prox(lp.W.forward(u) + lp.b)))
    assert np.max(np.abs(r)) <= 1e-5


def test_residual_blocks_follow_the_seed_layout() -> None:
    """Tied `+` layers: M rows [−I, I], V = W_lᵀ, W = W_l on the input block (math.md §2)."""
    lp = lift(_net("residual_tied_plus"))
    assert [lp.M.label(0, j) for j in range(4)] == ["−I", "I", "0", "0"]
    assert [lp.M.label(2, j) for j in range(4)] == ["0", "0", "−I", "I"]
    assert lp.V.label(1, 1) == "W_2ᵀ" and lp.W.label(1, 1) == "W_2"
    assert lp.K.label(0, 3) == "I"
    minus = lift(_net("residual_tied_minus"))
    assert [minus.M.label(0, j) for j in range(3)] == ["I", "−I", "0"]


@pytest.mark.parametrize("name", ["linear_expressions", "tied_convolutions",
                                  "transposed_convolution", "residual_branch_bias"])
def test_each_block_of_w_is_the_matrix_of_its_terms(name: str) -> None:
    """``W``'s block ``(l, j)``, densified, against the reference evaluator's pre-activation
    of layer ``l`` with the biases zeroed, every variable zero but ``u_j = e_k``."""
    from lbdsl.ir.nodes import Affine
    from reference_forward import apply_affine

    net = _net(name)
    lp = lift(net)
    dense_w = to_numpy(lp.W.dense(namespace("numpy"), np.float64))
    for layer in lp.layers:
        step = layer.step
        bare = Affine(step.affine.terms, (), step.affine.out_shape, None)
        rows = slice(layer.z_offset, layer.z_offset + layer.z_size)
        for blk in lp.u_blocks:
            values = {b.var: np.zeros((blk.size, *b.shape)) for b in lp.u_blocks}
            values[blk.var] = np.eye(blk.size).reshape(blk.size, *blk.shape)
            cols = apply_affine(bare, values, net.params, (blk.size,)).reshape(blk.size, -1).T
            np.testing.assert_allclose(dense_w[rows, blk.offset:blk.offset + blk.size], cols,
                                       rtol=1e-12, atol=1e-12)
            if not np.any(cols):
                assert (layer.index, lp.u_blocks.index(blk)) not in lp.W.entries


def test_the_branch_bias_shifts_the_constraint_and_not_the_certificate() -> None:
    """``c`` enters ``M u = V z + c`` only: the quadratic form ``Q`` of the certificate, hence
    its margin at every ρ, is that of the same network without ``c``."""
    from lbdsl.certify.certificate import certify_network

    with_c = _net("residual_branch_bias")
    without = build_module(parse(NETWORKS["residual_branch_bias"].replace(" + c ", " ")
                                 .replace(" - d ", " "), "<nc>")).networks["n"]
    lp, lp0 = lift(with_c), lift(without)
    assert lp.c is not None and lp0.c is None and np.any(to_numpy(lp.c))
    for rho in (0.1, 10.0, None):
        a = certify_network(with_c, lam=1.0, rho=rho)
        b = certify_network(without, lam=1.0, rho=rho)
        assert (a.certified, a.kind, a.route) == (b.certified, b.kind, b.route)
        if a.margin is not None or b.margin is not None:
            assert a.margin == pytest.approx(b.margin, rel=1e-12, abs=1e-12)
