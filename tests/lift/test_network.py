"""The network runtime (``lbdsl.lift.network``) against independent oracles.

- the taped forward pass against the IR's reference forward pass (dense, conv2d, ``V.T @``, a
  row vector, residual layers of both signs, tied and untied);
- each map's parameter gradient ``∇_θ ⟨r, A_θ x + b⟩`` by central differences, its
  ``weight_lipschitz`` against the dense Gram matrix of its Jacobian, its power iteration
  against the dense operator norm;
- the reverse pass (input and parameter gradients, residual ``V`` included) by central
  differences, and against PyTorch autograd on a residual MLP to 1e-8 in float64;
- the substitution ``T`` and its adjoint by the dot-product test.
"""

from __future__ import annotations

import numpy as np
import pytest

from lbdsl.backend import asarray, namespace, to_numpy
from lbdsl.lift.network import Substitution, lifted_network
from reference_forward import forward as reference_forward
from spec_helpers import build_net

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

RESIDUAL = """
network res {
    input u : 5
    h = tanh(dense(u, 6))
    param W : 4x6 = normal(std = 0.4, seed = 1)
    param b : 4 = normal(std = 0.2, seed = 2)
    h = h + W.T @ tanh(W @ h + b)
    param A : 3x6 = normal(std = 0.4, seed = 3)
    param V : 6x3 = normal(std = 0.4, seed = 4)
    h = h - V @ sigmoid(A @ h)
    y = dense(h, 2)
    output y
}
"""

# pre-activations of several terms: a skip input, a kernel shared by a convolution and its
# adjoint (the seed's proximal network), a transposed convolution, residual branch biases
TERMS = """
network terms {
    input z : 1x6x4
    param L : 3x1x3x3 = normal(std = 0.4, seed = 1)
    u = tanh(0.5 * L @ z)
    u = tanh(u - 0.5 * L @ (L.T @ u - z))
    c = relu(dense(u, 2x3x2))
    x = z - L.T @ u + conv2d_t(c, 1, kernel = 3, stride = 2, padding = 1, output_padding = 1)
    param W : 6x24 = normal(std = 0.3, seed = 2)
    param b : 6 = normal(seed = 3)
    param d : 24 = normal(seed = 4)
    x = x + W.T @ sigmoid(W @ x + b) + d
    output x
}
"""

NETS = {"mixed": MIXED, "residual": RESIDUAL}
ALL = {**NETS, "terms": TERMS}


@pytest.mark.parametrize("name", ALL)
def test_the_tape_matches_the_reference_forward_pass(xp, name):
    net = build_net(ALL[name])
    rt = lifted_network(net, xp)
    x = np.random.default_rng(0).standard_normal((3, *net.input_shape))
    tape = rt.tape(asarray(xp, x.reshape(3, -1)))
    ref = reference_forward(net, x)
    for blk, value in zip(rt.u_blocks, tape.blocks):
        np.testing.assert_allclose(to_numpy(value), ref[blk.var].reshape(3, -1), rtol=1e-12,
                                   atol=1e-12)
    for layer, pre, act in zip(rt.layers, tape.pre, tape.act):
        np.testing.assert_allclose(to_numpy(act), to_numpy(layer.psi.prox(pre)), rtol=0, atol=0)


def _fd(f, h: float = 1e-6) -> float:
    return (f(h) - f(-h)) / (2 * h)


@pytest.mark.parametrize("name", ALL)
def test_param_grads_of_every_map_by_central_differences(name):
    """``∇_θ ⟨r, A_θ x + b⟩`` for conv2d (stride, padding), dense, ``V.T @``, a row vector and
    a residual's ``V``."""
    net = build_net(ALL[name])
    rt = lifted_network(net)
    params = rt.params
    rng = np.random.default_rng(1)
    tape = rt.tape(rng.standard_normal((3, rt.u_blocks[0].size)))
    for layer in rt.layers:
        blocks = tape.blocks
        r = rng.standard_normal((3, layer.z_size))
        grads: dict = {}
        layer.param_grads(params, blocks, r, grads)
        assert set(grads) == set(layer.step.affine.weights) | set(layer.biases)
        maps = [(grads, lambda p, layer=layer: layer.pre(p, blocks), r)]
        if layer.V is not None:
            a, s = tape.act[layer.index], rng.standard_normal((3, layer.V.out_shape[0]))
            maps.append(({layer.V.weight: layer.V.weight_grad(params, a, s)},
                         lambda p, a=a, layer=layer: layer.V.forward(p, a), s))
        for got, apply, weight in maps:
            for pname, g in got.items():
                assert g.shape == params[pname].shape
                direction = rng.standard_normal(params[pname].shape)

                def f(t, pname=pname, direction=direction, apply=apply, weight=weight):
                    p = dict(params)
                    p[pname] = params[pname] + t * direction
                    return float(np.sum(weight * apply(p)))

                fd = _fd(f)
                assert abs(fd - float(np.sum(g * direction))) <= 1e-7 * (1 + abs(fd))


def _jacobian_gram(layer, params, blocks):
    """``(1/B) Σ_n J_nᵀ J_n`` of the linear map ``Θ = (A, b) ↦ A_Θ x + b``, column by column."""
    names = [layer.A.weight] + ([layer.bias] if layer.bias else [])
    cols = []
    for name in names:
        for idx in range(params[name].size):
            p = {n: np.zeros_like(params[n]) for n in names}
            p[name].reshape(-1)[idx] = 1.0
            cols.append(layer.pre(p, blocks).reshape(-1))
    j = np.stack(cols, axis=1)
    return j.T @ j / blocks[0].shape[0]


def test_weight_lipschitz_bounds_lambda_max_of_the_jacobian_gram_within_a_factor_two():
    """``λ_max(G)/B + k`` against the eigenvalues of the dense Gram matrix of the Jacobian of
    ``(A, b) ↦ A u + b``, built column by column: an upper bound, and at most twice the truth."""
    net = build_net(MIXED)
    rt = lifted_network(net)
    rng = np.random.default_rng(2)
    tape = rt.tape(rng.random((4, 60)))
    for layer in rt.layers:
        gram = _jacobian_gram(layer, rt.params, tape.blocks)
        lip = layer.weight_lipschitz(rt.params, tape.blocks[layer.input_block])
        exact = np.linalg.eigvalsh(gram)[-1]
        assert exact <= lip * (1 + 1e-12)
        assert lip <= 2 * exact * (1 + 1e-12)
        if layer.bias is None:       # no bias term: the bound is λ_max itself
            assert lip == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("name", NETS)
def test_power_iteration_gives_the_squared_operator_norm_from_below(xp, name):
    rt = lifted_network(build_net(NETS[name]), xp)
    maps = [layer.A for layer in rt.layers] + [layer.V for layer in rt.layers if layer.V]
    for op in maps:
        dense = to_numpy(op.forward(rt.params, asarray(xp, np.eye(op.in_size)))).T
        exact = np.linalg.norm(dense, 2) ** 2
        v = asarray(xp, np.ones((1, op.in_size)) / np.sqrt(op.in_size))
        estimates = []
        for _ in range(200):
            v, est = op.power_step(rt.params, v)
            estimates.append(est)
        assert max(estimates) <= exact * (1 + 1e-10)
        assert estimates[-1] == pytest.approx(exact, rel=1e-6)


def _loss(rt, params, x, g_out):
    return float(np.sum(g_out * rt.tape(x, params).blocks[rt.output_block]))


@pytest.mark.parametrize("name", ALL)
def test_the_reverse_pass_matches_central_differences(name):
    """``⟨g, N_θ(x)⟩``: its gradient in x and in every parameter, residual V's included."""
    rt = lifted_network(build_net(ALL[name]))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, rt.u_blocks[0].size))
    g_out = rng.standard_normal((2, rt.u_blocks[rt.output_block].size))
    tape = rt.tape(x)
    gx, grads = rt.vjp(tape, {rt.output_block: g_out}, param_grads=True)
    assert set(grads) == set(rt.param_names)
    d = rng.standard_normal(x.shape)
    fd = _fd(lambda t: _loss(rt, rt.params, x + t * d, g_out))
    assert float(np.sum(gx * d)) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    for pname, g in grads.items():
        direction = rng.standard_normal(rt.params[pname].shape)

        def f(t, pname=pname, direction=direction):
            p = dict(rt.params)
            p[pname] = rt.params[pname] + t * direction
            return _loss(rt, p, x, g_out)

        assert float(np.sum(g * direction)) == pytest.approx(_fd(f), rel=1e-6, abs=1e-9), pname


def test_the_reverse_pass_matches_pytorch_autograd_on_a_residual_mlp():
    """The same residual MLP in ``torch.nn`` (float64): outputs to 1e-12, and the gradients of
    ``½‖N(x) − y‖²`` in the input and in every parameter to 1e-8."""
    torch = pytest.importorskip("torch")
    net = build_net(RESIDUAL)
    rt = lifted_network(net)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((7, 2))
    t = {name: torch.tensor(value, requires_grad=True) for name, value in rt.params.items()}
    tx = torch.tensor(x, requires_grad=True)
    h = torch.tanh(tx @ t["h_W"].T + t["h_b"])
    h = h + torch.tanh(h @ t["W"].T + t["b"]) @ t["W"]
    h = h - torch.sigmoid(h @ t["A"].T) @ t["V"].T
    out = h @ t["y_W"].T + t["y_b"]
    loss = 0.5 * torch.sum((out - torch.tensor(y)) ** 2)
    loss.backward()
    tape = rt.tape(x)
    np.testing.assert_allclose(tape.blocks[rt.output_block], out.detach().numpy(), rtol=0,
                               atol=1e-12)
    gx, grads = rt.vjp(tape, {rt.output_block: tape.blocks[rt.output_block] - y},
                       param_grads=True)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=0, atol=1e-8)
    for name, g in grads.items():
        np.testing.assert_allclose(g, t[name].grad.numpy(), rtol=0, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("name", ALL)
def test_the_substitution_solves_the_constraint_and_has_an_adjoint(name):
    from lbdsl.lift.compact import lift

    lp = lift(build_net(ALL[name]))
    T = Substitution(lp)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, T.shape_in[0]))
    u = T.forward(x)
    assert np.allclose(lp.M.forward(u), lp.V.forward(x[:, T.n0:]), atol=1e-12)
    if lp.c is not None:        # the point of the affine constraint M u = V z + c
        assert np.allclose(lp.M.forward(T.point(x)), lp.V.forward(x[:, T.n0:]) + lp.c,
                           atol=1e-12)
    y = rng.standard_normal((3, T.shape_out[0]))
    lhs, rhs = np.sum(u * y), np.sum(x * T.adjoint(y))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_a_call_without_params_uses_the_networks_own():
    rt = lifted_network(build_net(RESIDUAL), namespace("numpy"))
    x = np.random.default_rng(6).standard_normal((2, 5))
    np.testing.assert_array_equal(rt.forward(x), rt.forward(x, dict(rt.params)))


def test_shared_kernel_gradients_are_pytorch_autograds():
    """The network of several terms in PyTorch's functional ops (float64): the output to
    1e-12, the gradients of ``½‖N(z) − y‖²`` in the input and in every parameter — the kernel
    ``L`` a convolution in one place and its adjoint in others, its gradient summed over every
    use — to 1e-8."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = build_net(TERMS)
    rt = lifted_network(net)
    rng = np.random.default_rng(7)
    z, y = rng.standard_normal((4, 1, 6, 4)), rng.standard_normal((4, 24))
    t = {name: torch.tensor(value, requires_grad=True) for name, value in rt.params.items()}
    tz = torch.tensor(z, requires_grad=True)
    L = t["L"]
    u = torch.tanh(0.5 * F.conv2d(tz, L, padding=1))
    u = torch.tanh(u - 0.5 * F.conv2d(F.conv_transpose2d(u, L, padding=1) - tz, L, padding=1))
    c = torch.relu(u.flatten(1) @ t["c_W"].T + t["c_b"]).view(-1, 2, 3, 2)
    x = z_term = tz - F.conv_transpose2d(u, L, padding=1)
    x = (z_term + F.conv_transpose2d(c, t["x_W"], t["x_b"], 2, 1, 1)).flatten(1)
    x = x + torch.sigmoid(x @ t["W"].T + t["b"]) @ t["W"] + t["d"]
    loss = 0.5 * torch.sum((x - torch.tensor(y)) ** 2)
    loss.backward()
    tape = rt.tape(z.reshape(4, -1))
    out = tape.blocks[rt.output_block]
    np.testing.assert_allclose(out, x.detach().numpy(), rtol=0, atol=1e-12)
    gx, grads = rt.vjp(tape, {rt.output_block: out - y}, param_grads=True)
    np.testing.assert_allclose(gx, tz.grad.numpy().reshape(4, -1), rtol=0, atol=1e-8)
    assert set(grads) == set(t)
    for name, g in grads.items():
        np.testing.assert_allclose(g, t[name].grad.numpy(), rtol=0, atol=1e-8, err_msg=name)


SKIP_SMALL = """
network s {
    input x : 4
    param A : 4x4 = normal(std = 0.01, seed = 1)
    param B : 4x4 = normal(std = 0.01, seed = 2)
    h = A @ x
    y = tanh(B @ h + x)
    output y
}
"""


@pytest.mark.parametrize("name", [*ALL, "skip_small"])
def test_the_jacobian_bound_bounds_the_jacobian(name):
    """``‖∂N/∂u_0‖₂`` at random points, from the Jacobian built row by row with the reverse
    pass, never exceeds :meth:`jacobian_bound` — a skip input with small weights included
    (a product over layers would give ~1e-4 there, the Jacobian's norm is ~1)."""
    rt = lifted_network(build_net({**ALL, "skip_small": SKIP_SMALL}[name]))
    bound = rt.jacobian_bound()
    rng = np.random.default_rng(9)
    m = rt.u_blocks[rt.output_block].size
    for _ in range(3):
        x = rng.standard_normal((1, rt.u_blocks[0].size))
        tape = rt.tape(np.repeat(x, m, axis=0))
        rows, _ = rt.vjp(tape, {rt.output_block: np.eye(m)})
        assert np.linalg.norm(rows, 2) <= bound * (1 + 1e-9)
    if name == "skip_small":
        assert bound < 1.2
