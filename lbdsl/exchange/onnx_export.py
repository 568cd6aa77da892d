"""A network of the language → an ONNX model that onnxruntime (or any ONNX runtime) runs.

Every variable is a tensor ``(N, *shape)`` (``N`` the batch, symbolic).  A layer
``y = ψ(A x + b)`` becomes its layer type's nodes (:meth:`lbdsl.ir.layers.LayerType.onnx`:
``Flatten → MatMul(Aᵀ) → Add(b) (→ Reshape)`` for a matrix, ``Conv(K, b)`` for a convolution,
an ``H×W`` input reshaped to ``1×H×W`` first), then ψ's (:meth:`lbdsl.prox.base.Psi.onnx`);
a layer type or a Ψ that declares none is refused in one line (``ExportRefused``), never
exported as something else:

=============================  ===============================================
ψ                              ONNX
=============================  ===============================================
``identity``                   nothing
``relu`` ``tanh`` ``sigmoid``  ``Relu`` ``Tanh`` ``Sigmoid``
``leaky_relu(a)``              ``LeakyRelu(alpha = a)``
``elu(alpha)``                 ``Elu(alpha = α)``
``soft(theta)``                ``Shrink(lambd = θ, bias = θ)`` (the soft threshold)
``clip(lo, hi)``, hardtanh     ``Clip(lo, hi)``
``softmax``                    ``Softmax`` over the flattened layer
=============================  ===============================================

A pre-activation of several terms (``A @ x + B @ z``, ``u - 0.5 * L.T @ (L @ u - z)``) is each
map's nodes on its term's variable, ``Mul`` by a coefficient other than 1, and ``Add`` (a
declared kernel applied in several places is one initialiser, used by its ``Conv`` and
``ConvTranspose`` nodes).  A residual layer ``y = x ± (V ψ(A x' + b) + c)`` adds
``MatMul(±Vᵀ) (→ Add(±c))`` of ψ's output to ``x``.  The
weights are the spec's, or the arrays given (a trained ``weights.npz``: each parameter under its
spec name).  ``dtype`` float32 (default: what PyTorch models use) or float64 (note:
onnxruntime's CPU ``Conv`` and ``Elu`` have no float64 kernel; and ONNX stores ``LeakyRelu``'s
and ``Elu``'s ``alpha`` and ``Shrink``'s ``lambd`` as float32 attributes whatever the model's
type, so those are exact to about 10⁻⁸ relative, not to float64 rounding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LbdslError
from ..ir.layers import LAYER_TYPES
from ..ir.nodes import Affine, Layer, NetworkIR, Residual, as_matrix, size_of
from ..outputs import write_bytes_atomic

__all__ = ["build_model", "export_onnx", "OPSET"]

#: The opset the exported models declare (Clip's bounds and Softmax's axis as in opset 13+).
OPSET = 17
_DTYPES = {"float32": np.float32, "float64": np.float64}


class _Graph:
    """The nodes and initialisers being built, with fresh tensor names."""

    def __init__(self, dtype: type) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, dtype
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.shared: dict[str, str] = {}
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base.replace('#', '_').replace('.', '_')}_{self.count}"

    def const(self, base: str, value: np.ndarray, dtype: Any = None,
              shared: bool = False) -> str:
        """An initialiser holding ``value``; ``shared``: one per ``base`` (a declared kernel
        that several layers apply, as a convolution or its adjoint, is one tensor)."""
        if shared and base in self.shared:
            return self.shared[base]
        name = self.name(base)
        array = np.array(value, dtype=dtype or self.dtype, order="C")  # keeps a 0-d scalar
        self.inits.append(self.numpy_helper.from_array(array, name))
        if shared:
            self.shared[base] = name
        return name

    def op(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        out = self.name(base)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def reshape(self, x: str, shape: tuple[int, ...], base: str) -> str:
        return self.op("Reshape", [x, self.const("shape", np.array([-1, *shape]), np.int64)],
                       base)


def build_model(net: NetworkIR, weights: dict[str, np.ndarray] | None = None,
                dtype: str = "float32") -> Any:
    """The ``onnx.ModelProto`` of ``net`` (module docstring), checked by ``onnx.checker``."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise LbdslError("writing ONNX needs the `onnx` package: pip install 'lbdsl[onnx]'") \
            from None
    if dtype not in _DTYPES:
        raise LbdslError(f"export: dtype must be float32 or float64, got {dtype!r}")
    values = {k: p.value for k, p in net.params.items()}
    for key, array in (weights or {}).items():
        if key not in values:
            raise LbdslError(f"export: the weights give `{key}`, which network `{net.name}` "
                             f"does not have")
        array = np.asarray(array, dtype=np.float64)
        if array.shape != values[key].shape:
            raise LbdslError(f"export: `{key}` has shape {array.shape} in the weights, "
                             f"{values[key].shape} in the network")
        values[key] = array
    g = _Graph(_DTYPES[dtype])
    tensors = {net.input: "input"}
    for step in net.layers:
        base = step.out.replace("#", "_").replace(".", "_")
        a = step.affine
        z = _pre_activation(g, net, a, tensors, values, base)
        y = step.psi().onnx(g, z, a.out_shape, base)
        if isinstance(step, Residual):
            V = step.sign * as_matrix(values[step.v_weight], step.v_transposed)
            flat = y if len(step.affine.out_shape) == 1 else \
                g.op("Flatten", [y], f"{base}_vflat", axis=1)
            branch = g.op("MatMul", [flat, g.const(f"{base}_VT", V.T)], f"{base}_v")
            if step.branch_bias is not None:   # base ± (V a + c) = base + (±V) a + (±c)
                c = step.sign * values[step.branch_bias].reshape(-1)
                size = size_of(net.variables[step.base].shape)
                c = np.repeat(c, size // c.size)   # one per channel: over its pixels
                branch = g.op("Add", [branch, g.const(f"{base}_c", c)], f"{base}_vbias")
            shape = net.variables[step.base].shape
            if len(shape) > 1:
                branch = g.reshape(branch, shape, f"{base}_vshape")
            y = g.op("Add", [tensors[step.base], branch], f"{base}_residual")
        elif not isinstance(step, Layer):  # pragma: no cover - Step is Layer | Residual
            raise LbdslError(f"export: unknown layer {step!r}")
        tensors[step.out] = y
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(_DTYPES[dtype]))
    g.nodes.append(onnx.helper.make_node("Identity", [tensors[net.output]], ["output"],
                                         name="output"))
    graph = onnx.helper.make_graph(
        g.nodes, net.name,
        [onnx.helper.make_tensor_value_info("input", elem, ["N", *net.input_shape])],
        [onnx.helper.make_tensor_value_info("output", elem, ["N", *net.output_shape])],
        initializer=g.inits)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="lbdsl")
    model.ir_version = min(model.ir_version, 10)   # what current runtimes read
    onnx.checker.check_model(model, full_check=True)
    return model


def _pre_activation(g: _Graph, net: NetworkIR, a: Affine, tensors: dict[str, str],
                    values: dict[str, np.ndarray], base: str) -> str:
    """``Σ_t c_t (M_t1 ∘ ⋯)(x_t) + Σ b`` as nodes: each map its layer type's, the terms
    added (``Mul`` by a coefficient other than 1), the biases added; ``A x + b`` is its layer
    type's nodes alone, the bias in the map's own node where the format has one."""
    m = a.map
    if m is not None and len(a.biases) <= 1:
        bias = values[a.bias] if a.bias is not None else None
        return LAYER_TYPES[m.kind].onnx(g, m, tensors[a.input], net.variables[a.input].shape,
                                        values, base, bias)
    z = None
    for i, t in enumerate(a.terms):
        y, shape = tensors[t.input], net.variables[t.input].shape
        for j, m in enumerate(reversed(t.maps)):
            y = LAYER_TYPES[m.kind].onnx(g, m, y, shape, values, f"{base}_t{i}m{j}")
            shape = m.out_shape
        if tuple(shape) != tuple(a.out_shape):     # a flat term of an image, or the reverse
            y = g.reshape(y, a.out_shape, f"{base}_t{i}shape")
        if t.coef != 1.0:
            y = g.op("Mul", [y, g.const(f"{base}_t{i}c", np.array(t.coef))], f"{base}_t{i}mul")
        z = y if z is None else g.op("Add", [z, y], f"{base}_t{i}add")
    for name in a.biases:
        b = values[name]
        per_channel = len(a.out_shape) == 3 and b.size == a.out_shape[0] != a.out_size
        shape = (b.size, 1, 1) if per_channel else a.out_shape
        z = g.op("Add", [z, g.const(f"{base}_{name}", b.reshape(shape))], f"{base}_bias")
    assert z is not None
    return z


def export_onnx(net: NetworkIR, out: str | Path, weights: dict[str, np.ndarray] | None = None,
                dtype: str = "float32") -> Path:
    """Write :func:`build_model`'s model to ``out`` (whole or not at all); returns the path."""
    model = build_model(net, weights, dtype)
    path = Path(out)
    write_bytes_atomic(path, model.SerializeToString())
    return path
