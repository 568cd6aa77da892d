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

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import lbdsl

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
nn, F = torch.nn, torch.nn.functional


class ResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a1, self.v1 = nn.Linear(6, 10), nn.Linear(10, 6)
        self.a2, self.v2 = nn.Linear(6, 10), nn.Linear(10, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):  # noqa: ANN001, ANN201
        x = x + self.v1(torch.relu(self.a1(x)))
        x = x - self.v2(torch.tanh(self.a2(x)))
        return self.out(x)


class ConvAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.e1, self.e2 = nn.Conv2d(1, 4, 3, 2, 1), nn.Conv2d(4, 8, 3, 2, 1)
        self.code, self.up = nn.Linear(72, 10), nn.Linear(10, 72)
        self.d1 = nn.ConvTranspose2d(8, 4, 3, 2, 1, 1)
        self.d2 = nn.ConvTranspose2d(4, 1, 3, 2, 1, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        h = torch.relu(self.e2(torch.relu(self.e1(x))))
        c = torch.relu(self.code(h.flatten(1)))
        h = torch.relu(self.up(c)).view(-1, 8, 3, 3)
        return torch.sigmoid(self.d2(torch.relu(self.d1(h))))


class UnrolledDualFB(nn.Module):
    """``u_{k+1} = clip_λ(u_k − τ L_k(L_kᵀ u_k − z))``, ``x = z − L_Kᵀ u_K`` (u_0 = 0)."""

    def __init__(self, layers: int = 3, channels: int = 4, tau: float = 0.4,
                 lam: float = 0.1) -> None:
        super().__init__()
        self.L = nn.ParameterList([nn.Parameter(0.3 * torch.randn(channels, 1, 3, 3))
                                   for _ in range(layers)])
        self.tau, self.lam = tau, lam

    def forward(self, z):  # noqa: ANN001, ANN201
        u = torch.clamp(self.tau * F.conv2d(z, self.L[0], padding=1), -self.lam, self.lam)
        for L in self.L[1:]:
            r = F.conv_transpose2d(u, L, padding=1) - z
            u = torch.clamp(u - self.tau * F.conv2d(r, L, padding=1), -self.lam, self.lam)
        return z - F.conv_transpose2d(u, self.L[-1], padding=1)


MODELS = {
    "residual_mlp": (ResidualMLP, (6,), torch.float64, 1e-6),
    "conv_autoencoder": (ConvAutoencoder, (1, 12, 12), torch.float32, 1e-5),
    "unrolled_dual_fb": (UnrolledDualFB, (1, 8, 8), torch.float32, 1e-5),
}


def _exported(module, shape, dtype) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.to(dtype).eval(), (torch.zeros(2, *shape, dtype=dtype),),
                          buffer, dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          opset_version=20, do_constant_folding=True)
    return buffer.getvalue()


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
