"""Models users bring from PyTorch, through ONNX and back.

A residual MLP with ``nn.Linear``'s biases (``x + V relu(A x + b) + c``), a convolutional
autoencoder with a ``ConvTranspose2d`` decoder (``Linear`` → ``view(-1, C, H, W)``), and an
unrolled dual forward–backward network whose kernels are shared between ``F.conv2d`` and
``F.conv_transpose2d`` with the input fed to every layer (the seed's proximal network).  Each
is exported by ``torch.onnx.export``; ``lbdsl import`` of that file computes what onnxruntime
computes from it (1e-6 in float64; 1e-5 for float32 convolutions, which onnxruntime's CPU has
only in float32), and lbdsl's own export of the imported spec computes what the spec computes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
from example_helpers import load_example

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

tm = load_example("torch_models")      # the three models the tests import
UnrolledDualFB = tm.UnrolledDualFB
MODELS = {   # name → (class, shape, the dtype onnxruntime runs it in, tolerance)
    "residual_mlp": (tm.ResidualMLP, (6,), torch.float64, 1e-6),
    "conv_autoencoder": (tm.ConvAutoencoder, (1, 12, 12), torch.float32, 1e-5),
    "unrolled_dual_fb": (UnrolledDualFB, (1, 8, 8), torch.float32, 1e-5),
}


def _exported(module, shape, dtype) -> bytes:  # noqa: ANN001
    return tm.onnx_bytes(module, shape, dtype)


def _ort(model: bytes | Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model if isinstance(model, bytes) else str(model),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module", params=MODELS)
def imported(request, tmp_path_factory):  # noqa: ANN001, ANN201
    make, shape, dtype, tol = MODELS[request.param]
    torch.manual_seed(0)
    module = make()
    data = _exported(module, shape, dtype)
    folder = tmp_path_factory.mktemp(request.param)
    (folder / "m.onnx").write_bytes(data)
    spec = lbdsl.import_onnx(folder / "m.onnx", folder, "net")
    return request.param, module, data, spec, folder


def test_the_import_computes_what_onnxruntime_computes(imported) -> None:  # noqa: ANN001
    name, module, data, spec, _ = imported
    _, shape, dtype, tol = MODELS[name]
    x = np.random.default_rng(1).standard_normal((5, *shape))
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    want = _ort(data, x.astype(np_dtype))
    got = spec.forward(x.astype(np_dtype).astype(np.float64))
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= tol * max(1.0, np.abs(want).max())
    with torch.no_grad():     # and PyTorch itself, in float64 (a float32 export rounds the
        ref = module.double()(torch.from_numpy(x)).numpy()      # constants, τ = 0.4 among them)
    module.to(dtype)
    close = 1e-12 if dtype == torch.float64 else 1e-6
    assert np.max(np.abs(spec.forward(x) - ref)) <= close * max(1.0, np.abs(ref).max())


def test_the_export_of_the_import_computes_what_the_spec_computes(imported) -> None:  # noqa
    name, _, _, spec, folder = imported
    _, shape, dtype, tol = MODELS[name]
    out = spec.export_onnx(folder / "again.onnx",
                           dtype="float64" if dtype == torch.float64 else "float32")
    x = np.random.default_rng(2).standard_normal((4, *shape))
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    want = spec.forward(x.astype(np_dtype).astype(np.float64))
    got = _ort(out, x.astype(np_dtype))
    assert np.max(np.abs(got - want)) <= tol * max(1.0, np.abs(want).max())


def test_what_each_import_says(imported) -> None:  # noqa: ANN001
    """The language's own forms: residual layers with their branch biases, the transposed
    convolutions and the image a dense layer makes, one tied kernel per ``L_k``."""
    name, module, _, spec, folder = imported
    text = (folder / "net.lbn").read_text()
    net = spec.network()
    if name == "residual_mlp":
        assert [type(s).__name__ for s in net.layers] == ["Residual", "Residual", "Layer"]
        assert "h1 = u + V1 @ relu(W1 @ u + b1) + c1" in text
        assert "h2 = h1 - V2 @ tanh(W2 @ h1 + b2) - c2" in text
        # x − (V a + c): the branch's bias is the Linear's, subtracted with it
        np.testing.assert_allclose(net.params["c2"].value, module.v2.bias.detach().numpy())
    elif name == "conv_autoencoder":
        assert "dense(h3, 8x3x3" in text and text.count("conv_t(") == 2
        assert net.shapes["h4"] == (8, 3, 3)
    else:
        kernels = [p for p in net.params.values() if len(p.shape) == 4]
        assert len(kernels) == len(module.L) == 3
        for p, L in zip(kernels, module.L):
            np.testing.assert_array_equal(p.value, L.detach().numpy().astype(np.float64))
        uses = {p.name: sum(m.weight == p.name for s in net.layers for t in s.affine.terms
                            for m in t.maps) for p in kernels}
        assert list(uses.values()) == [1, 3, 4]      # L_k and L_kᵀ, and L_Kᵀ in the output
        model = onnx.load(str(spec.export_onnx(folder / "tied.onnx")))
        four_d = [t for t in model.graph.initializer if len(t.dims) == 4]
        assert len(four_d) == 3                      # one initializer per shared kernel


def test_from_torch_reads_the_module_directly(tmp_path) -> None:
    torch.manual_seed(3)
    module = UnrolledDualFB(layers=2).double()
    spec_path, _ = lbdsl.exchange.torch.from_torch(
        module, torch.zeros(1, 1, 6, 6, dtype=torch.float64), tmp_path, "pnn")
    x = np.random.default_rng(4).standard_normal((3, 1, 6, 6))
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(lbdsl.load(spec_path).forward(x) - want)) <= 1e-12


def test_the_example_prints_each_import(tmp_path, monkeypatch, capsys) -> None:
    import sys

    monkeypatch.setattr(sys, "argv", ["x", "--out", str(tmp_path)])
    tm.main()
    out = capsys.readouterr().out
    diffs = [float(line.rsplit("=", 1)[1]) for line in out.splitlines() if "max |" in line]
    assert len(diffs) == 3 and max(diffs) <= 1e-12
