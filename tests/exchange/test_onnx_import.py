"""``lbdsl import``: an ONNX model read as a spec computes what onnxruntime computes.

Each model (``onnx_models.py``) is built node by node, imported, loaded as a spec and
evaluated by lbdsl's network runtime on random inputs; onnxruntime runs the same model file.
Every op the importer refuses is tried and must give its one line (exit status 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
import onnx_models as om
from lbdsl.cli import main

ort = pytest.importorskip("onnxruntime")


def _imported(model, tmp_path: Path, name: str = "net"):
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return lbdsl.import_onnx(path, tmp_path / "out", name), path


@pytest.mark.parametrize("make, shape, dtype, tol", [
    (om.mlp, (5,), np.float64, 1e-6),
    (om.residual_mlp, (4,), np.float64, 1e-12),
    (om.conv_net, (1, 8, 8), np.float32, 1e-5),
])
def test_the_imported_spec_computes_what_onnxruntime_computes(make, shape, dtype, tol,
                                                             tmp_path):
    model = make()
    spec, _ = _imported(model, tmp_path)
    x = np.random.default_rng(7).standard_normal((16, *shape)).astype(dtype)
    expected = om.run(model, x)
    got = spec.forward(x.astype(np.float64))
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= tol * max(1.0, np.abs(expected).max())


def test_what_the_spec_says(tmp_path):
    spec, _ = _imported(om.residual_mlp(), tmp_path)
    text = (tmp_path / "out" / "net.lbn").read_text()
    assert "h1 = x + V1 @ relu(W1 @ x + b1)" in text         # a residual layer of the language
    assert "(Add: residual)" in text and "Gemm_" in text     # each layer names its ONNX nodes
    net = spec.network()
    assert [type(s).__name__ for s in net.layers] == ["Residual", "Residual", "Layer"]
    with np.load(tmp_path / "out" / "net.npz") as npz:
        assert set(npz.files) == {p for p in net.params}
    conv, _ = _imported(om.conv_net(), tmp_path, "conv")
    assert conv.network().layers[0].affine.map.kind == "conv"
    assert conv.network().layers[0].affine.map.stride == 2


@pytest.mark.parametrize("op, attrs, message", [
    ("Gelu", {}, "Gelu is not a proximal map: it is not monotone"),
    ("Softplus", {}, "Softplus is not in the catalogue"),
    ("Selu", {}, "Selu is not a proximal map"),
    ("MaxPool", {"kernel_shape": [2]}, "MaxPool is not supported"),
    ("LeakyRelu", {"alpha": 2.0}, "LeakyRelu with alpha = 2 is not a proximal map"),
    ("Elu", {"alpha": 1.5}, "Elu with alpha = 1.5 is not a proximal map"),
    ("Celu", {"alpha": 2.0}, "Celu with alpha = 2 is not in the catalogue"),
    ("Shrink", {"lambd": 0.5, "bias": 0.1}, "is not the soft threshold"),
    ("Softmax", {"axis": 0}, "only a softmax over a whole vector layer"),
    ("Flatten", {"axis": 0}, "only Flatten(axis = 1)"),
])
def test_each_refusal_is_one_line_naming_the_node_and_why(op, attrs, message, tmp_path,
                                                          capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(om.with_op(op, **attrs).SerializeToString())
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"node 'the_node' ({op}): " in err and message in err, err
    assert not (tmp_path / "out" / "m.lbn").exists()


def _graph(build):
    b = om.Builder(5)
    return b.model((4,), build(b))


@pytest.mark.parametrize("build, message", [
    (lambda b: b.node("Reshape", [b.node("Gemm", ["x", b.rand(4, 4)], transB=1),
                                  b.init(np.array([2, -1]))]),
     "a reshape keeps the batch first"),
    (lambda b: b.node("Conv", [b.node("Reshape", ["x", b.init(np.array([-1, 4]))]),
                               b.rand(2, 1, 1, 1)], group=2),
     "group > 1"),
    (lambda b: b.node("Gemm", ["x", b.rand(4, 4), b.rand(2, 4)], transB=1),
     "the bias C has 8 entries for 4 outputs"),
    (lambda b: b.node("Gemm", [b.rand(1, 4), "x"]),
     "a constant where a variable is needed"),
])
def test_structures_outside_the_language_are_refused(build, message, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(_graph(build).SerializeToString())
    assert main(["import", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("content", [b"", b"not a model at all", None])
def test_a_malformed_or_truncated_file_is_one_line_exit_2(content, tmp_path, capsys):
    path = tmp_path / "bad.onnx"
    good = om.mlp().SerializeToString()
    path.write_bytes(good[: len(good) // 3] if content is None else content)
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: not an ONNX model") and len(err.splitlines()) == 1
    assert main(["import", str(tmp_path / "missing.onnx")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_created_weights_load_by_their_names_and_wrong_shapes_are_spec_errors(tmp_path):
    np.savez(tmp_path / "w.npz", h_W=np.ones((3, 4)), h_b=np.zeros(3))
    text = ('network n {\n    input u : 4\n    h = relu(dense(u, 3, init = load("{F}")))\n'
            '    output h\n}\n')
    spec = lbdsl.loads(text.replace("{F}", str(tmp_path / "w.npz")))
    assert np.array_equal(spec.network().params["h_W"].value, np.ones((3, 4)))
    assert np.allclose(spec.forward(np.ones(4)), 4.0)
    with pytest.raises(lbdsl.errors.SpecError) as info:
        lbdsl.loads(text.replace("{F}", str(tmp_path / "w.npz")).replace("dense(u, 3",
                                                                         "dense(u, 2"))
    assert "<string>:3:" in str(info.value) and "shape" in str(info.value)


def _b():
    return om.Builder(9)


@pytest.mark.parametrize("make, message", [
    # a MatMul on (batch, 1, 4): softmax over the singleton axis would differ from the spec's
    (lambda: (lambda b: b.model((1, 4), b.node("Softmax", [b.node("MatMul", ["x", b.rand(4, 3)])],
                                                axis=1)))(_b()),
     "a MatMul of (batch, n) by a matrix is an affine map here"),
    (lambda: (lambda b: b.model((4,), b.node("BatchNormalization", [
        b.node("Gemm", ["x", b.rand(4, 4)], transB=1), b.init(np.ones(4)), b.init(np.ones(4))])))(
        _b()), "it has 3 input(s); BatchNormalization reads at least 5"),
    (lambda: (lambda b: b.model((4,), b.node("Add", [b.node("Gemm", ["x", b.rand(4, 4)],
                                                             transB=1), b.rand(4, 1)])))(_b()),
     "a constant of shape (4, 1) differs from sample to sample"),
    (lambda: (lambda b: b.model((4,), b.node("Shrink", [b.node("Gemm", ["x", b.rand(4, 4)],
                                                                transB=1)],
                                               lambd=float("inf"), bias=float("inf"))))(_b()),
     "is not the soft threshold"),
])
def test_what_would_compute_something_else_or_crash_is_refused_in_one_line(make, message,
                                                                          tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(make().SerializeToString())
    assert main(["import", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_constants_in_every_form_keywords_and_external_data(tmp_path, capsys):
    from onnx import helper

    b = om.Builder(9, np.float32)                         # value_float is a float32
    h = b.node("MatMul", ["x", b.rand(4, 3)])
    b.nodes.append(helper.make_node("Constant", [], ["half"], value_float=0.5))
    model = b.model((4,), b.node("Relu", [b.node("Add", [h, "half"])]))
    path = tmp_path / "check.onnx"                       # a word of the language as its stem
    path.write_bytes(model.SerializeToString())
    spec = lbdsl.import_onnx(path, tmp_path / "o")
    assert spec.network().name == "net_check"
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert np.allclose(spec.forward(x), om.run(model, x), rtol=1e-5, atol=1e-6)
    # an initializer whose data lives in another file is refused, not followed
    onnx = pytest.importorskip("onnx")
    big = om.Builder(1)
    big_model = big.model((64,), big.node("Gemm", ["x", big.rand(64, 64)], transB=1))
    onnx.save_model(big_model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    assert main(["import", str(tmp_path / "ext.onnx"), "--out", str(tmp_path)]) == 2
    assert "keeps its data in an external file" in capsys.readouterr().err
