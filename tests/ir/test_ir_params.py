"""Parameter initialisation: every INIT form, seeds, repeat copies, created weights, load()."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ir_helpers import build_net
from lbdsl.errors import SpecError
from lbdsl.ir.build import build_network
from lbdsl.syntax.parser import parse


def params_of(decls: str, folder=None):
    """The parameters of a network holding ``decls`` (each used nowhere else)."""
    net = build_net(f"network n {{\n input u : 2\n{decls}\n output u\n}}", folder)
    return {name: p.value for name, p in net.params.items()}


def test_normal_and_uniform_are_seeded_numpy_generators():
    p = params_of("param A : 3x4 = normal(mean = 2, std = 0.5, seed = 11)\n"
                  "param B : 5 = uniform(-2, 3, seed = 4)\n"
                  "param C : 2x2 = normal(1, 3)\n"
                  "param D : 6 = uniform(lo = 1, hi = 2)")
    np.testing.assert_array_equal(p["A"], np.random.default_rng(11).normal(2, 0.5, (3, 4)))
    np.testing.assert_array_equal(p["B"], np.random.default_rng(4).uniform(-2, 3, 5))
    # no seed: a stable seed from the parameter's name
    np.testing.assert_array_equal(p["C"],
                                  np.random.default_rng(zlib.crc32(b"C")).normal(1, 3, (2, 2)))
    assert p["D"].min() >= 1 and p["D"].max() < 2
    again = params_of("param C : 2x2 = normal(1, 3)")
    np.testing.assert_array_equal(again["C"], p["C"])


def test_constant_forms():
    p = params_of("param Z : 2x3 = zeros\nparam O : 4 = ones()\nparam E : 2x3 = eye\n"
                  "param F : 3x2 = eye()\nparam K : 2x2 = 0.5\nparam N : 3 = -1")
    np.testing.assert_array_equal(p["Z"], np.zeros((2, 3)))
    np.testing.assert_array_equal(p["O"], np.ones(4))
    np.testing.assert_array_equal(p["E"], np.eye(2, 3))
    np.testing.assert_array_equal(p["F"], np.eye(3, 2))
    np.testing.assert_array_equal(p["K"], np.full((2, 2), 0.5))
    np.testing.assert_array_equal(p["N"], -np.ones(3))
    for value in p.values():
        assert value.dtype == np.float64 and value.flags.c_contiguous


def test_linspace_fills_row_major():
    p = params_of("param L : 2x3 = linspace(0, 5)\nparam M : 4 = linspace(-1, 1)")
    np.testing.assert_array_equal(p["L"], np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(p["M"], [-1, -1 / 3, 1 / 3, 1])


def test_list_literals_nested_or_flat():
    p = params_of("param A : 2x3 = [[1, 2, 3], [4, 5, -6]]\n"
                  "param B : 2x3 = [1, 2, 3, 4, 5, 6]\n"
                  "param C : 2x1x2 = [[[1, 2]], [[3, 4]]]\n"
                  "param D : 3 = [0.5, 1e-3, -2]")
    np.testing.assert_array_equal(p["A"], [[1, 2, 3], [4, 5, -6]])
    np.testing.assert_array_equal(p["B"], [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(p["C"], [[[1, 2]], [[3, 4]]])
    np.testing.assert_array_equal(p["D"], [0.5, 1e-3, -2])


def test_load_npy_and_npz_relative_to_the_spec(tmp_path):
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "w.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    np.savez(tmp_path / "data" / "all.npz", W=np.ones((3, 2)), b=np.full(3, 2.0))
    np.savez(tmp_path / "one.npz", only=np.eye(2))
    p = params_of('param A : 2x3 = load("data/w.npy")\n'
                  'param B : 3x2 = load("data/all.npz", "W")\n'
                  'param C : 3 = load("data/all.npz", key = "b")\n'
                  'param D : 2x2 = load("one.npz")', folder=tmp_path)
    np.testing.assert_array_equal(p["A"], np.arange(6.0).reshape(2, 3))
    assert p["A"].dtype == np.float64
    np.testing.assert_array_equal(p["B"], np.ones((3, 2)))
    np.testing.assert_array_equal(p["C"], np.full(3, 2.0))
    np.testing.assert_array_equal(p["D"], np.eye(2))


def test_load_npz_with_several_arrays_needs_a_key(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.ones(2))
    with pytest.raises(SpecError) as info:
        params_of('param A : 2 = load("two.npz")', folder=tmp_path)
    (d,) = info.value.diagnostics
    assert "holds 2 arrays" in d.message and "a, b" in d.hint


def test_all_load_errors_are_reported_together(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((2, 2)))
    with pytest.raises(SpecError) as info:
        params_of('param A : 3 = load("w.npy")\nparam B : 2 = load("nope.npy")', tmp_path)
    messages = [d.message for d in info.value.diagnostics]
    assert len(messages) == 2
    assert "shape 2x2" in messages[0] and "no such file" in messages[1]


def test_repeat_copies_offset_the_seed_and_suffix_the_name():
    net = build_net("""
network r {
    input x : 3
    repeat 2 {
        param A : 3x3 = normal(seed = 10)
        repeat 3 {
            param B : 3x3 = uniform(-1, 1, seed = 100)
            param C : 3x3 = normal(std = 0.1)
            x = x + B.T @ relu(B @ x)
        }
        x = x + A @ tanh(A @ x)
    }
    output x
}""")
    names = list(net.params)
    assert names[:4] == ["A_1", "B_1_1", "C_1_1", "B_1_2"]
    assert "B_2_3" in names and "A_2" in names and len(names) == 2 + 2 * 3 * 2
    for i in (1, 2):
        np.testing.assert_array_equal(net.params[f"A_{i}"].value,
                                      np.random.default_rng(10 + i - 1).normal(size=(3, 3)))
        for j in (1, 2, 3):
            offset = (i - 1) * 3 + (j - 1)  # position of the copy in the unrolled order
            np.testing.assert_array_equal(
                net.params[f"B_{i}_{j}"].value,
                np.random.default_rng(100 + offset).uniform(-1, 1, (3, 3)))
            np.testing.assert_array_equal(
                net.params[f"C_{i}_{j}"].value,
                np.random.default_rng(zlib.crc32(f"C_{i}_{j}".encode())).normal(0, 0.1, (3, 3)))
    assert net.params["B_2_3"].declared_name == "B"
    assert len(net.layers) == 2 * 3 + 2 and net.output == "x#9"


def test_repeat_copy_can_be_named_in_full_after_the_repeat():
    net = build_net("""
network r {
    input x : 4
    repeat 3 {
        param W : 4x4 = normal(std = 0.1, seed = 1)
        x = x + W.T @ relu(W @ x)
    }
    y = W_2 @ x
    output y
}""")
    assert net.layers[-1].affine.map.weight == "W_2"


def test_dense_default_init_is_pytorch_uniform_seeded_by_name():
    net = build_net("network d {\n input x : 5x5\n h = relu(dense(x, 7))\n output h\n}")
    W, b = net.params["h_W"], net.params["h_b"]
    assert W.shape == (7, 25) and b.shape == (7,) and W.created and b.created
    bound = 1 / 5.0
    np.testing.assert_array_equal(
        W.value, np.random.default_rng(zlib.crc32(b"h_W")).uniform(-bound, bound, (7, 25)))
    np.testing.assert_array_equal(
        b.value, np.random.default_rng(zlib.crc32(b"h_b")).uniform(-bound, bound, 7))


def test_created_names_inside_repeat_and_on_rebinding():
    net = build_net("""
network d {
    input x : 4
    x = relu(dense(x, 4))
    repeat 2 { x = tanh(dense(x, 4)) }
    x = dense(x, 4)
    output x
}""")
    assert list(net.params) == ["x_W", "x_b", "x_W_1", "x_b_1", "x_W_2", "x_b_2",
                                "x_W_3", "x_b_3"]


def test_size_limit_is_checked_before_allocating():
    source = """
network big {
    input u : 1000
    param W : 1000x1000 = normal(seed = 0)
    h = relu(W @ u)
    output h
}"""
    net = parse(source).networks[0]
    with pytest.raises(SpecError) as info:
        build_network(net, ".", source=source, max_param_bytes=1_000_000)
    assert "7.6 MiB" in info.value.diagnostics[0].message
    assert build_network(net, ".", source=source).params["W"].shape == (1000, 1000)


def test_keyless_npz_load_reads_each_parameter_under_its_own_name(tmp_path):
    """A trained weights.npz stores W_1 … W_N: `load("w.npz")` in a repeat reads each copy."""
    np.savez(tmp_path / "w.npz", W_1=np.full((2, 2), 1.0), W_2=np.full((2, 2), 2.0),
             b=np.zeros(2))
    net = build_net('network n { input u : 2\n repeat 2 { param W : 2x2 = load("w.npz")\n'
                    ' u = u + W.T @ relu(W @ u) }\n output u }', folder=tmp_path)
    np.testing.assert_array_equal(net.params["W_1"].value, np.full((2, 2), 1.0))
    np.testing.assert_array_equal(net.params["W_2"].value, np.full((2, 2), 2.0))
    with pytest.raises(SpecError) as info:  # several arrays, none named like the parameter
        params_of('param A : 2x2 = load("w.npz")', folder=tmp_path)
    assert "none is called `A`" in info.value.diagnostics[0].message
