"""``lbdsl import`` on models that try to break it: text from the file that would become spec
text or terminal codes, weights shared through a ``Transpose`` that a fold must not change,
sizes that would exhaust memory, malformed attributes, patterns that once wrote specs that do
not load.  Each one is read exactly (onnxruntime agrees) or refused in one line, before
anything of a size the file declares is made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import lbdsl
import onnx_models as om
from lbdsl.cli import main

ort = pytest.importorskip("onnxruntime")


def _model(nodes, inits, shape, opset: int = 17, name: str = "g", in_name: str = "x"):
    graph = helper.make_graph(nodes, name,
                              [helper.make_tensor_value_info(in_name, TensorProto.DOUBLE,
                                                             ["N", *shape])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                              initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _exact(model, tmp_path: Path, shape, name: str = "net", dtype=np.float64):
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    spec = lbdsl.import_onnx(path, tmp_path / "out", name)
    x = np.random.default_rng(0).standard_normal((5, *shape)).astype(dtype)
    want = om.run(model, x)
    tol = 1e-10 if dtype == np.float64 else 1e-5       # onnxruntime's Conv: float32 only
    np.testing.assert_allclose(spec.forward(x.astype(np.float64)).reshape(want.shape), want,
                               rtol=tol, atol=tol)
    return spec, (tmp_path / "out" / f"{name}.lbn").read_text()


def _refused(model, tmp_path: Path, capsys, message: str) -> str:
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    # refused before anything of the declared size is made: a MemoryError would be a traceback
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert not (tmp_path / "out" / "m.lbn").exists()
    return err


def test_names_from_the_file_never_become_spec_text_or_terminal_codes(tmp_path, capsys):
    b = om.Builder(1)
    h = b.node("MatMul", ["x", b.rand(4, 4)], name="mm\n    h1 = 0.0 * h1\n#\x1b[31m")
    model = b.model((4,), b.node("Relu", [h], name="r\r\n  output x"))
    model.graph.name = "g\nnetwork evil { input u : 1 output u }"
    _, text = _exact(model, tmp_path, (4,))
    assert "\x1b" not in text and "\r" not in text
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        assert "evil" not in code and "0.0 * h1" not in code
    # a refusal quoting a name is one printable line too
    b = om.Builder(2)
    model = b.model((4,), b.node("Gelu", [b.node("MatMul", ["x", b.rand(4, 4)])],
                                 name="bad\nname\x1b[0m"))
    err = _refused(model, tmp_path, capsys, "Gelu is not a proximal map")
    assert "\x1b" not in err and "bad?name?[0m" in err


def test_a_fold_never_changes_a_weight_another_node_reads_through_a_transpose(tmp_path):
    """``Wt = Transpose(W)`` read by two MatMuls, a BatchNormalization after the first: the
    initializer has one reader (the Transpose), its transpose two — nothing may be folded."""
    b = om.Builder(3)
    w = b.rand(4, 4)
    wt = b.node("Transpose", [w], perm=[1, 0])
    h = b.node("MatMul", ["x", wt])
    h = b.node("BatchNormalization", [h, b.init(1 + 0.3 * b.rng.standard_normal(4)), b.rand(4),
                                      b.rand(4), b.init(0.5 + b.rng.random(4))])
    h = b.node("Relu", [h])
    model = b.model((4,), b.node("Relu", [b.node("MatMul", [h, wt])]))
    _exact(model, tmp_path, (4,))
    # and a Gemm's alpha is not folded into a shared B either
    b = om.Builder(4)
    B = b.rand(4, 4)
    h = b.node("Relu", [b.node("Gemm", ["x", B], alpha=2.5, transB=1)])
    model = b.model((4,), b.node("Gemm", [h, B], transB=1))
    _exact(model, tmp_path, (4,))


def test_a_reshape_to_an_image_after_a_matrix_makes_a_spec_that_loads(tmp_path):
    """MatMul → Reshape(N, C, H, W) → Conv (no activation between), and → Neg: the image is
    its own layer ``dense(x, CxHxW)``, which every later op reads."""
    b = om.Builder(5, np.float32)
    h = b.node("Reshape", [b.node("MatMul", ["x", b.rand(6, 2 * 3 * 3)]),
                           b.init(np.array([-1, 2, 3, 3]))])
    h = b.node("Conv", [h, b.rand(2, 2, 3, 3)], pads=[1, 1, 1, 1])
    _, text = _exact(b.model((6,), b.node("Neg", [h])), tmp_path, (6,), dtype=np.float32)
    assert "dense(x, 2x3x3" in text
    b = om.Builder(6)
    r = b.node("Reshape", [b.node("MatMul", ["x", b.rand(6, 1 * 2 * 2)]),
                           b.init(np.array([-1, 1, 2, 2]))])
    s = b.node("Reshape", [b.node("MatMul", ["x", b.rand(6, 1 * 2 * 2)]),
                           b.init(np.array([-1, 1, 2, 2]))])
    _exact(b.model((6,), b.node("Add", [r, b.node("Mul", [s, b.init(np.array(0.5))])])),
           tmp_path, (6,))


def test_names_outside_ascii_become_names_of_the_language(tmp_path):
    b = om.Builder(7)
    model = b.model((4,), b.node("Relu", [b.node("MatMul", ["x", b.rand(4, 4)])]))
    model.graph.input[0].name = "xé"
    for n in model.graph.node:
        n.input[:] = ["xé" if i == "x" else i for i in n.input]
    path = tmp_path / "réseau.onnx"
    path.write_bytes(model.SerializeToString())
    spec = lbdsl.import_onnx(path, tmp_path / "out")
    x = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(spec.forward(x), om.run(model, x), rtol=1e-12)


def _single(op: str, shape, inits=(), opset: int = 17, inputs=(), **attrs):
    return _model([helper.make_node(op, ["x", *inputs], ["y"], name="the_node", **attrs)],
                  list(inits), shape, opset)


def _tensor(name: str, values, dtype=np.int64):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


@pytest.mark.parametrize("make, message", [
    # ReduceSum with empty axes (opset 13+): every axis, the batch's included
    (lambda: _single("ReduceSum", (3, 3), [_tensor("ax", [])], 13, ["ax"]),
     "the batch axis is not reduced"),
    (lambda: _single("Slice", (4,), [_tensor("s", [0]), _tensor("e", [4]), _tensor("a", [1]),
                                     _tensor("st", [0])], 13, ["s", "e", "a", "st"]),
     "no zero step"),
    (lambda: _single("Transpose", (2, 3), perm=[0, 2, 2]), "is not a permutation"),
    (lambda: _single("AveragePool", (1, 4, 4), kernel_shape=[0, 0]), "positive sizes"),
    (lambda: _single("Tile", (4,), [_tensor("r", [1, -2])], 13, ["r"]),
     "not one positive count per axis"),
    (lambda: _single("Reshape", (16,), [_tensor("s", [0, -1, -1, 4])], 13, ["s"]),
     "is not a shape"),
    (lambda: _single("Squeeze", (2, 3), [_tensor("a", [1])], 13, ["a"]), "that are not 1"),
    (lambda: _single("BatchNormalization", (3,), [_tensor(n, [1.0, 1.0, 1.0], np.float64)
                                                  for n in "gbmv"], 15, list("gbmv"),
                     training_mode=1), "export the model in eval mode"),
    (lambda: _model([helper.make_node("Relu", ["x"], ["t"], name="a"),
                     helper.make_node("Tanh", ["x"], ["t"], name="the_node"),
                     helper.make_node("Identity", ["t"], ["y"], name="out")], [], (4,)),
     "its output 't' is produced twice"),
    # sizes that would exhaust memory, refused before anything of their size is made
    (lambda: _single("ReduceSum", (10 ** 9,), [_tensor("ax", [1])], 13, ["ax"]),
     "entries per sample"),
    (lambda: _single("ReduceSum", (300, 300), [_tensor("ax", [1])], 13, ["ax"]),
     "its matrix would have"),
    (lambda: _single("Tile", (4,), [_tensor("r", [1, 10 ** 12])], 13, ["r"]),
     "entries per sample"),
    (lambda: _single("Unsqueeze", (10 ** 6, 10 ** 6), [_tensor("a", [1])], 13, ["a"]),
     "entries per sample"),
    (lambda: _single("Pad", (2, 2), [_tensor("p", [0, 0, 0, 0, 10 ** 7, 10 ** 7])], 13, ["p"]),
     "entries per sample"),
])
def test_what_would_crash_or_exhaust_memory_is_refused_in_one_line(make, message, tmp_path,
                                                                   capsys):
    _refused(make(), tmp_path, capsys, message)
