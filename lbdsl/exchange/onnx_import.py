"""ONNX → ``.lbn``: a model's graph read as the layers of the language, its weights as an npz.

The ``onnx`` package reads the file (``onnx.load``: protobuf, no code executed, no external
data followed); nothing of the model runs.  The graph's nodes, in their (topological) order, are
folded into the statements of docs/language.md §3:

=======================================  ==================================================
ONNX                                      ``.lbn``
=======================================  ==================================================
``Gemm(x, B, C)``                         ``W @ x + b`` with ``W = α·B'ᵀ``, ``b = β·C``
``MatMul(x, B)`` (``+ Add(·, c)``)        ``W @ x + b`` with ``W = Bᵀ``
``Conv(x, K, c)``                         ``conv2d(x, C, kernel, stride, padding, init = load)``
``BatchNormalization`` after one of those folded: ``W ← diag(s) W``, ``b ← s(b − μ) + β``,
                                          ``s = γ/√(σ² + ε)``
``Relu`` ``LeakyRelu`` ``Sigmoid``        ``relu`` ``leaky_relu(a = α)`` ``sigmoid``
``Tanh`` ``Softmax`` ``Clip`` ``Shrink``  ``tanh`` ``softmax`` ``clip(lo, hi)`` ``soft``
``Add(x, V·σ(A·x' + b))``                 the residual layer ``y = x + V @ σ(A @ x' + b)``
``Flatten``, ``Reshape`` to ``(N, −1)``,  nothing: the language flattens a variable when it
``Identity``, ``Dropout``                 is multiplied
=======================================  ==================================================

An activation whose input is not an affine map gets ``I @ x`` (``I = eye``).  Anything else is
refused with one line naming the node, its op and why (:class:`ImportRefused`).  The first axis
of the graph's input is the batch (any size); the rest is the network's input shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LbdslError
from ..outputs import write_npz_atomic, write_text_atomic
from ..prox.registry import NOT_PROXIMAL, PROXIMAL_NOT_IN_CATALOGUE
from ..syntax.grammar import keywords

__all__ = ["ImportRefused", "Imported", "read_model", "translate", "import_onnx"]


class ImportRefused(LbdslError):
    """A model lbdsl cannot read as a network of the language (one line: node, op, why);
    a user's input error, so exit status 2."""

    exit_status = 2


#: ONNX ops that are activations lbdsl refuses, by the catalogue's name for them.
_REFUSED_ACTIVATIONS = {"Gelu": "gelu", "Elu": "elu", "Selu": "selu", "Celu": "elu",
                        "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish",
                        "HardSigmoid": "hardsigmoid", "Sign": "sign", "Abs": "abs",
                        "Exp": "exp", "Sin": "sin", "Cos": "cos"}
_ALIASES = ("Flatten", "Identity", "Dropout", "Reshape")
#: The words of the language, which a name in the written spec must not be.
KEYWORDS = keywords()
#: The least number of inputs each op reads (a malformed node is refused, not a traceback).
_ARITY = {"Gemm": 2, "MatMul": 2, "Conv": 2, "BatchNormalization": 5, "Add": 2, "Reshape": 2,
          "Flatten": 1, "Identity": 1, "Dropout": 1, "Relu": 1, "LeakyRelu": 1, "Sigmoid": 1,
          "Tanh": 1, "Softmax": 1, "Shrink": 1, "Clip": 1}


@dataclass
class _Var:
    """A variable of the spec (a layer's output or the input), shape without the batch axis."""

    name: str
    shape: tuple[int, ...]


@dataclass
class _Affine:
    """A pre-activation not yet written: ``W x + b`` or a convolution of ``x``."""

    x: _Var
    weight: np.ndarray                # (out, in), or the kernel (C_out, C_in, kh, kw)
    bias: np.ndarray | None
    out_shape: tuple[int, ...]
    nodes: list[str]
    conv: dict[str, int] | None = None   # stride, padding

    def with_bias(self, bias: np.ndarray, node: str) -> _Affine:
        total = bias if self.bias is None else self.bias + bias
        return _Affine(self.x, self.weight, total, self.out_shape, self.nodes + [node], self.conv)


@dataclass
class _Statement:
    target: str
    text: str
    comment: str
    hidden: tuple[str, str, Any] | None = None   # (ψ, its keywords, affine): a residual's inner


@dataclass
class Imported:
    """The spec text and the weights it loads (``name.npz`` beside ``name.lbn``)."""

    name: str
    text: str
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def read_model(path: str | Path) -> Any:
    """The model at ``path`` (``onnx.load``, external data not followed); one line if it is not
    a readable ONNX model."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise LbdslError("reading ONNX needs the `onnx` package: pip install 'lbdsl[onnx]'") \
            from None
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LbdslError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:   # protobuf raises its own DecodeError family
        raise ImportRefused(f"{path}: not an ONNX model ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") \
            from None
    if not model.graph.node:
        raise ImportRefused(f"{path}: not an ONNX model (no graph nodes; truncated?)")
    return model


def _identifier(text: str, taken: set[str], fallback: str) -> str:
    name = re.sub(r"\W", "_", text).strip("_") or fallback
    if not re.match(r"[A-Za-z]", name) or name in KEYWORDS:
        name = f"{fallback}_{name}"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _fmt(x: float) -> str:
    return repr(float(x))


class _Translator:
    def __init__(self, model: Any, name: str, weights_file: str) -> None:
        from onnx import numpy_helper

        self.graph, self.name, self.file = model.graph, name, weights_file
        from onnx import TensorProto

        self.consts: dict[str, np.ndarray] = {}
        for t in self.graph.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                raise ImportRefused(f"initializer '{t.name}' keeps its data in an external "
                                    "file; lbdsl reads only self-contained models (save it "
                                    "with onnx.save(model, path, save_as_external_data=False))")
            self.consts[t.name] = np.asarray(numpy_helper.to_array(t))
        for node in self.graph.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = self.constant(node)
        self.values: dict[str, _Var | _Affine] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}   # an ONNX tensor's shape where it is
                                                        # not its value's (after a Flatten)
        self.statements: list[_Statement] = []
        self.params: list[str] = []
        self.weights: dict[str, np.ndarray] = {}
        self.taken: set[str] = set()
        self.uses = self._count_uses()
        self.counter = 0

    def constant(self, node: Any) -> np.ndarray:
        """A ``Constant`` node's value (``value`` as a tensor, or ``value_float(s)`` /
        ``value_int(s)``); refused in one line otherwise."""
        from onnx import TensorProto, numpy_helper

        a = _attrs(node)
        if "value" in a:
            if a["value"].data_location == TensorProto.EXTERNAL:
                self.refuse(node, "its value is kept in an external file")
            return np.asarray(numpy_helper.to_array(a["value"]))
        for key in ("value_float", "value_floats", "value_int", "value_ints"):
            if key in a:
                return np.asarray(a[key], dtype=np.float64 if "float" in key else np.int64)
        self.refuse(node, f"a Constant given as {', '.join(a) or 'nothing'} is not read; give "
                    "it a tensor, a float or an int value")
        raise AssertionError  # pragma: no cover - refuse raises

    # -- bookkeeping -------------------------------------------------------------------------
    def _count_uses(self) -> dict[str, int]:
        uses: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                if name:
                    uses[name] = uses.get(name, 0) + 1
        for out in self.graph.output:
            uses[out.name] = uses.get(out.name, 0) + 1
        return uses

    def refuse(self, node: Any, why: str) -> None:
        raise ImportRefused(f"node '{node.name or node.output[0]}' ({node.op_type}): {why}")

    def param(self, base: str, value: np.ndarray, init: str | None = None) -> str:
        name = _identifier(base, self.taken, "p")
        shape = "x".join(str(d) for d in value.shape)
        if init is None:
            self.weights[name] = np.ascontiguousarray(value, dtype=np.float64)
            init = f'load("{self.file}", "{name}")'
        self.params.append(f"    param {name} : {shape} = {init}")
        return name

    def fresh(self, _onnx_name: str) -> str:
        """The next layer's name, ``h1``, ``h2``, … (the ONNX names are in the comments)."""
        self.counter += 1
        return _identifier(f"h{self.counter}", self.taken, "h")

    @staticmethod
    def suffix(target: str) -> str:
        return target[1:] if target.startswith("h") else f"_{target}"

    def var(self, node: Any, name: str) -> _Var:
        value = self.values.get(name)
        if value is None:
            self.refuse(node, f"its input '{name}' is neither the graph's input nor a layer's "
                        "output (a constant where a variable is needed?)")
        return self.materialise(value, name)

    def materialise(self, value: _Var | _Affine, onnx_name: str) -> _Var:
        """A variable for ``value``: a pending affine becomes a linear layer."""
        if isinstance(value, _Var):
            return value
        target = self.fresh(onnx_name)
        self.emit(target, self.affine_text(value, target), value.nodes)
        out = _Var(target, value.out_shape)
        self.values[onnx_name] = out
        return out

    def emit(self, target: str, text: str, nodes: list[str],
             hidden: tuple[str, str, Any] | None = None) -> None:
        comment = "ONNX " + ", ".join(nodes)
        self.statements.append(_Statement(target, text, comment, hidden))

    def affine_text(self, a: _Affine, target: str) -> str:
        if a.conv is not None:
            c_out, _, kh, kw = a.weight.shape
            self.weights[f"{target}_W"] = np.ascontiguousarray(a.weight, dtype=np.float64)
            self.weights[f"{target}_b"] = (np.zeros(c_out) if a.bias is None
                                           else np.ascontiguousarray(a.bias, dtype=np.float64))
            k = str(kh) if kh == kw else f"{kh}x{kw}"
            return (f"conv2d({a.x.name}, {c_out}, kernel = {k}, stride = {a.conv['stride']}, "
                    f"padding = {a.conv['padding']}, init = load(\"{self.file}\"))")
        w = self.param(f"W{self.suffix(target)}", a.weight)
        if a.bias is None or not np.any(a.bias):
            return f"{w} @ {a.x.name}"
        b = self.param(f"b{self.suffix(target)}", np.asarray(a.bias).reshape(-1))
        return f"{w} @ {a.x.name} + {b}"

    # -- the ops -----------------------------------------------------------------------------
    def run(self) -> Imported:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ImportRefused(f"the graph has {len(inputs)} inputs; lbdsl reads a network "
                                "with exactly one")
        x = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in x.type.tensor_type.shape.dim]
        if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
            raise ImportRefused(f"input '{x.name}' has shape {dims}: lbdsl needs a batch axis "
                                "first and fixed sizes after it")
        shape = tuple(int(d) for d in dims[1:])
        in_name = _identifier("u" if x.name in ("input", "output", "x_input") else x.name,
                              self.taken, "u")
        self.values[x.name] = _Var(in_name, shape)
        for node in self.graph.node:
            if node.op_type != "Constant":
                self.node(node)
        if len(self.graph.output) != 1:
            raise ImportRefused(f"the graph has {len(self.graph.output)} outputs; lbdsl reads a "
                                "network with exactly one")
        out = self.graph.output[0].name
        if out not in self.values:
            raise ImportRefused(f"the graph's output '{out}' is a constant")
        result = self.materialise(self.values[out], out)
        if result.name == in_name:
            raise ImportRefused("the graph computes nothing (its output is its input)")
        lines = [f"# imported from ONNX by lbdsl import: graph '{self.graph.name}'",
                 f"network {self.name} {{", f"    input {in_name} : "
                 + "x".join(str(d) for d in shape), *self.params]
        for st in self.statements:
            lines.append(f"    {st.target} = {st.text}    # {st.comment}")
        lines += [f"    output {result.name}", "}", ""]
        return Imported(self.name, "\n".join(lines), self.weights)

    def node(self, node: Any) -> None:
        op = node.op_type
        given = sum(1 for name in node.input if name)
        if given < _ARITY.get(op, 0) or not node.output:
            self.refuse(node, f"it has {given} input(s); {op} reads at least {_ARITY[op]} "
                        if given < _ARITY.get(op, 0) else "it has no output")
        handler = getattr(self, f"op_{op}", None)
        if handler is not None:
            handler(node)
        elif op in _ALIASES:
            self.alias(node)
        elif op in _REFUSED_ACTIVATIONS:
            key = _REFUSED_ACTIVATIONS[op]
            why = NOT_PROXIMAL.get(key) or PROXIMAL_NOT_IN_CATALOGUE.get(key, "")
            kind = "not a proximal map" if key in NOT_PROXIMAL else "not in the catalogue"
            self.refuse(node, f"{op} is {kind}: {why}")
        else:
            self.refuse(node, f"{op} is not supported (lbdsl reads affine maps, the catalogue's "
                        "activations and residual links; docs/interop.md lists them)")

    def alias(self, node: Any) -> None:
        src = node.input[0]
        value = self.values.get(src)
        if value is None:
            self.refuse(node, f"its input '{src}' is a constant")
        shape = self.shape_of(src)
        if node.op_type == "Flatten" and int(_attrs(node).get("axis", 1)) != 1:
            self.refuse(node, "only Flatten(axis = 1), to (batch, size), is a no-op of the "
                        "language")
        if node.op_type == "Reshape":
            target = self.consts.get(node.input[1])
            size = int(np.prod(shape))
            ok = target is not None and target.ndim == 1 and len(target) == 2 and (
                int(target[1]) in (-1, size))
            if not ok:
                self.refuse(node, f"only a reshape to (batch, {size}) is a no-op of the "
                            "language (it flattens a variable when it multiplies it)")
        if node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]:
            self.refuse(node, "its mask output is used")
        self.values[node.output[0]] = value
        self.shapes[node.output[0]] = ((int(np.prod(shape)),)
                                       if node.op_type in ("Flatten", "Reshape")
                                       else self.shape_of(src))

    def _affine_of(self, node: Any, x: _Var, weight: np.ndarray, bias: np.ndarray | None,
                   out_shape: tuple[int, ...], conv: dict[str, int] | None = None) -> None:
        self.values[node.output[0]] = _Affine(x, weight, bias, out_shape,
                                              [f"{node.name or node.output[0]} ({node.op_type})"],
                                              conv)

    def op_Gemm(self, node: Any) -> None:
        a = _attrs(node)
        if int(a.get("transA", 0)):
            self.refuse(node, "transA = 1 (the input transposed) is not an affine map of x")
        x = self.var(node, node.input[0])
        B = self.const(node, node.input[1], "the weight B")
        if B.ndim != 2:
            self.refuse(node, f"the weight B has shape {B.shape}, not a matrix")
        W = float(a.get("alpha", 1.0)) * (B if int(a.get("transB", 0)) else B.T)
        self.check_in(node, x, W.shape[1])
        bias = None
        if len(node.input) > 2 and node.input[2]:
            C = self.const(node, node.input[2], "the bias C")
            if C.size not in (1, W.shape[0]) or (C.ndim == 2 and C.shape[0] != 1) or C.ndim > 2:
                self.refuse(node, f"the bias C has {C.size} entries for {W.shape[0]} outputs "
                            "(one bias per sample is not an affine map)")
            bias = float(a.get("beta", 1.0)) * np.broadcast_to(C.reshape(-1), (W.shape[0],))
        self._affine_of(node, x, W, bias, (W.shape[0],))

    def op_MatMul(self, node: Any) -> None:
        x = self.var(node, node.input[0])
        B = self.const(node, node.input[1], "the right factor")
        if B.ndim != 2:
            self.refuse(node, f"the right factor has shape {B.shape}, not a matrix")
        if self.shape_of(node.input[0]) != (int(np.prod(x.shape)),):
            self.refuse(node, f"its input has shape {self.shape_of(node.input[0])} after the "
                        "batch axis; a MatMul of (batch, n) by a matrix is an affine map here "
                        "(flatten it first)")
        self.check_in(node, x, B.shape[0])
        self._affine_of(node, x, B.T, None, (B.shape[1],))

    def op_Conv(self, node: Any) -> None:
        a = _attrs(node)
        x = self.var(node, node.input[0])
        K = self.const(node, node.input[1], "the kernel")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            self.refuse(node, "auto_pad: give the padding explicitly")
        if int(a.get("group", 1)) != 1:
            self.refuse(node, "group > 1 (grouped or depthwise convolution) is not supported")
        if any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(node, "dilation > 1 is not supported")
        strides = [int(s) for s in a.get("strides", [1, 1])]
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if K.ndim != 4 or len(set(strides)) != 1 or len(set(pads)) != 1:
            self.refuse(node, f"a 2-D convolution with one stride and one padding on every side "
                        f"is supported, got kernel {K.shape}, strides {strides}, pads {pads}")
        shape = x.shape if len(x.shape) == 3 else (1, *x.shape)
        if len(shape) != 3 or shape[0] != K.shape[1]:
            self.refuse(node, f"its input {x.shape} is not C×H×W with C = {K.shape[1]}")
        s, p = strides[0], pads[0]
        ho = (shape[1] + 2 * p - K.shape[2]) // s + 1
        wo = (shape[2] + 2 * p - K.shape[3]) // s + 1
        if s < 1 or p < 0 or ho < 1 or wo < 1:
            self.refuse(node, f"a {K.shape[2]}x{K.shape[3]} kernel with stride {s} and padding "
                        f"{p} does not fit its {shape[1]}x{shape[2]} input")
        bias = (self.const(node, node.input[2], "the bias").reshape(-1)
                if len(node.input) > 2 and node.input[2] else None)
        if bias is not None and bias.size != K.shape[0]:
            self.refuse(node, f"the bias has {bias.size} entries for {K.shape[0]} channels")
        self._affine_of(node, x, K, bias, (K.shape[0], ho, wo), {"stride": s, "padding": p})

    def op_BatchNormalization(self, node: Any) -> None:
        value = self.values.get(node.input[0])
        if not isinstance(value, _Affine) or self.uses.get(node.input[0], 0) != 1:
            self.refuse(node, "only a BatchNormalization right after a Gemm, MatMul or Conv "
                        "(and used only by it) can be folded into an affine map")
        gamma, beta, mean, var = (self.const(node, n, what).reshape(-1) for n, what in zip(
            node.input[1:5], ("the scale", "the bias", "the mean", "the variance")))
        channels = value.weight.shape[0]
        if any(v.size != channels for v in (gamma, beta, mean, var)):
            self.refuse(node, f"its statistics do not have one entry per channel ({channels})")
        denom = var + float(_attrs(node).get("epsilon", 1e-5))
        if not np.all(denom > 0):
            self.refuse(node, "its variance plus epsilon is not positive everywhere")
        s = gamma / np.sqrt(denom)
        shape = (-1, *([1] * (value.weight.ndim - 1)))
        bias = np.zeros(len(s)) if value.bias is None else value.bias
        self.values[node.output[0]] = _Affine(
            value.x, value.weight * s.reshape(shape), s * (bias - mean) + beta, value.out_shape,
            value.nodes + [f"{node.name or node.output[0]} (BatchNormalization, folded)"],
            value.conv)

    def op_Add(self, node: Any) -> None:
        left, right = node.input[0], node.input[1]
        if left in self.consts or right in self.consts:
            name, c = (right, self.consts[left]) if left in self.consts else (left,
                                                                                 self.consts[right])
            value = self.values.get(name)
            if value is None:
                self.refuse(node, "adds two constants")
            size = int(np.prod(value.out_shape if isinstance(value, _Affine) else value.shape))
            per_sample = c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1)
            if isinstance(value, _Affine) and value.conv is None and c.size in (1, size) \
                    and not per_sample:
                bias = np.broadcast_to(c.reshape(-1), (size,)).astype(np.float64)
                self.values[node.output[0]] = value.with_bias(
                    bias, f"{node.name or node.output[0]} (Add)")
                return
            self.refuse(node, "a constant added to something other than a Gemm or MatMul "
                        "(without a bias yet) is not an affine map of the language")
        self.residual(node, left, right)

    def residual(self, node: Any, left: str, right: str) -> None:
        """``x + V σ(A x' + b)``: one side a variable, the other a bias-free MatMul/Gemm of an
        activation layer's output that nothing else uses."""
        for base_name, branch_name in ((left, right), (right, left)):
            branch = self.values.get(branch_name)
            if not (isinstance(branch, _Affine) and branch.conv is None
                    and (branch.bias is None or not np.any(branch.bias))
                    and self.uses.get(branch_name, 0) == 1):
                continue
            inner = next((st for st in self.statements if st.target == branch.x.name
                          and st.hidden is not None), None)
            if inner is None or self.uses_of_var(branch.x.name) != 1:
                continue
            base = self.var(node, base_name)
            if base.shape != branch.out_shape and int(np.prod(base.shape)) != int(
                    np.prod(branch.out_shape)):
                self.refuse(node, f"adds {base.shape} to {branch.out_shape}")
            self.statements.remove(inner)
            psi = inner.hidden[0]
            v = self.param(f"V{self.suffix(inner.target)}", branch.weight)
            target = inner.target        # σ's output is now hidden: the layer takes its name
            text = f"{base.name} + {v} @ {psi}({inner.text.split('(', 1)[1]}"  # σ(A x' + b)
            self.emit(target, text, [inner.comment.removeprefix("ONNX "), *branch.nodes,
                                     f"{node.name or node.output[0]} (Add: residual)"])
            self.values[node.output[0]] = _Var(target, base.shape)
            self.shapes[node.output[0]] = self.shape_of(base_name)
            return
        self.refuse(node, "it adds two branches that are not a residual link x + V σ(A x + b) "
                    "(V without a bias, σ's output used only by V)")

    def shape_of(self, name: str) -> tuple[int, ...]:
        """The shape of ONNX tensor ``name`` without the batch axis."""
        if name in self.shapes:
            return self.shapes[name]
        value = self.values.get(name)
        if value is None:
            return tuple(self.consts[name].shape) if name in self.consts else ()
        return value.out_shape if isinstance(value, _Affine) else value.shape

    def uses_of_var(self, var_name: str) -> int:
        """How many nodes use the ONNX tensors that are this variable."""
        return sum(self.uses.get(k, 0) for k, v in self.values.items()
                   if isinstance(v, _Var) and v.name == var_name and k in self.uses)

    # -- activations -------------------------------------------------------------------------
    def activation(self, node: Any, psi: str, kws: str = "") -> None:
        src = node.input[0]
        value = self.values.get(src)
        if value is None:
            self.refuse(node, f"its input '{src}' is a constant")
        if isinstance(value, _Affine) and self.uses.get(src, 0) == 1:
            affine, nodes = value, value.nodes
        else:
            if len(self.shape_of(src)) > 1:
                self.refuse(node, f"an activation of a {self.shape_of(src)} tensor that is not "
                            "a convolution's own output (used by nothing else) is not a layer "
                            "of the language")
            x = self.materialise(value, src)
            n = int(np.prod(x.shape))
            eye = self.param(f"I{self.counter + 1}", np.zeros((n, n)), init="eye")
            affine, nodes = _Affine(x, np.eye(n), None, x.shape, []), []
            affine_text = f"{eye} @ {x.name}"
        target = self.fresh(node.output[0])
        if nodes:
            affine_text = self.affine_text(affine, target)
        text = f"{psi}({affine_text}{', ' + kws if kws else ''})"
        self.emit(target, text, nodes + [f"{node.name or node.output[0]} ({node.op_type})"],
                  hidden=(psi, kws, affine) if affine.conv is None else None)
        self.values[node.output[0]] = _Var(target, affine.out_shape)

    def op_Relu(self, node: Any) -> None:
        self.activation(node, "relu")

    def op_Sigmoid(self, node: Any) -> None:
        self.activation(node, "sigmoid")

    def op_Tanh(self, node: Any) -> None:
        self.activation(node, "tanh")

    def op_LeakyRelu(self, node: Any) -> None:
        a = float(_attrs(node).get("alpha", 0.01))
        if not 0 < a <= 1:
            self.refuse(node, f"LeakyRelu with alpha = {a:g} is not a proximal map (it needs "
                        "0 < alpha <= 1: nondecreasing and 1-Lipschitz)")
        self.activation(node, "leaky_relu", f"a = {_fmt(a)}")

    def op_Softmax(self, node: Any) -> None:
        shape = self.shape_of(node.input[0])
        axis = int(_attrs(node).get("axis", -1))
        if len(shape) != 1 or axis not in (-1, 1):
            self.refuse(node, "only a softmax over a whole vector layer (axis = 1 of (batch, n)) "
                        "is the language's softmax")
        self.activation(node, "softmax")

    def op_Shrink(self, node: Any) -> None:
        a = _attrs(node)
        lam, bias = float(a.get("lambd", 0.5)), float(a.get("bias", 0.0))
        if lam != bias or not 0 <= lam < math.inf:
            self.refuse(node, f"Shrink with lambd = {lam:g}, bias = {bias:g} is not the soft "
                        "threshold (it needs bias = lambd >= 0)")
        self.activation(node, "soft", f"theta = {_fmt(lam)}")

    def op_Clip(self, node: Any) -> None:
        a = _attrs(node)
        lo = a.get("min")
        hi = a.get("max")
        if len(node.input) > 1 and node.input[1]:
            lo = self.scalar(node, node.input[1], "min")
        if len(node.input) > 2 and node.input[2]:
            hi = self.scalar(node, node.input[2], "max")
        if lo is None and hi is None:
            self.alias(node)
        elif hi is None and float(lo) == 0.0:
            self.activation(node, "relu")
        elif lo is None or hi is None or not float(lo) < float(hi):
            self.refuse(node, f"Clip with min = {lo}, max = {hi}: the language's clip needs "
                        "both bounds, lo < hi (or min = 0 alone: relu)")
        else:
            self.activation(node, "clip", f"lo = {_fmt(lo)}, hi = {_fmt(hi)}")

    # -- helpers -----------------------------------------------------------------------------
    def const(self, node: Any, name: str, what: str) -> np.ndarray:
        value = self.consts.get(name)
        if value is None:
            self.refuse(node, f"{what} ('{name}') is computed, not a constant; lbdsl reads "
                        "fixed weights")
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            self.refuse(node, f"{what} ('{name}') is not a finite real array")
        return np.asarray(value, dtype=np.float64)

    def scalar(self, node: Any, name: str, what: str) -> float:
        value = self.const(node, name, what)
        if value.size != 1:
            self.refuse(node, f"{what} ('{name}') has {value.size} entries, not one")
        return float(value.reshape(-1)[0])

    def check_in(self, node: Any, x: _Var, n: int) -> None:
        if int(np.prod(x.shape)) != n:
            self.refuse(node, f"its weight takes {n} entries, its input '{x.name}' has "
                        f"{int(np.prod(x.shape))}")


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def translate(model: Any, name: str, weights_file: str) -> Imported:
    """The spec (network ``name``, loading from ``weights_file``) and weights of ``model``."""
    if not re.fullmatch(r"[A-Za-z_]\w*", name) or name in KEYWORDS:
        raise ImportRefused(f"`{name}` is not a network name (letters, digits and _, not a "
                            "word of the language); give --name")
    return _Translator(model, name, weights_file).run()


def import_onnx(model: str | Path, out: str | Path = ".", name: str | None = None,
                ) -> tuple[Path, Path]:
    """Write ``out/NAME.lbn`` and ``out/NAME.npz`` for the ONNX model at ``model`` (``NAME``:
    the model file's stem); returns both paths.  Each file is written whole or not at all."""
    model = Path(model)
    name = name or (re.sub(r"\W", "_", model.stem).strip("_") or "model")
    if not re.match(r"[A-Za-z_]", name) or name in KEYWORDS:
        name = f"net_{name}"
    loaded = read_model(model)
    try:
        imported = translate(loaded, name, f"{name}.npz")
    except ImportRefused as err:
        raise ImportRefused(f"{model}: {err}") from None
    folder = Path(out)
    spec, weights = folder / f"{name}.lbn", folder / f"{name}.npz"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_npz_atomic(weights, imported.weights)
        write_text_atomic(spec, imported.text)
    except OSError as exc:
        raise LbdslError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return spec, weights
