"""ONNX → ``.lbn``: a model's graph read as the layers of the language, its weights as an npz.

The ``onnx`` package reads the file (``onnx.load``: protobuf, no code executed, no external
data followed); nothing of the model runs.  The graph's nodes, in their (topological) order, are
folded into the statements of docs/language.md §3.  Between two activations every tensor is a
linear expression of the spec's variables (:mod:`.onnx_linear`), written out once as the
pre-activation of the activation that reads it, or as a linear layer:

=========================================  ================================================
ONNX                                        ``.lbn``
=========================================  ================================================
``Gemm(x, B, C)``, ``MatMul(x, B)``          ``W @ x + b`` (``W.T @ x`` where the same
                                            initializer is read the other way round)
``Conv(x, K, c)``, ``ConvTranspose``        ``conv(K, x, stride, padding) + c``, ``conv_t(…)``:
                                            one kernel read by both is one tied parameter
``AveragePool``, ``GlobalAveragePool``      ``conv(P, x, …)``, ``P[c, c] = 1/(k_h k_w)``
                                            (border windows over fewer entries: a matrix)
``Resize``/``Upsample``, nearest, integer   ``conv_t(U, x, stride = s_hxs_w)``,
scales                                      ``U[c, c]`` a block of ones
``Add`` ``Sub`` ``Neg``, ``Mul``/``Div`` by  sums, differences and multiples of terms, over
a number, ``Transpose`` of a constant       any earlier variables (skip inputs too)
``BatchNormalization``                      folded into the map before it
                                            (``W ← diag(s) W``), else a diagonal map
``Reshape`` to ``(N, C, H, W)`` after a      ``dense(x, CxHxW, init = load(...))``
matrix
``Relu`` ``LeakyRelu`` ``Sigmoid`` ``Tanh``  ``relu`` ``leaky_relu(a = α)`` ``sigmoid`` ``tanh``
``Elu`` (``Celu`` at α = 1)                  ``elu(alpha = α)``, 0 < α ≤ 1
``Softmax`` ``Clip`` ``Shrink``             ``softmax`` ``clip(lo, hi)`` ``soft``, of any
                                            expression or variable
``Add(x, V·σ(…) + c)``                      the residual layer ``y = x + V @ σ(…) + c``
``Flatten``, ``Reshape`` to ``(N, −1)``,     nothing: the language flattens a variable when it
``Identity``, ``Dropout``                   is multiplied
``Shape`` and the integer ops on it          folded; the batch's size only as the batch's
(``nn.Unflatten``, ``x.view(x.size(0),…)``)  (:mod:`.onnx_shapes`)
=========================================  ================================================

A constant is folded through the maps that follow it (``M (x + b) = M x + M b``).  Anything
else is refused with one line naming the node, its op and why (:class:`ImportRefused`).  The
first axis of the graph's input is the batch (any size); the rest is the network's input shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ..bounded import BoundError, check_regular, format_bytes
from ..errors import LbdslError
from ..outputs import write_npz_atomic, write_text_atomic
from ..prox.registry import NOT_PROXIMAL, PROXIMAL_NOT_IN_CATALOGUE
from ..limits import MAX_PARAM_BYTES
from .onnx_linear import (KEYWORDS, Lin, Term, Var, Weight, attrs, identifier, label, number,
                          printable)
from .onnx_maps import LinearOps
from .onnx_resample import ResampleOps
from .onnx_shapes import ShapeOps
from .onnx_write import Statement, write_spec

__all__ = ["ImportRefused", "Imported", "read_model", "translate", "import_onnx"]


class ImportRefused(LbdslError):
    """A model lbdsl cannot read as a network of the language (one line: node, op, why);
    a user's input error, so exit status 2.  The names it quotes come from the file, so the
    message is made printable (no line break, no terminal escape)."""

    exit_status = 2

    def __init__(self, message: str) -> None:
        super().__init__(printable(message, 1000))


#: ONNX ops that are activations lbdsl refuses, by the catalogue's name for them.
_REFUSED_ACTIVATIONS = {"Gelu": "gelu", "Selu": "selu", "Celu": "celu",
                        "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish",
                        "HardSigmoid": "hardsigmoid", "Sign": "sign", "Abs": "abs",
                        "Exp": "exp", "Sin": "sin", "Cos": "cos"}
_ALIASES = ("Flatten", "Identity", "Dropout", "Reshape", "Squeeze", "Unsqueeze")
#: The most entries per sample of any tensor the importer reads (what the network builder
#: lets a network's parameters hold): checked before anything of that size is made.
MAX_ENTRIES = MAX_PARAM_BYTES // 8
#: The least number of inputs each op reads (a malformed node is refused, not a traceback).
_ARITY = {"Gemm": 2, "MatMul": 2, "Conv": 2, "ConvTranspose": 2, "BatchNormalization": 5,
          "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Neg": 1, "Transpose": 1, "AveragePool": 1,
          "GlobalAveragePool": 1, "Resize": 1, "Upsample": 1, "Shape": 1, "Gather": 2,
          "Concat": 1, "Cast": 1, "Mod": 2, "Reshape": 2, "Flatten": 1, "Identity": 1,
          "Dropout": 1, "Relu": 1, "LeakyRelu": 1, "Elu": 1, "Celu": 1, "Sigmoid": 1,
          "Tanh": 1, "Softmax": 1, "Shrink": 1, "Clip": 1}


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
        check_regular(path)     # a FIFO would wait for a writer; /dev/zero never ends
        size = path.stat().st_size
        if size > MAX_PARAM_BYTES:   # protobuf's own limit is 2 GiB too
            raise BoundError(f"it holds {format_bytes(size)}, more than the limit of "
                             f"{format_bytes(MAX_PARAM_BYTES)}")
        data = path.read_bytes()
    except BoundError as exc:
        raise LbdslError(f"cannot read {path}: {exc}") from None
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


class _Translator(LinearOps, ResampleOps, ShapeOps):
    """The graph's nodes, in order, folded into linear expressions (:class:`Lin`) and the
    statements that write them (module docstring)."""

    def __init__(self, model: Any, name: str, weights_file: str) -> None:
        from onnx import TensorProto

        self.graph, self.name, self.file = model.graph, name, weights_file
        self.opset = next((int(o.version) for o in model.opset_import
                           if o.domain in ("", "ai.onnx")), 1)
        self.consts: dict[str, np.ndarray] = {}
        self.batch: dict[str, np.ndarray] = {}          # a shape's batch entries, by constant
        self.batch_size: int | None = None              # the input's, when the model fixes it
        self.roots: dict[str, tuple[str, bool]] = {}   # a transposed matrix constant's source
        for t in self.graph.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                raise ImportRefused(f"initializer '{t.name}' keeps its data in an external "
                                    "file; lbdsl reads only self-contained models (save it "
                                    "with onnx.save(model, path, save_as_external_data=False))")
            self.consts[t.name] = _tensor(t, f"initializer '{t.name}'")
        for node in self.graph.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = self.constant(node)
        self.values: dict[str, Lin] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}    # each tensor's ONNX shape, no batch
        self.weights: dict[str, Weight] = {}            # by ONNX constant
        self.statements: list[Statement] = []
        self.defined: dict[Var, Statement] = {}
        self.taken: set[str] = set()
        self.uses = self._count_uses()
        self.alias_reads: dict[str, int] = {}
        # the tensors that hold each expression, and each variable (by id): counting readers
        # must not scan every tensor at every node
        self.holders: dict[int, list[str]] = {}
        self.var_holders: dict[int, list[str]] = {}
        self.counter = 0

    def constant(self, node: Any) -> np.ndarray:
        """A ``Constant`` node's value (``value`` as a tensor, or ``value_float(s)`` /
        ``value_int(s)``); refused in one line otherwise."""
        from onnx import TensorProto

        a = attrs(node)
        if "value" in a:
            if a["value"].data_location == TensorProto.EXTERNAL:
                self.refuse(node, "its value is kept in an external file")
            return _tensor(a["value"], f"node '{node.name or node.output[0]}' (Constant): "
                           "its value")
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
            if node.op_type == "Shape":     # reads the sizes only, which are known
                continue
            for name in node.input:
                if name:
                    uses[name] = uses.get(name, 0) + 1
        for out in self.graph.output:
            uses[out.name] = uses.get(out.name, 0) + 1
        return uses

    def refuse(self, node: Any, why: str) -> NoReturn:
        raise ImportRefused(f"node '{node.name or node.output[0]}' ({node.op_type}): {why}")

    def hold(self, name: str, lin: Lin) -> None:
        """Tensor ``name`` holds ``lin``."""
        self.values[name] = lin
        self.holders.setdefault(id(lin), []).append(name)
        if lin.var is not None:
            self.var_holders.setdefault(id(lin.var), []).append(name)

    def _count(self, names: list[str]) -> int:
        return sum(self.uses.get(k, 0) - self.alias_reads.get(k, 0) for k in names)

    def readers(self, lin: Lin) -> int:
        """How many nodes (and graph outputs) read the tensors that hold ``lin``, a
        ``Flatten`` or ``Reshape`` in between not counted (it only renames)."""
        return self._count(self.holders.get(id(lin), []))

    def var_readers(self, var: Var) -> int:
        """The same for every tensor that is the variable ``var``."""
        return self._count(self.var_holders.get(id(var), []))

    def fresh(self) -> str:
        """The next layer's name, ``h1``, ``h2``, … (the ONNX names are in the comments)."""
        self.counter += 1
        return identifier(f"h{self.counter}", self.taken, "h")

    def add(self, st: Statement) -> Var:
        self.statements.append(st)
        self.defined[st.target] = st
        return st.target

    def value(self, node: Any, name: str) -> Lin:
        """The expression a node reads (written as a layer first when other nodes read it
        too: a variable read twice, not an expression computed twice)."""
        lin = self.values.get(name)
        if lin is None:
            self.refuse(node, f"its input '{name}' is neither the graph's input nor a layer's "
                        "output (a constant where a variable is needed?)")
        if lin.var is None and (self.readers(lin) > 1 or self._residual_parts(lin)):
            lin = self.written(lin)    # a residual sum is a layer, whatever reads it
        return lin

    def written(self, lin: Lin) -> Lin:
        """``lin`` as a variable: the layer that computes it is written now."""
        var = self.materialise(lin)
        out = Lin.of(var)
        for k in self.holders.pop(id(lin), []):
            self.hold(k, out)
        return out

    def materialise(self, lin: Lin) -> Var:
        """The variable holding ``lin``: itself, a residual layer, or a linear layer."""
        if lin.var is not None:
            return lin.var
        if not lin.terms:
            raise ImportRefused(f"{', '.join(lin.nodes)}: computes a constant, not a function "
                                "of the input")
        return self.residual(lin) or self.add(Statement(Var(self.fresh(), lin.shape), lin,
                                                         nodes=lin.nodes))

    def _residual_parts(self, lin: Lin) -> tuple[Term, Term, Statement] | None:
        """``(base, branch, activation)`` when ``lin`` is ``x ± V a + c``: a variable plus ± a
        matrix applied to the output ``a`` of an activation layer that nothing else reads."""
        if len(lin.terms) != 2:
            return None
        for base, branch in (lin.terms, lin.terms[::-1]):
            inner = self.defined.get(branch.var)
            if (not base.maps and base.coef == 1.0 and len(branch.maps) == 1
                    and branch.maps[0].kind == "matmul" and not branch.maps[0].shaped
                    and abs(branch.coef) == 1.0 and inner is not None
                    and inner.psi is not None and inner.residual is None
                    and self.var_readers(branch.var) == 1
                    and int(np.prod(base.var.shape)) == lin.size
                    and self._before(base.var, inner)):
                return base, branch, inner
        return None

    def residual(self, lin: Lin) -> Var | None:
        """The residual layer ``x ± (V σ(…) + c)`` that ``lin`` is (the activation layer
        hidden in it, which gives it its name), else None."""
        parts = self._residual_parts(lin)
        if parts is None:
            return None
        base, branch, inner = parts
        sign = 1 if branch.coef > 0 else -1
        c = None if lin.bias is None else sign * lin.bias
        inner.residual = (base.var, sign, branch.maps[0], c)
        inner.target.shape = base.var.shape
        inner.nodes = (*inner.nodes, *(n.replace(" (Add)", " (Add: residual)")
                                       .replace(" (Sub)", " (Sub: residual)")
                                       for n in lin.nodes))
        return inner.target

    def _before(self, var: Var, st: Statement) -> bool:
        """Whether ``var`` is defined before ``st`` (or is the input)."""
        where = self.defined.get(var)
        return where is None or self.statements.index(where) < self.statements.index(st)

    # -- the graph ---------------------------------------------------------------------------
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
        self.batch_size = dims[0]            # fixed by the model, or None: any
        if math.prod(shape) > MAX_ENTRIES:
            raise ImportRefused(f"input '{x.name}' has {math.prod(shape):,} entries per sample, "
                                f"more than lbdsl allocates ({MAX_ENTRIES:,})")
        source = Var(identifier("u" if x.name in ("input", "output", "x_input") else x.name,
                                 self.taken, "u"), shape)
        self.hold(x.name, Lin.of(source))
        self.shapes[x.name] = shape
        for node in self.graph.node:
            if node.op_type != "Constant":
                self.node(node)
        if len(self.graph.output) != 1:
            raise ImportRefused(f"the graph has {len(self.graph.output)} outputs; lbdsl reads a "
                                "network with exactly one")
        out = self.graph.output[0].name
        if out not in self.values:
            raise ImportRefused(f"the graph's output '{out}' is a constant")
        result = self.materialise(self.values[out])
        if result is source:          # Flatten alone: the layer y = u
            result = self.add(Statement(Var(self.fresh(), shape), Lin.of(source),
                                         nodes=self.values[out].nodes))
        text, weights = write_spec(self.name, self.graph.name, self.file, source,
                                  self.statements, result, self.taken)
        return Imported(self.name, text, weights)

    def node(self, node: Any) -> None:
        op = node.op_type
        given = sum(1 for name in node.input if name)
        if given < _ARITY.get(op, 0) or not node.output:
            self.refuse(node, f"it has {given} input(s); {op} reads at least {_ARITY[op]}"
                        if given < _ARITY.get(op, 0) else "it has no output")
        self.check_batch(node)
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
            self.refuse(node, f"{op} is not supported (lbdsl reads linear maps, the catalogue's "
                        "activations and residual links; docs/interop.md lists them)")

    def put(self, node: Any, lin: Lin, shape: tuple[int, ...]) -> None:
        """The node's output is ``lin``, of ONNX shape ``shape`` (no batch axis)."""
        self.check_size(node, shape)
        if node.output[0] in self.values or node.output[0] in self.consts:
            self.refuse(node, f"its output '{node.output[0]}' is produced twice")
        self.hold(node.output[0], lin)
        self.shapes[node.output[0]] = tuple(int(d) for d in shape)

    def check_size(self, node: Any, shape: tuple[int, ...]) -> None:
        """Refuse a tensor larger than lbdsl allocates, before anything of its size is made."""
        if any(int(d) < 1 for d in shape) or math.prod(int(d) for d in shape) > MAX_ENTRIES:
            self.refuse(node, f"its output {tuple(shape)} is empty or has more than "
                        f"{MAX_ENTRIES:,} entries per sample")

    def shape_of(self, name: str) -> tuple[int, ...]:
        """The ONNX shape of tensor ``name`` without the batch axis."""
        if name in self.shapes:
            return self.shapes[name]
        return tuple(self.consts[name].shape) if name in self.consts else ()

    # -- renaming ops ------------------------------------------------------------------------
    def alias(self, node: Any) -> None:
        """``Flatten``, ``Reshape``, ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Dropout``: the
        same expression under another ONNX shape (the language keeps the entries in the same
        row-major order; a constant is reshaped)."""
        src = node.input[0]
        lin = self.values.get(src)
        if lin is None and src not in self.consts:
            self.refuse(node, f"its input '{src}' is not computed before it")
        shape = self.shape_of(src)
        new = self._new_shape(node, shape, lin is None)
        if lin is None:                          # folded: a constant stays a constant
            value, mask = self.consts[src], self.batch.get(src)
            if new is None:
                return self.folded(node, value, mask)
            return self.folded(node, value.reshape(new),
                               None if mask is None else mask.reshape(new))
        if node.op_type == "Dropout" and ((len(node.output) > 1 and node.output[1])
                                          or self._training(node)):
            self.refuse(node, "a Dropout in training mode (or whose mask is used) is random: "
                        "export the model in eval mode")
        if new is None or int(np.prod(new)) != int(np.prod(shape)):
            self.refuse(node, f"it changes the batch axis or the size of a {shape} sample; a "
                        "reshape keeps the batch first (-1 or 0 there)")
        self.alias_reads[src] = self.alias_reads.get(src, 0) + 1
        if node.op_type == "Reshape" and len(new) == 3 and lin.shape != new:
            return self.to_image(node, lin, new)
        self.put(node, lin, new)

    def _new_shape(self, node: Any, shape: tuple[int, ...], const: bool,
                   ) -> tuple[int, ...] | None:
        """The shape after an alias op (without the batch axis; a constant's whole shape)."""
        op, a = node.op_type, attrs(node)
        full = shape if const else (1, *shape)
        if op == "Flatten":
            axis = int(a.get("axis", 1))
            if not const and axis != 1:
                self.refuse(node, "only Flatten(axis = 1), to (batch, size), keeps the batch")
            axis = axis % max(len(full), 1)
            out = (int(np.prod(full[:axis])), int(np.prod(full[axis:])))
        elif op == "Reshape":
            dims = self.ints(node, node.input[1], "the shape")
            batch = self.batch.get(node.input[1])
            if batch is not None:    # the batch's size read by Shape: only as the batch's
                batch = batch.reshape(-1)
                if const or batch[1:].any():
                    self.refuse(node, "it puts the batch's size (read by Shape) on an axis "
                                "that is not the batch's")
                dims[0] = 0
            if not const and (not dims or dims[0] not in (-1, 0)):
                return None
            dims = [full[i] if d == 0 and i < len(full) else d for i, d in enumerate(dims)]
            if dims.count(-1) == 1:
                known = int(np.prod([d for d in dims if d != -1]))
                dims[dims.index(-1)] = int(np.prod(full)) // max(known, 1)
            if min(dims, default=1) < 1:
                self.refuse(node, f"the shape {dims} is not a shape (one -1 at most)")
            out = tuple(dims)
        elif op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1]:
                axes = self.ints(node, node.input[1], "the axes")
            rank = len(full) + (len(axes) if op == "Unsqueeze" and axes is not None else 0)
            axes = sorted({int(x) % max(rank, 1) for x in (
                axes if axes is not None else [i for i, d in enumerate(full) if d == 1])})
            if not const and 0 in axes:
                return None
            if op == "Unsqueeze":
                out_list = list(full)
                for axis in axes:
                    out_list.insert(axis, 1)
                out = tuple(out_list)
            elif any(full[a] != 1 for a in axes if a < len(full)):
                self.refuse(node, f"it squeezes axes {axes} of {full} that are not 1")
            else:
                out = tuple(d for i, d in enumerate(full) if i not in axes)
        else:
            out = full
        return tuple(out) if const else tuple(out[1:])

    def to_image(self, node: Any, lin: Lin, image: tuple[int, ...]) -> None:
        """``Reshape`` to ``(batch, C, H, W)``: where the last matrix (or the activation of
        one) gives it, the image it makes — ``dense(x, CxHxW, init = load(...))``, the way the
        language shapes a flat variable into an image that a convolution reads as one, written
        as its own layer at once; else only the ONNX shape changes (a convolution of it is
        then a matrix)."""
        st = self.defined.get(lin.var) if lin.var is not None else None
        pre = st.lin if st is not None and st.psi not in (None, "softmax") \
            and st.residual is None else lin
        shaped = self._shaped(pre, image)
        if shaped is None:
            return self.put(node, lin, image)
        if pre is lin:                # the matrix alone: its layer y = dense(x, CxHxW)
            out = Var(self.fresh(), image)
            self.add(Statement(out, shaped, nodes=(*shaped.nodes, label(node))))
            return self.put(node, Lin.of(out), image)
        st.lin = shaped
        st.target.shape = image
        self.put(node, lin, image)

    def _shaped(self, lin: Lin, image: tuple[int, ...]) -> Lin | None:
        """``lin`` with its one matrix giving ``image`` (the matrix read by nothing else),
        else None."""
        if len(lin.terms) != 1 or lin.var is not None:
            return None
        (t,) = lin.terms
        m = t.maps[0] if len(t.maps) == 1 else None
        if m is None or t.coef != 1.0 or m.kind != "matmul" or m.weight.uses != 1 \
                or self.weight_readers(m.weight.key) != 1:
            return None
        m = replace(m, out_shape=image, shaped=True)
        return replace(lin, terms=(Term(1.0, (m,), t.var),))

    def weight_readers(self, root: str) -> int:
        """How many nodes read the constant ``root`` or a transpose of it (the transposes
        themselves not counted): a weight folded into must have one."""
        names = {root} | {k for k, (r, _) in self.roots.items() if r == root}
        return sum(1 for node in self.graph.node if node.op_type != "Transpose"
                   for name in node.input if name in names)

    def _training(self, node: Any) -> bool:
        """Whether a node runs in training mode (``training_mode``, an attribute of
        BatchNormalization, the third input of Dropout): not a fixed function."""
        if int(attrs(node).get("training_mode", 0)):
            return True
        if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
            flag = self.consts.get(node.input[2])
            return flag is None or bool(np.asarray(flag).reshape(-1)[0])
        return False

    # -- sums and scalings -------------------------------------------------------------------
    def operands(self, node: Any) -> tuple[Lin | np.ndarray, Lin | np.ndarray]:
        out = []
        for name in node.input[:2]:
            out.append(self.consts[name].astype(np.float64) if name in self.consts
                       else self.value(node, name))
        return out[0], out[1]

    def broadcast(self, node: Any, c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A constant added to a tensor of ``shape`` (no batch axis): the same for every
        sample, else refused."""
        if c.ndim > len(shape):
            if c.ndim > len(shape) + 1 or c.shape[0] != 1:
                self.refuse(node, f"a constant of shape {c.shape} differs from sample to sample: "
                            "not an affine map")
            c = c[0]
        try:
            return np.broadcast_to(c, shape).reshape(-1)
        except ValueError:
            self.refuse(node, f"a constant of shape {c.shape} does not broadcast to {shape}")

    def combine(self, node: Any, sign: float) -> None:
        """``Add`` (``sign`` 1) or ``Sub`` (−1) of two tensors, a constant one a bias."""
        a, b = self.operands(node)
        if not isinstance(a, Lin) and not isinstance(b, Lin):
            self.consts[node.output[0]] = a + sign * b
            return
        name = node.input[0] if isinstance(a, Lin) else node.input[1]
        shape = self.shape_of(name)
        if isinstance(a, Lin) and isinstance(b, Lin):
            if self.shape_of(node.input[0]) != self.shape_of(node.input[1]):
                self.refuse(node, f"it adds tensors of shapes {self.shape_of(node.input[0])} and "
                            f"{self.shape_of(node.input[1])} (a variable broadcast is not read)")
            lin = a.plus(b.scaled(sign) if sign != 1 else b)
        elif isinstance(a, Lin):
            lin = a.plus_constant(sign * self.broadcast(node, b, shape))
        else:
            lin = (b.scaled(sign) if sign != 1 else b).plus_constant(self.broadcast(node, a,
                                                                                    shape))
        self.put(node, lin.noted(label(node)), shape)

    def op_Add(self, node: Any) -> None:
        self.combine(node, 1.0)

    def op_Sub(self, node: Any) -> None:
        self.combine(node, -1.0)

    def op_Neg(self, node: Any) -> None:
        if node.input[0] in self.consts:
            self.consts[node.output[0]] = -self.consts[node.input[0]]
            return
        lin = self.value(node, node.input[0])
        self.put(node, lin.scaled(-1.0).noted(label(node)), self.shape_of(node.input[0]))

    def scale(self, node: Any, divide: bool) -> None:
        """``Mul`` / ``Div`` by a number: a coefficient of every term."""
        a, b = self.operands(node)
        if not isinstance(a, Lin) and not isinstance(b, Lin):
            self.consts[node.output[0]] = a / b if divide else a * b
            return
        lin, c = (a, b) if isinstance(a, Lin) else (b, a)
        if isinstance(c, Lin) or (divide and not isinstance(a, Lin)):
            self.refuse(node, "it multiplies or divides by a variable: not a linear map")
        if c.size != 1 or not np.isfinite(c).all() or (divide and float(c.reshape(-1)[0]) == 0):
            self.refuse(node, f"it scales entry by entry by a constant of shape {c.shape}; only "
                        "a (finite, nonzero divisor) number scales a linear expression here")
        k = float(c.reshape(-1)[0])
        name = node.input[0] if isinstance(a, Lin) else node.input[1]
        self.put(node, lin.scaled(1.0 / k if divide else k).noted(label(node)),
                 self.shape_of(name))

    def op_Mul(self, node: Any) -> None:
        self.scale(node, False)

    def op_Div(self, node: Any) -> None:
        self.scale(node, True)

    # -- activations -------------------------------------------------------------------------
    def activation(self, node: Any, psi: str, kws: str = "") -> None:
        """``psi`` of the expression it reads (written as this layer's pre-activation), or of
        a variable (``relu(x)``: a skip of the identity)."""
        src = node.input[0]
        if src in self.consts:
            self.refuse(node, f"its input '{src}' is a constant")
        pre = self.value(node, src)
        target = Var(self.fresh(), pre.shape)
        self.add(Statement(target, pre, psi, kws, nodes=(*pre.nodes, label(node))))
        self.put(node, Lin.of(target), self.shape_of(src))

    def op_Relu(self, node: Any) -> None:
        self.activation(node, "relu")

    def op_Sigmoid(self, node: Any) -> None:
        self.activation(node, "sigmoid")

    def op_Tanh(self, node: Any) -> None:
        self.activation(node, "tanh")

    def op_LeakyRelu(self, node: Any) -> None:
        a = float(attrs(node).get("alpha", 0.01))
        if not 0 < a <= 1:
            self.refuse(node, f"LeakyRelu with alpha = {a:g} is not a proximal map (it needs "
                        "0 < alpha <= 1: nondecreasing and 1-Lipschitz)")
        self.activation(node, "leaky_relu", f"a = {number(a)}")

    def op_Elu(self, node: Any) -> None:
        a = float(attrs(node).get("alpha", 1.0))
        if not 0 < a <= 1:
            self.refuse(node, f"Elu with alpha = {a:g} is not a proximal map (it needs "
                        "0 < alpha <= 1: its slope alpha·e^z near 0 must not exceed 1)")
        self.activation(node, "elu", f"alpha = {number(a)}")

    def op_Celu(self, node: Any) -> None:
        """``Celu(α) = α·elu(x/α)``: ``elu`` at α = 1, refused (not in the catalogue) else."""
        a = float(attrs(node).get("alpha", 1.0))
        if a != 1.0:
            self.refuse(node, f"Celu with alpha = {a:g} is not in the catalogue: "
                        f"{PROXIMAL_NOT_IN_CATALOGUE['celu']}")
        self.activation(node, "elu", "alpha = 1")

    def op_Softmax(self, node: Any) -> None:
        shape = self.shape_of(node.input[0])
        axis = int(attrs(node).get("axis", -1))
        if len(shape) != 1 or axis not in (-1, 1):
            self.refuse(node, "only a softmax over a whole vector layer (axis = 1 of (batch, n)) "
                        "is the language's softmax")
        self.activation(node, "softmax")

    def op_Shrink(self, node: Any) -> None:
        a = attrs(node)
        lam, bias = float(a.get("lambd", 0.5)), float(a.get("bias", 0.0))
        if lam != bias or not 0 <= lam < math.inf:
            self.refuse(node, f"Shrink with lambd = {lam:g}, bias = {bias:g} is not the soft "
                        "threshold (it needs bias = lambd >= 0)")
        self.activation(node, "soft", f"theta = {number(lam)}")

    def op_Clip(self, node: Any) -> None:
        a = attrs(node)
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
            self.activation(node, "clip", f"lo = {number(lo)}, hi = {number(hi)}")

    # -- helpers -----------------------------------------------------------------------------
    def const(self, node: Any, name: str, what: str) -> np.ndarray:
        value = self.consts.get(name)
        if value is None:
            self.refuse(node, f"{what} ('{name}') is computed, not a constant; lbdsl reads "
                        "fixed weights")
        if value.dtype.kind not in "iuf" or not np.all(np.isfinite(value)):
            self.refuse(node, f"{what} ('{name}') is not a finite real array")
        return np.asarray(value, dtype=np.float64)

    def ints(self, node: Any, name: str, what: str) -> list[int]:
        """The integers of constant ``name`` (read as integers: INT64_MAX, PyTorch's "to the
        end", is not a float)."""
        value = self.consts.get(name)
        if value is not None and value.dtype.kind in "iu":
            return [int(v) for v in value.reshape(-1)]
        floats = self.const(node, name, what).reshape(-1)
        if not np.all(floats == np.round(floats)) or np.any(np.abs(floats) >= 2.0 ** 62):
            self.refuse(node, f"{what} ('{name}') are not integers")
        return [int(v) for v in floats]

    def scalar(self, node: Any, name: str, what: str) -> float:
        value = self.const(node, name, what)
        if value.size != 1:
            self.refuse(node, f"{what} ('{name}') has {value.size} entries, not one")
        return float(value.reshape(-1)[0])


def _tensor(t: Any, what: str) -> np.ndarray:
    """The array of the ONNX tensor ``t``, its declared size checked first: real numbers
    only, at most :data:`MAX_ENTRIES` entries, and as many values as it declares (the data
    present are read, never an array of the declared size made first)."""
    from onnx import TensorProto, helper, numpy_helper

    if t.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128):
        raise ImportRefused(f"{what} holds {helper.tensor_dtype_to_np_dtype(t.data_type)} "
                            "data, not real numbers")
    dims = tuple(int(d) for d in t.dims)
    count = math.prod(dims)
    if any(d < 0 for d in dims):
        raise ImportRefused(f"{what} declares shape {dims}, which is not a shape")
    if count > MAX_ENTRIES:
        raise ImportRefused(f"{what} declares {count:,} entries {dims}, more than lbdsl "
                            f"allocates ({MAX_ENTRIES:,})")
    try:
        return np.asarray(numpy_helper.to_array(t))
    except (ValueError, TypeError, KeyError):
        if t.HasField("raw_data"):
            held = f"{len(t.raw_data):,} bytes of data"
        else:
            field = helper.tensor_dtype_to_field(t.data_type)
            held = f"{len(getattr(t, field)):,} values in {field}"
        raise ImportRefused(f"{what} declares {count:,} entries {dims} but holds {held}") \
            from None


def translate(model: Any, name: str, weights_file: str) -> Imported:
    """The spec (network ``name``, loading from ``weights_file``) and weights of ``model``."""
    if not re.fullmatch(r"[A-Za-z_]\w*", name, re.ASCII) or name in KEYWORDS:
        raise ImportRefused(f"`{name}` is not a network name (letters, digits and _, not a "
                            "word of the language); give --name")
    return _Translator(model, name, weights_file).run()


def import_onnx(model: str | Path, out: str | Path = ".", name: str | None = None,
                ) -> tuple[Path, Path]:
    """Write ``out/NAME.lbn`` and ``out/NAME.npz`` for the ONNX model at ``model`` (``NAME``:
    the model file's stem); returns both paths.  Each file is written whole or not at all."""
    model = Path(model)
    name = name or (re.sub(r"\W", "_", model.stem, flags=re.ASCII).strip("_") or "model")
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
