"""Small ONNX models built node by node with ``onnx.helper`` (no PyTorch needed), each with the
ops of one family the importer reads; float64 where onnxruntime's CPU kernels have it (not Conv).
"""

from __future__ import annotations

import numpy as np

onnx = __import__("pytest").importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 17


class Builder:
    """A graph being built: ``b.init(name, array)``, ``b.node(op, inputs, **attrs)``."""

    def __init__(self, seed: int = 0, dtype: type = np.float64) -> None:
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.nodes: list = []
        self.inits: list = []
        self.k = 0

    def init(self, value: np.ndarray, name: str | None = None) -> str:
        self.k += 1
        name = name or f"c{self.k}"
        arr = np.asarray(value)
        arr = arr.astype(self.dtype) if np.issubdtype(arr.dtype, np.floating) else arr
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def rand(self, *shape: int, scale: float = 0.5) -> str:
        return self.init(scale * self.rng.standard_normal(shape))

    def node(self, op: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"{op}_{self.k}",
                                           **attrs))
        return out

    def model(self, input_shape: tuple[int, ...], output: str):
        elem = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT
        self.nodes.append(helper.make_node("Identity", [output], ["y"], name="out"))
        graph = helper.make_graph(self.nodes, "g",
                                  [helper.make_tensor_value_info("x", elem, ["N", *input_shape])],
                                  [helper.make_tensor_value_info("y", elem, None)],
                                  initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 10
        return m


def mlp(seed: int = 0):
    """Gemm (both transB), MatMul + Add, BatchNorm folded, and every activation family."""
    b = Builder(seed)
    h = b.node("Gemm", ["x", b.rand(6, 5), b.rand(6)], transB=1)
    h = b.node("BatchNormalization", [h, b.init(1 + 0.1 * b.rng.standard_normal(6)),
                                      b.rand(6), b.rand(6), b.init(0.5 + b.rng.random(6))],
               epsilon=1e-3)
    h = b.node("Relu", [h])
    h = b.node("Add", [b.node("MatMul", [h, b.rand(6, 7)]), b.rand(7)])
    h = b.node("LeakyRelu", [h], alpha=0.2)
    h = b.node("Gemm", [h, b.rand(7, 4), b.rand(4)], alpha=0.7, beta=1.3)
    h = b.node("Tanh", [h])
    h = b.node("Gemm", [h, b.rand(5, 4), b.rand(5)], transB=1)
    h = b.node("Clip", [h, b.init(np.array(-0.5)), b.init(np.array(0.6))])
    h = b.node("Gemm", [h, b.rand(5, 5), b.rand(5)], transB=1)
    h = b.node("Shrink", [h], lambd=0.1, bias=0.1)
    h = b.node("Gemm", [h, b.rand(3, 5), b.rand(3)], transB=1)
    h = b.node("Sigmoid", [h])
    h = b.node("Gemm", [h, b.rand(4, 3), b.rand(4)], transB=1)
    return b.model((5,), b.node("Softmax", [h], axis=1))


def residual_mlp(seed: int = 1):
    """x + V relu(A x + b), twice, then a linear read-out (and a Flatten that is a no-op)."""
    b = Builder(seed)
    x = b.node("Flatten", ["x"], axis=1)
    for _ in range(2):
        h = b.node("Relu", [b.node("Gemm", [x, b.rand(8, 4), b.rand(8)], transB=1)])
        x = b.node("Add", [x, b.node("MatMul", [h, b.rand(8, 4)])])
    return b.model((4,), b.node("Gemm", [x, b.rand(2, 4), b.rand(2)], transB=1))


def conv_net(seed: int = 2):
    """Conv (stride, padding) + BatchNorm + Relu, Conv + Relu, Flatten, Gemm; float32."""
    b = Builder(seed, np.float32)
    h = b.node("Conv", ["x", b.rand(3, 1, 3, 3), b.rand(3)], pads=[1, 1, 1, 1],
               strides=[2, 2], kernel_shape=[3, 3])
    h = b.node("BatchNormalization", [h, b.init(1 + 0.1 * b.rng.standard_normal(3)),
                                      b.rand(3), b.rand(3), b.init(0.5 + b.rng.random(3))])
    h = b.node("Relu", [h])
    h = b.node("Relu", [b.node("Conv", [h, b.rand(2, 3, 2, 2)], kernel_shape=[2, 2])])
    h = b.node("Flatten", [h], axis=1)
    return b.model((1, 8, 8), b.node("Gemm", [h, b.rand(5, 2 * 3 * 3), b.rand(5)], transB=1))


def with_op(op: str, **attrs):
    """Gemm then ``op``: a model whose second node the importer must refuse (or read)."""
    b = Builder(3)
    h = b.node("Gemm", ["x", b.rand(4, 3), b.rand(4)], transB=1)
    return b.model((3,), b.node(op, [h], name="the_node", **attrs))


def run(model, x: np.ndarray) -> np.ndarray:
    ort = __import__("pytest").importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]
