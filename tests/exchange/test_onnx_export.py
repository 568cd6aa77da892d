"""``lbdsl export``: onnxruntime runs the written model and gets what ``spec.forward`` gets;
importing what was exported gives back the same weights and the same function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
import onnx_models as om
from lbdsl.cli import main

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

EVERY_ACTIVATION = """
network every {
    input u : 3x4
    param W1 : 10x12 = normal(std = 0.5, seed = 1)
    param b1 : 10 = normal(std = 0.1, seed = 2)
    h1 = leaky_relu(W1 @ u + b1, a = 0.3)
    h2 = soft(dense(h1, 9), theta = 0.05)
    h3 = clip(dense(h2, 8), lo = -0.2, hi = 0.4)
    h4 = hardtanh(dense(h3, 8))
    h5 = tanh(dense(h4, 7))
    h6 = sigmoid(dense(h5, 6))
    h7 = softmax(dense(h6, 6))
    param S : 6x6 = normal(std = 0.3, seed = 5)
    param c : 6 = zeros
    h7 = h7 + S @ relu(S.T @ h7 + c)
    h7 = h7 - S.T @ tanh(S @ h7)
    param w : 6 = normal(seed = 6)
    h8 = identity(dense(h7, 6))
    y = w @ relu(dense(h8, 6))
    output y
}
"""

# onnxruntime's CPU has no float64 kernel for Elu (as for Conv): float32 only through it
ELU = """
network elus {
    input u : 6
    h = elu(dense(u, 8))
    g = elu(dense(h, 5), alpha = 0.5)
    output g
}
"""

CONV = """
network conv {
    input img : 9x9
    f = relu(conv2d(img, 3, kernel = 3, stride = 2, padding = 1))
    g = leaky_relu(conv2d(f, 2, kernel = 2x3))
    y = dense(g, 5)
    output y
}
"""


# linear expressions: skip inputs, multiples, a composition, a kernel tied between a convolution
# and its adjoint, a transposed convolution, an image-shaped dense layer, a branch bias
TERMS = """
network terms {
    input z : 1x6x4
    param L : 3x1x3x3 = normal(std = 0.4, seed = 1)
    param c : 3 = normal(seed = 2)
    u = clip(0.5 * L @ z + c, lo = -0.3, hi = 0.3)
    u = clip(u - 0.5 * L @ (L.T @ u - z), lo = -0.3, hi = 0.3)
    d = relu(dense(u, 2x3x2))
    x = z - L.T @ u + conv2d_t(d, 1, kernel = 3, stride = 2, padding = 1, output_padding = 1)
    param W : 5x24 = normal(std = 0.3, seed = 3)
    param e : 24 = normal(seed = 4)
    x = x - W.T @ tanh(W @ x) - e
    y = conv(L, x, stride = 2x1, padding = 1x0) + 0.25 * conv(L, z, stride = 2x1, padding = 1x0)
    output y
}
"""


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


# float64 to 1e-7, not to rounding: ONNX keeps LeakyRelu's alpha and Shrink's lambd in float32
@pytest.mark.parametrize("text, dtype, tol", [(EVERY_ACTIVATION, "float64", 1e-7),
                                              (EVERY_ACTIVATION, "float32", 1e-5),
                                              (ELU, "float32", 1e-5),
                                              (CONV, "float32", 1e-5),
                                              (TERMS, "float32", 1e-5)])
def test_onnxruntime_computes_what_spec_forward_computes(text, dtype, tol, tmp_path):
    spec = lbdsl.loads(text)
    path = spec.export_onnx(tmp_path / "m.onnx", dtype=dtype)
    net = spec.network()
    x = np.random.default_rng(0).standard_normal((7, *net.input_shape))
    expected = spec.forward(x)
    got = _ort(path, x.astype(dtype))
    assert got.shape == expected.shape == (7, *net.output_shape)
    assert np.max(np.abs(got - expected)) <= tol * max(1.0, np.abs(expected).max())


def test_the_demo_and_a_tied_residual_spec_through_the_command_line(tmp_path, capsys):
    for spec_file in (None, "specs/residual_tied_5.lbn"):
        out = tmp_path / "m.onnx"
        args = ["export", *([spec_file] if spec_file else []), "--out", str(out),
                "--dtype", "float64"]
        assert main(args) == 0 and "wrote" in capsys.readouterr().out
        spec = lbdsl.load(spec_file)
        x = np.random.default_rng(1).uniform(0, 1, (3, *spec.network().input_shape))
        assert np.allclose(_ort(out, x), spec.forward(x), rtol=1e-12, atol=1e-12)


def test_import_of_export_is_the_identity_on_the_weights(tmp_path):
    text = EVERY_ACTIVATION.split("    param S")[0] + "    output h7\n}\n"
    spec = lbdsl.loads(text)
    path = spec.export_onnx(tmp_path / "m.onnx", dtype="float64")
    back = lbdsl.import_onnx(path, tmp_path, "back")
    mine = [p.value for p in spec.network().params.values()]
    theirs = [p.value for p in back.network().params.values()]
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert np.array_equal(a.reshape(b.shape), b)
    x = np.random.default_rng(2).standard_normal((5, 3, 4))
    # the same function, up to leaky_relu's a = 0.3 having come back as float32(0.3)
    assert "a = 0.30000001192092896" in (tmp_path / "back.lbn").read_text()
    assert np.allclose(back.forward(x), spec.forward(x), rtol=1e-6, atol=1e-9)


def test_elu_exports_as_elu_and_imports_back_in_float64(tmp_path):
    spec = lbdsl.loads(ELU)
    path = spec.export_onnx(tmp_path / "m.onnx", dtype="float64")
    nodes = [(n.op_type, {a.name: a.f for a in n.attribute}) for n in onnx.load(path).graph.node
             if n.op_type == "Elu"]
    assert nodes == [("Elu", {"alpha": 1.0}), ("Elu", {"alpha": 0.5})]
    back = lbdsl.import_onnx(path, tmp_path, "back")
    x = np.random.default_rng(4).standard_normal((5, 6))
    assert np.allclose(back.forward(x), spec.forward(x), rtol=1e-14, atol=1e-15)


def test_trained_weights_replace_the_specs_and_bad_ones_are_one_line(tmp_path, capsys):
    spec = lbdsl.loads(EVERY_ACTIVATION)
    W1 = np.full((10, 12), 0.01)
    np.savez(tmp_path / "w.npz", W1=W1)
    path = spec.export_onnx(tmp_path / "m.onnx", weights=tmp_path / "w.npz", dtype="float64")
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    changed = lbdsl.loads(EVERY_ACTIVATION.replace("normal(std = 0.5, seed = 1)", "0.01"))
    assert np.allclose(_ort(path, x), changed.forward(x), rtol=1e-7, atol=1e-12)
    assert not np.allclose(changed.forward(x), spec.forward(x), rtol=1e-3)
    np.savez(tmp_path / "bad.npz", W1=np.ones((3, 3)))
    spec_file = tmp_path / "every.lbn"
    spec_file.write_text(EVERY_ACTIVATION)
    assert main(["export", str(spec_file), "--weights", str(tmp_path / "bad.npz"),
                 "--out", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert "`W1` has shape (3, 3) in the weights, (10, 12) in the network" in err
    assert not (tmp_path / "x.onnx").exists()


def test_exported_model_passes_the_onnx_checker_and_names_its_axes(tmp_path):
    path = lbdsl.loads(CONV).export_onnx(tmp_path / "c.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 9, 9]
    assert om.run(model, np.zeros((1, 9, 9), np.float32)).shape == (1, 5)


@pytest.mark.parametrize("text", [
    "network r { input u : 5  param A : 7x5 = normal(seed = 1)  param V : 5x7 = normal(seed = 2)"
    "  u = u + V @ relu(A @ u)  u = u - A.T @ tanh(A @ u)  output u }",
    "network c { input u : 1x6x6  h = relu(conv2d(u, 2, kernel = 3, padding = 1))  "
    "y = dense(h, 3)  output y }",
])
def test_residual_and_image_networks_come_back_from_their_export(text, tmp_path):
    spec = lbdsl.loads(text)
    back = lbdsl.import_onnx(spec.export_onnx(tmp_path / "m.onnx", dtype="float64"), tmp_path,
                             "back")
    x = np.random.default_rng(4).standard_normal((3, *spec.network().input_shape))
    assert np.allclose(back.forward(x), spec.forward(x), rtol=1e-12, atol=1e-13)
    assert len(back.network().layers) == len(spec.network().layers)


def test_unreadable_weights_are_named_in_one_line(tmp_path, capsys):
    spec_file = tmp_path / "every.lbn"
    spec_file.write_text(EVERY_ACTIVATION)
    for weights in (tmp_path / "missing.npz", spec_file):
        assert main(["export", str(spec_file), "--weights", str(weights), "--out",
                     str(tmp_path / "x.onnx")]) == 1
        err = capsys.readouterr().err
        assert f"cannot read the weights {weights}" in err and "Traceback" not in err


def test_a_kernel_used_in_several_places_is_one_initializer(tmp_path):
    model = onnx.load(str(lbdsl.loads(TERMS).export_onnx(tmp_path / "t.onnx")))
    kernels = [t for t in model.graph.initializer if list(t.dims) == [3, 1, 3, 3]]
    assert len(kernels) == 1
    readers = [n.op_type for n in model.graph.node if kernels[0].name in n.input]
    assert sorted(readers) == ["Conv"] * 5 + ["ConvTranspose"] * 2


def test_a_branch_bias_per_channel_is_exported_over_its_pixels(tmp_path):
    spec = lbdsl.loads("""network r { input x : 2x3x3
        param A : 4x18 = normal(std = 0.3, seed = 1)  param V : 18x4 = normal(std = 0.3, seed = 2)
        param c : 2 = [0.5, -1.0]
        x = x - V @ relu(A @ x) - c  output x }""")
    path = spec.export_onnx(tmp_path / "r.onnx", dtype="float64")
    x = np.random.default_rng(3).standard_normal((4, 2, 3, 3))
    np.testing.assert_allclose(_ort(path, x), spec.forward(x), rtol=1e-12, atol=1e-12)
