"""Pooling, nearest upsampling, transposed convolutions, and the shape arithmetic PyTorch writes
in front of a reshape (``nn.Unflatten``, ``x.view(x.size(0), …)``), imported as the language's
convolutions (docs/interop.md).

Two independent oracles: PyTorch itself — each module is exported in float32 by
``lbdsl.from_torch`` and the spec's ``forward`` must equal the same module run in float64 on the
exported (float32) weights, to 1e-12 — and onnxruntime, on graphs built node by node for the
attributes PyTorch does not write (coordinate modes, asymmetric pads, the deprecated
``Upsample``).  Each imported spec exported again computes what it computes, and what cannot be
read exactly is refused in one line that says why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
import onnx_models as om
from lbdsl.cli import main

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

nn = torch.nn


class _View(nn.Module):
    """``x.view(x.size(0), -1)``: a reshape whose batch size is read by ``Shape``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.linear = nn.Conv2d(1, 2, 3), nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.linear(torch.relu(self.conv(x)).view(x.size(0), -1))


#: name → (module, input shape, what the spec must say)
TORCH_MODELS = {
    "conv_t": (lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), nn.ReLU()),
        (2, 5, 5), ["conv_t(K2, h1, stride=2, padding=1, output_padding=1) + b2"]),
    "conv_t_per_axis": (lambda: nn.Sequential(
        nn.ConvTranspose2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), bias=False),
        nn.Tanh()), (2, 4, 5), ["conv_t(K1, u, stride=2x1, padding=1x0)"]),
    "unflatten_decoder": (lambda: nn.Sequential(
        nn.Linear(4, 18), nn.ReLU(), nn.Unflatten(1, (2, 3, 3)),
        nn.ConvTranspose2d(2, 1, 4, stride=2, padding=1), nn.Sigmoid()),
        (4,), ["relu(dense(u, 2x3x3", "conv_t(K2, h1, stride=2, padding=1) + b2"]),
    "view_batch": (_View, (1, 6, 6), ["h2 = W2 @ h1 + b2"]),
    "avg_pool": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
                                       nn.AvgPool2d(2), nn.ReLU()),
                 (2, 6, 6), ["param P2 : 3x3x2x2", "conv(P2, h1, stride=2, padding=0)"]),
    "avg_pool_padded": (lambda: nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1),
                                              nn.ReLU()),
                        (2, 7, 7), ["conv(P1, u, stride=2, padding=1)"]),
    "adaptive_avg_pool": (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.ReLU()),
                          (2, 6, 6), ["conv(P1, u, stride=3, padding=0)"]),
    # border windows over fewer entries: the pooling's matrix
    "avg_pool_uncounted": (lambda: nn.Sequential(
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.ReLU()),
        (2, 5, 5), ["relu(M1 @ u)"]),
    "avg_pool_ceil": (lambda: nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), nn.ReLU()),
                      (2, 5, 7), ["relu(M1 @ u)"]),
    "avg_pool_ceil_whole": (lambda: nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), nn.ReLU()),
                            (2, 6, 6), ["conv(P1, u, stride=2, padding=0)"]),
    "global_avg_pool": (lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(3, 4), nn.Tanh()),
        (2, 6, 6), ["param P2 : 3x3x6x6", "W2 @ (conv(P2, h1, stride=1, padding=0)) + b2"]),
    "upsample": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
                                       nn.Upsample(scale_factor=2), nn.ReLU()),
                 (2, 4, 5), ["param U2 : 3x3x2x2", "relu(conv_t(U2, h1, stride=2, padding=0))"]),
    "upsample_per_axis": (lambda: nn.Sequential(nn.UpsamplingNearest2d(scale_factor=(2, 3)),
                                                nn.Sigmoid()),
                          (2, 3, 4), ["conv_t(U1, u, stride=2x3, padding=0)"]),
    "upsample_to_size": (lambda: nn.Sequential(nn.Upsample(size=(8, 12)), nn.ReLU()),
                         (2, 4, 4), ["conv_t(U1, u, stride=2x3, padding=0)"]),
    "encoder_decoder": (lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1), nn.Tanh(), nn.Upsample(scale_factor=2),
        nn.Conv2d(4, 1, 3, padding=1), nn.Sigmoid()),
        (1, 8, 8), ["K2 @ (conv(P2, h1, stride=2, padding=0)) + b2",
                    "K3 @ (conv_t(U3, h2, stride=2, padding=0)) + b3"]),
}


@pytest.fixture(scope="module", params=TORCH_MODELS)
def imported(request, tmp_path_factory):  # noqa: ANN001, ANN201
    make, shape, _ = TORCH_MODELS[request.param]
    torch.manual_seed(0)
    module = make()
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1))
    folder = tmp_path_factory.mktemp(request.param)
    spec = lbdsl.from_torch(module, x[:1], out=folder, name="m")
    with torch.no_grad():     # float64 on the float32 weights that were exported
        want = module.double()(x.double()).numpy()
    return request.param, spec, folder, x.numpy().astype(np.float64), want


def test_the_import_computes_what_pytorch_computes(imported) -> None:  # noqa: ANN001
    name, spec, folder, x, want = imported
    got = spec.forward(x)
    assert got.size == want.size
    assert np.max(np.abs(got.reshape(want.shape) - want)) <= 1e-12 * max(1.0, np.abs(want).max())
    text = (folder / "m.lbn").read_text()
    for line in TORCH_MODELS[name][2]:
        assert line in text, text


def test_the_export_of_the_import_computes_what_the_spec_computes(imported) -> None:  # noqa
    """Poolings and repetitions go out as the ``Conv`` / ``ConvTranspose`` they came in as, and
    import again (float32: the export rounds the weights)."""
    _, spec, folder, x, _ = imported
    out = spec.export_onnx(folder / "again.onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    want = spec.forward(x.astype(np.float32).astype(np.float64))
    scale = max(1.0, np.abs(want).max())
    assert np.max(np.abs(got.reshape(want.shape) - want)) <= 1e-5 * scale
    back = lbdsl.import_onnx(out, folder / "back", "back")
    assert np.max(np.abs(back.forward(x).reshape(want.shape) - spec.forward(x))) <= 1e-5 * scale


def test_a_pooling_kernel_and_a_repetition_kernel_are_the_averages_and_the_ones(imported):
    name, spec, _, _, _ = imported
    params = spec.network().params
    for key, p in params.items():
        if key[0] in "PU" and p.value.ndim == 4:
            c, k = p.value.shape[0], p.value.shape[2:]
            block = np.full(k, 1.0 if key[0] == "U" else 1.0 / (k[0] * k[1]))
            expected = np.einsum("ij,kl->ijkl", np.eye(c), block)
            np.testing.assert_array_equal(p.value, expected)


def test_the_pooling_windows_are_pytorchs():
    """Each window's entries and divisor, on a grid of sizes, kernels, strides, paddings and
    both modes, against ``F.avg_pool2d`` (which onnxruntime's AveragePool agrees with)."""
    from lbdsl.exchange.onnx_resample import pool_windows

    rng = np.random.default_rng(0)
    for n in range(3, 9):
        x = rng.standard_normal(n)
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for ceil in (False, True):
                        for counted in (False, True):
                            if n + 2 * p < k:
                                continue
                            want = torch.nn.functional.avg_pool2d(
                                torch.from_numpy(x).reshape(1, 1, n, 1), (k, 1), (s, 1),
                                (p, 0), ceil_mode=ceil, count_include_pad=counted)
                            got = [x[a:b].sum() / (size if counted else b - a)
                                   for a, b, size in pool_windows(n, k, s, p, p, ceil)]
                            np.testing.assert_allclose(got, want.reshape(-1).numpy(),
                                                       rtol=1e-12, atol=1e-15)


# -- graphs built node by node, against onnxruntime ----------------------------------------------
def _ort_exact(model, tmp_path: Path, shape, contains: str | None = None) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    spec = lbdsl.import_onnx(path, tmp_path / "out", "net")
    x = np.random.default_rng(3).standard_normal((4, *shape)).astype(np.float32)
    want = om.run(model, x)
    got = spec.forward(x.astype(np.float64))
    assert got.size == want.size
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6, atol=1e-6)
    text = (tmp_path / "out" / "net.lbn").read_text()
    if contains is not None:
        assert contains in text, text
    return text


def _with_opset(model, opset: int):
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", opset))
    return model


@pytest.mark.parametrize("coordinates, rounding, scales, contains", [
    ("asymmetric", "floor", [1, 1, 2, 3], "stride=2x3"),           # PyTorch's nn.Upsample
    ("half_pixel", "round_prefer_floor", [1, 1, 3, 2], "stride=3x2"),     # ONNX's defaults
    ("pytorch_half_pixel", "round_prefer_ceil", [1, 1, 2, 2], "stride=2"),
    ("half_pixel_symmetric", "round_prefer_floor", [1, 1, 2, 2], "stride=2"),
    ("asymmetric", "floor", [1, 1, 1, 1], None),                    # the identity
])
def test_nearest_resize_by_integer_scales_is_a_transposed_convolution(coordinates, rounding,
                                                                      scales, contains,
                                                                      tmp_path):
    b = om.Builder(1, np.float32)
    h = b.node("Resize", ["x", "", b.init(np.array(scales, dtype=np.float32))], mode="nearest",
               coordinate_transformation_mode=coordinates, nearest_mode=rounding)
    model = _with_opset(b.model((2, 4, 4), b.node("Relu", [h])), 19)
    text = _ort_exact(model, tmp_path, (2, 4, 4), contains and f"conv_t(U1, x, {contains}")
    assert contains is not None or "conv_t" not in text


def test_resize_by_sizes_along_axes_and_the_deprecated_upsample(tmp_path):
    b = om.Builder(2, np.float32)
    h = b.node("Resize", ["x", "", "", b.init(np.array([8, 12]))], axes=[2, 3])
    _ort_exact(_with_opset(b.model((3, 4, 4), h), 18), tmp_path / "a", (3, 4, 4),
               "conv_t(U1, x, stride=2x3, padding=0)")
    for opset in (9, 10):        # Upsample with its scales as an input; Resize(X, scales)
        b = om.Builder(3, np.float32)
        op = "Upsample" if opset == 9 else "Resize"
        h = b.node(op, ["x", b.init(np.array([1, 1, 2, 2], dtype=np.float32))], mode="nearest")
        _ort_exact(_with_opset(b.model((2, 3, 3), b.node("Relu", [h])), opset),
                   tmp_path / op, (2, 3, 3), "conv_t(U1, x, stride=2, padding=0)")
    b = om.Builder(4, np.float32)                 # opset 7: the scales an attribute
    h = b.node("Upsample", ["x"], mode="nearest", scales=[1.0, 1.0, 3.0, 2.0])
    _ort_exact(_with_opset(b.model((2, 3, 3), h), 7), tmp_path / "seven", (2, 3, 3),
               "stride=3x2")


@pytest.mark.parametrize("attrs, contains", [
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, "h1 = P1 @ x"),
    ({"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 0, 1, 0], "count_include_pad": 1},
     "conv(P1, x, stride=2x1, padding=1x0)"),
    ({"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 1, 0]}, "M1 @ x"),
    ({"kernel_shape": [2, 2], "pads": [0, 0, 1, 1], "count_include_pad": 1}, "M1 @ x"),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
      "count_include_pad": 1}, "M1 @ x"),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, "M1 @ x"),
])
def test_average_pooling_against_onnxruntime(attrs, contains, tmp_path):
    b = om.Builder(5, np.float32)
    model = b.model((2, 6, 7), b.node("AveragePool", ["x"], **attrs))
    _ort_exact(model, tmp_path, (2, 6, 7), contains)


def test_global_average_pooling_and_a_selection(tmp_path):
    b = om.Builder(6, np.float32)
    h = b.node("GlobalAveragePool", ["x"])
    _ort_exact(b.model((3, 4, 5), b.node("Flatten", [h])), tmp_path / "gap", (3, 4, 5),
               "conv(P1, x, stride=1, padding=0)")
    b = om.Builder(7, np.float32)                 # x[:, [2, 0]] and x[:, 1:] (INT64_MAX)
    h = b.node("Gather", ["x", b.init(np.array([2, 0]))], axis=1)
    h = b.node("Slice", [h, b.init(np.array([1])), b.init(np.array([2 ** 63 - 1])),
                         b.init(np.array([2]))])
    _ort_exact(b.model((3, 4), h), tmp_path / "gather", (3, 4))


def _refused(model, tmp_path: Path, capsys, message: str) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert not (tmp_path / "out" / "m.lbn").exists()


def _one(op: str, shape=(2, 4, 4), inputs=(), opset: int = 19, **attrs):
    b = om.Builder(8, np.float32)
    names = [b.init(v) if isinstance(v, np.ndarray) else v for v in inputs]
    return _with_opset(b.model(shape, b.node(op, ["x", *names], name="the_node", **attrs)), opset)


_S2 = np.array([1, 1, 2, 2], dtype=np.float32)


@pytest.mark.parametrize("make, message", [
    (lambda: _one("Resize", inputs=["", _S2], mode="linear"),
     "(Resize): mode = linear: an interpolation weighs its neighbours differently at the border"),
    (lambda: _one("Resize", inputs=["", _S2], mode="cubic"), "mode = cubic"),
    (lambda: _one("Resize", inputs=["", np.array([1, 1, 1.5, 1.5], dtype=np.float32)]),
     "the scales [1.5, 1.5] of height and width are not integers >= 1"),
    (lambda: _one("Resize", inputs=["", np.array([1, 1, 0.5, 0.5], dtype=np.float32)]),
     "are not integers >= 1"),
    (lambda: _one("Resize", inputs=["", np.array([1, 2, 1, 1], dtype=np.float32)]),
     "resize the batch or channel axis"),
    (lambda: _one("Resize", inputs=["", _S2], nearest_mode="floor"),     # half_pixel, floor
     "coordinate_transformation_mode = half_pixel with nearest_mode = floor at scale 2 copies "
     "other pixels than the repetition x[i // s]"),
    (lambda: _one("Resize", inputs=["", _S2], coordinate_transformation_mode="align_corners"),
     "coordinate_transformation_mode = align_corners is not read"),
    (lambda: _one("Resize", inputs=[np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.float32), _S2],
                  coordinate_transformation_mode="tf_crop_and_resize"),
     "coordinate_transformation_mode = tf_crop_and_resize is not read"),
    (lambda: _one("Resize", inputs=["", "", np.array([1, 2, 8, 12])],
                  keep_aspect_ratio_policy="not_larger"), "keep_aspect_ratio_policy"),
    (lambda: _one("Resize", inputs=["", ""]), "neither scales nor sizes are given"),
    (lambda: _one("Resize", inputs=["", "x"]), "its scales are computed at run time"),
    (lambda: _one("Resize", (600, 2, 2), ["", _S2]), "no per-channel convolution"),
    (lambda: _one("ConvTranspose", inputs=[np.ones((2, 1, 3, 3), np.float32)], group=2),
     "(ConvTranspose): group > 1 (group = 2: a grouped or depthwise convolution)"),
    (lambda: _one("ConvTranspose", inputs=[np.ones((2, 2, 3, 3), np.float32)],
                  dilations=[2, 2]), "dilations [2, 2]: a dilated convolution is not read"),
    (lambda: _one("ConvTranspose", inputs=[np.ones((2, 2, 3, 3), np.float32)],
                  auto_pad="SAME_UPPER", strides=[2, 2]),
     "auto_pad = SAME_UPPER: give the padding explicitly"),
    (lambda: _one("ConvTranspose", inputs=[np.ones((2, 2, 3, 3), np.float32)],
                  output_shape=[9, 9], strides=[2, 2]), "output_shape: give pads"),
    (lambda: _one("AveragePool", kernel_shape=[2, 2], dilations=[2, 2]),
     "a dilated pooling is not read"),
    (lambda: _one("AveragePool", kernel_shape=[2, 2], auto_pad="SAME_UPPER"),
     "auto_pad = SAME_UPPER"),
    (lambda: _one("AveragePool", (2, 40, 40), kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
     "its border windows average fewer entries than the others (count_include_pad = 0"),
    (lambda: _one("GlobalAveragePool", (300, 8, 8)), "no per-channel convolution"),
    (lambda: _one("Gather", (3, 4), [np.array([0])], axis=0), "it selects samples of the batch"),
    # what a hostile file could declare: refused before anything of its size is made
    (lambda: _one("Resize", inputs=["", "", np.array([2, 2, 8, 8])]),
     "the sizes [2, 2, 8, 8] are not one per axis [0, 1, 2, 3], the batch's its own"),
    (lambda: _one("Resize", inputs=["", np.array([1, 1, 1e9, 1e9], dtype=np.float32)]),
     "entries per sample"),
    (lambda: _one("AveragePool", kernel_shape=[2, 2], pads=[2, 0, 2, 0]),
     "pads [2, 0, 2, 0] are not smaller than the kernel [2, 2]"),
    (lambda: _one("AveragePool", kernel_shape=[10 ** 9, 1], pads=[10 ** 9 - 1, 0, 10 ** 9 - 1, 0]),
     "entries per sample"),
])
def test_what_is_not_read_exactly_is_refused_in_one_line(make, message, tmp_path, capsys):
    _refused(make(), tmp_path, capsys, message)


def _shape_graph(build):
    """``x`` (N × 18) reshaped by a shape that ``build(b, shape)`` computes from ``Shape(x)``."""
    b = om.Builder(9, np.float32)
    shape = b.node("Shape", ["x"])
    return _with_opset(b.model((18,), b.node("Reshape", ["x", build(b, shape)],
                                             name="the_node")), 17)


def test_the_batch_size_read_by_shape_is_only_the_batch_axis(tmp_path, capsys):
    def batch(b, shape):
        return b.node("Gather", [shape, b.init(np.array([0]))], axis=0)

    keeps = _shape_graph(lambda b, s: b.node("Concat", [batch(b, s),
                                                        b.init(np.array([2, 3, 3]))], axis=0))
    _ort_exact(keeps, tmp_path / "keeps", (18,))
    doubled = _shape_graph(lambda b, s: b.node("Concat", [
        b.node("Mul", [batch(b, s), b.init(np.array([2]))], name="twice"),
        b.init(np.array([9]))], axis=0))
    _refused(doubled, tmp_path / "doubled", capsys,
             "node 'twice' (Mul): its input 't3' holds the batch's size")
    moved = _shape_graph(lambda b, s: b.node("Concat", [b.init(np.array([2])), batch(b, s),
                                                        b.init(np.array([-1]))], axis=0))
    _refused(moved, tmp_path / "moved", capsys,
             "node 'the_node' (Reshape): it puts the batch's size (read by Shape) on an axis")
