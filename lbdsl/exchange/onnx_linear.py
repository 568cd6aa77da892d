"""The values of an ONNX graph being read: linear expressions over the spec's variables.

Between two activations an ONNX graph computes a linear (affine) function of earlier tensors:
``Gemm``, ``MatMul``, ``Conv``, ``ConvTranspose``, ``AveragePool``, ``Add``, ``Sub``, ``Neg``,
``Mul``/``Div`` by a number.  The importer (:mod:`.onnx_import`) keeps each tensor as a
:class:`Lin` — terms ``c · (M_1 ∘ ⋯ ∘ M_k)(x)`` over variables of the spec plus a constant —
and writes it out once, as the pre-activation of a layer or as a linear layer, in the
language's own linear expressions (docs/language.md).  A constant is folded through the maps
applied to it (``M (x + b) = M x + M b``), since the language adds biases outside maps.

Each map's weight is one :class:`Weight` per ONNX initializer, so that a kernel that a ``Conv``
and a ``ConvTranspose`` both read (PyTorch's ``F.conv2d(x, L)`` and
``F.conv_transpose2d(u, L)``) is one parameter of the spec, applied as ``conv(L, …)`` and
``conv_t(L, …)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..ir.layers import LAYER_TYPES
from ..ir.nodes import LinearMap
from ..ops.conv import Pair, conv2d_output_shape, conv2d_transpose_output_shape
from ..syntax.grammar import keywords

#: The words of the language, which a name in the written spec must not be.
KEYWORDS = keywords()

__all__ = ["Var", "Weight", "Map", "Term", "Lin", "matrix_map", "conv_map", "number", "attrs",
           "label", "identifier", "printable", "KEYWORDS"]


def identifier(text: str, taken: set[str], fallback: str) -> str:
    """``text`` as a name of the spec not in ``taken`` (then added to it): word characters,
    a letter first, not a word of the language, ``_2``, ``_3``, … appended when taken."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or fallback
    if not re.match(r"[A-Za-z]", name) or name in KEYWORDS:
        name = f"{fallback}_{name}"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def attrs(node: Any) -> dict[str, Any]:
    """An ONNX node's attributes by name."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def label(node: Any, note: str = "") -> str:
    """A node as the comments of the written spec name it: ``NAME (Op)``."""
    return f"{node.name or node.output[0]} ({node.op_type}{note})"


def number(x: float) -> str:
    """A float as spec text, exactly (``repr``)."""
    return repr(float(x))


@dataclass(eq=False)
class Var:
    """A variable of the spec (the input or a layer's output), its shape without the batch."""

    name: str
    shape: tuple[int, ...]


@dataclass(eq=False)
class Weight:
    """One parameter of the spec behind one ONNX constant: its value as the spec stores it,
    the stem of its name (``W``, ``K``), the maps that apply it and, once written, its name."""

    key: str                  # the ONNX initializer (or folded constant) it comes from
    value: np.ndarray
    stem: str
    uses: int = 0
    name: str | None = None
    flipped: bool = False     # a matrix stored as the transpose of the ONNX array


@dataclass(frozen=True, eq=False)
class Map:
    """``A`` of a term: ``matmul`` (``W @``, ``W.T @``) or ``conv`` (``conv(K, ·)``, or
    ``conv_t`` when ``transposed``); ``shaped``: a matrix whose output is an image, written
    ``dense(x, CxHxW, init = load(...))``."""

    kind: str
    weight: Weight
    transposed: bool
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    stride: Pair = 1
    padding: Pair = 0
    output_padding: Pair = 0
    shaped: bool = False

    @property
    def matrix(self) -> np.ndarray:
        """A matrix map's ``(out, in)`` matrix."""
        return self.weight.value.T if self.transposed else self.weight.value

    def linear_map(self, weight: str) -> LinearMap:
        """The IR's map of the same kind and geometry, its weight named ``weight``."""
        return LinearMap(self.kind, weight, self.transposed, self.in_shape, self.out_shape,
                         tuple(self.weight.value.shape[2:4]) or None, self.stride,
                         self.padding, self.output_padding)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The map applied to the samples ``x`` (``(B, …)``, each of ``in_shape``'s size) by
        its layer type's operator: ``(B, *out_shape)``."""
        m, kind = self.linear_map(self.weight.key), LAYER_TYPES[self.kind]
        shape_in, _ = kind.shapes(m)
        y = kind.operator(m, self.weight.value).forward(x.reshape(x.shape[0], *shape_in))
        return np.asarray(y).reshape(x.shape[0], *self.out_shape)

    def text(self, x: str) -> str:
        """``self`` applied to the expression ``x``, as a spec writes it (its layer type's
        description: ``W @ x``, ``W.T @ x``, ``L @ x``, ``conv_t(L, x, stride=2, …)``)."""
        assert self.weight.name is not None
        return LAYER_TYPES[self.kind].describe(self.linear_map(self.weight.name), x)


def matrix_map(weight: Weight, onnx_array_transposed: bool, in_shape: tuple[int, ...],
               ) -> Map:
    """The map ``x ↦ M x`` with ``M`` the weight's ONNX array (transposed when asked),
    relative to the value the spec stores (the first use is stored untransposed)."""
    if weight.uses == 0:
        weight.flipped = onnx_array_transposed
        weight.value = weight.value.T.copy() if onnx_array_transposed else weight.value
    weight.uses += 1
    transposed = onnx_array_transposed != weight.flipped
    rows = weight.value.shape[1] if transposed else weight.value.shape[0]
    return Map("matmul", weight, transposed, in_shape, (int(rows),))


def conv_map(weight: Weight, transposed: bool, image: tuple[int, ...], stride: Pair,
             padding: Pair, output_padding: Pair = 0) -> Map:
    """``conv(K, x)`` (``conv_t`` when ``transposed``) on an image ``C × H × W``
    (``ValueError`` when its output would be empty)."""
    k = weight.value.shape
    if transposed:
        hw = conv2d_transpose_output_shape(image[1], image[2], k[2:], stride, padding,
                                           output_padding)
        out = (int(k[1]), *hw)
    else:
        out = (int(k[0]), *conv2d_output_shape(image[1], image[2], k[2:], stride, padding))
    weight.uses += 1
    return Map("conv", weight, transposed, tuple(image), out, stride, padding, output_padding)


@dataclass(frozen=True, eq=False)
class Term:
    """``coef · (maps[0] ∘ ⋯ ∘ maps[-1])(var)`` (no map: the variable itself)."""

    coef: float
    maps: tuple[Map, ...]
    var: Var

    @property
    def shape(self) -> tuple[int, ...]:
        return self.maps[0].out_shape if self.maps else self.var.shape

    def text(self) -> str:
        x = self.var.name
        for m in reversed(self.maps):
            x = m.text(x)
        return x


@dataclass(frozen=True, eq=False)
class Lin:
    """``Σ terms + bias``: an ONNX tensor as a linear expression of the spec's variables;
    ``bias`` is a constant of ``size`` entries (None: zero), ``nodes`` the ONNX nodes that
    made it (for the comment of the statement that writes it)."""

    terms: tuple[Term, ...]
    bias: np.ndarray | None
    size: int
    nodes: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, var: Var) -> "Lin":
        return cls((Term(1.0, (), var),), None, int(np.prod(var.shape)))

    @property
    def var(self) -> Var | None:
        """The variable this is, when it is just one (no map, no coefficient, no bias)."""
        if len(self.terms) == 1 and not self.terms[0].maps and self.terms[0].coef == 1.0 \
                and self.bias is None:
            return self.terms[0].var
        return None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape the language gives it: its most structured term's (an image if any
        term is one), as a layer's pre-activation."""
        return max((t.shape for t in self.terms), key=len)

    def noted(self, *nodes: str) -> "Lin":
        """The same expression, made also by ``nodes``."""
        return replace(self, nodes=(*self.nodes, *nodes))

    def mapped(self, m: Map) -> "Lin":
        """``M (Σ terms + b) = Σ M terms + M b``."""
        terms = tuple(Term(t.coef, (m, *t.maps), t.var) for t in self.terms)
        bias = None if self.bias is None else m.apply(self.bias[None]).reshape(-1)
        return Lin(terms, bias, int(np.prod(m.out_shape)), self.nodes)

    def plus(self, other: "Lin") -> "Lin":
        bias = (other.bias if self.bias is None else
                self.bias if other.bias is None else self.bias + other.bias)
        return Lin(self.terms + other.terms, bias, self.size, (*self.nodes, *other.nodes))

    def scaled(self, c: float) -> "Lin":
        terms = tuple(Term(c * t.coef, t.maps, t.var) for t in self.terms)
        return Lin(terms, None if self.bias is None else c * self.bias, self.size, self.nodes)

    def plus_constant(self, c: np.ndarray) -> "Lin":
        c = np.asarray(c, dtype=np.float64).reshape(-1)
        return Lin(self.terms, c if self.bias is None else self.bias + c, self.size, self.nodes)

    def reads(self) -> set[Var]:
        return {t.var for t in self.terms}


def bias_value(bias: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A bias of ``size(shape)`` entries as the spec stores it: one per channel when ``shape``
    is an image and the bias is constant over each channel, else every entry."""
    if len(shape) == 3:
        per = bias.reshape(shape[0], -1)
        if np.all(per == per[:, :1]):
            return per[:, 0].copy()
    return bias.reshape(-1).copy()


def printable(text: str, limit: int = 200) -> str:
    """Text from a model file made safe to write into a spec's comment or a terminal: every
    character that is not printable (a line break would end the comment and start spec text;
    an escape would drive the terminal) replaced by ``?``, and at most ``limit`` characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def comment(nodes: Any) -> str:
    return printable("ONNX " + ", ".join(nodes), 1000)
