"""The network IR: frozen records of what a ``network`` block means, ready to be lifted.

A network is an ordered tuple of layers over SSA variables (math.md §2)::

    Layer     out = ψ(x)                          (a linear layer: ψ = identity, linear=True)
    Residual  out = base ± (V ψ(x) + c)           (tied when V = Aᵀ of the one map A of x)

with the pre-activation ``x = Σ_t c_t (A_t1 ∘ ⋯ ∘ A_tk)(x_t) + Σ b`` (:class:`Affine`: terms
over any earlier variables, each a chain of :class:`LinearMap`; the common ``A x + b`` is one
term of one map) and ``c`` an optional branch bias.

Every rebinding of a name makes a new *version*: the first binding of ``x`` has the id ``x``,
the second ``x#2``, the third ``x#3``; :attr:`Variable.name` keeps the name the user wrote.
A hidden variable the builder introduces for ``y = c @ relu(W @ u + b)`` has the id ``y.relu``
(the id of ``y`` it feeds, a dot, the activation).  Shapes are the declared or inferred array
shapes; ``@`` multiplies the row-major flattening of its right operand.

Parameters are host NumPy ``float64`` arrays (:mod:`lbdsl.ir.params`): a loaded one is read when
the network is built (its file's mistakes are spec errors), a generated one (``normal``,
``zeros``, …) when its value is first used — so that what needs only the structure (``lbdsl
show``, a structural certificate) allocates nothing proportional to the network; solvers move
them to their backend.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ..errors import SourceSpan

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = [
    "Shape", "Variable", "Param", "LinearMap", "Term", "Affine", "one_map", "simple_affine", "Layer",
    "Residual", "Step", "NetworkIR", "ModuleIR", "size_of", "format_shape", "as_matrix",
]

Shape = tuple[int, ...]


def size_of(shape: Shape) -> int:
    """The number of entries of an array of ``shape`` (its length once flattened)."""
    return math.prod(shape)


def format_shape(shape: Shape) -> str:
    """``(64, 64)`` → ``64x64``, the way a spec writes it."""
    return "x".join(str(d) for d in shape)


def as_matrix(value: Any, transposed: bool = False) -> Any:
    """A parameter as the matrix ``@`` applies: a 1-D parameter of length n is the 1×n row
    vector (so ``c @ h`` is ⟨c, h⟩ and ``c.T`` is the n×1 column); ``transposed`` gives ``Aᵀ``."""
    matrix = value.reshape(1, -1) if value.ndim == 1 else value
    return matrix.T if transposed else matrix


@dataclass(frozen=True, slots=True)
class Variable:
    """One SSA version of a network variable."""

    id: str                     # unique: ``x``, ``x#2``, … or ``y.relu`` for a hidden one
    name: str                   # the name the user wrote (``x``)
    shape: Shape
    span: SourceSpan | None     # the statement that defines it
    version: int = 1
    hidden: bool = False        # introduced by the builder (``y = c @ relu(...)``)


@dataclass(frozen=True, eq=False)
class Param:
    """A parameter: its final name (``W_3`` inside a repeat), shape and initial value.

    ``source`` is the value, or a function that makes it (a generated initialiser: made on
    first use of :attr:`value`, then kept)."""

    name: str
    shape: Shape
    source: np.ndarray | Callable[[], np.ndarray]
    span: SourceSpan | None
    origin: str                 # how it was initialised, for humans: ``normal(std=1, seed=0)``
    declared_name: str = ""     # the spec's name before the repeat suffix (``W``)
    created: bool = False       # made by ``dense`` / ``conv2d`` rather than declared

    @functools.cached_property
    def value(self) -> np.ndarray:
        """float64, C-contiguous, ``value.shape == shape``."""
        return self.source() if callable(self.source) else self.source

    @property
    def size(self) -> int:
        return size_of(self.shape)

    def __repr__(self) -> str:   # the value would print every entry
        return f"<Param {self.name} : {format_shape(self.shape)} = {self.origin}>"


@dataclass(frozen=True, slots=True)
class LinearMap:
    """One map ``A_θ`` of a layer type ``kind`` (:mod:`.layers`, which says how it reads,
    describes, runs and exports itself), from ``in_shape`` to ``out_shape``.

    ``kind`` is ``"matmul"`` (``A`` a declared matrix, ``A.T`` when ``transposed``; a 1-D
    parameter is a row vector, see :func:`as_matrix`), ``"dense"`` (a created
    ``width × size(x)`` weight), ``"conv2d"`` / ``"conv2d_t"`` (a created kernel, a convolution
    as PyTorch's ``Conv2d`` / ``ConvTranspose2d``, input ``C × H × W``) or ``"conv"`` (a
    declared kernel ``(C_out, C_in, k_h, k_w)``: the convolution, or its adjoint when
    ``transposed``); ``kernel``, ``stride``, ``padding`` and ``output_padding`` are a
    convolution's geometry.
    """

    kind: str
    weight: str
    transposed: bool
    in_shape: Shape
    out_shape: Shape
    kernel: tuple[int, int] | None = None
    stride: int | tuple[int, int] = 1            # one for both axes, or (height, width)
    padding: int | tuple[int, int] = 0
    output_padding: int | tuple[int, int] = 0

    @property
    def in_size(self) -> int:
        return size_of(self.in_shape)

    @property
    def out_size(self) -> int:
        return size_of(self.out_shape)


@dataclass(frozen=True, slots=True)
class Term:
    """``coef · (M_1 ∘ M_2 ∘ ⋯ ∘ M_k)(x)`` — ``maps = (M_1, …, M_k)``, the last applied first;
    no map: ``coef · x`` (the variable itself, a skip input)."""

    coef: float
    maps: tuple[LinearMap, ...]
    input: str                  # variable id
    in_shape: Shape             # the variable's shape

    @property
    def out_shape(self) -> Shape:
        return self.maps[0].out_shape if self.maps else self.in_shape


@dataclass(frozen=True, slots=True)
class Affine:
    """The pre-activation ``Σ_t coef_t (M_t1 ∘ ⋯)(x_t) + Σ b``: a linear expression over
    earlier variables (:class:`Term`) plus bias parameters, each with ``size(out_shape)``
    entries or one per output channel (broadcast over the image).

    The common layer ``A x + b`` is one term of one map with coefficient 1: :attr:`map`,
    :attr:`input` and :attr:`bias` read it (None where the expression is more)."""

    terms: tuple[Term, ...]
    biases: tuple[str, ...]
    out_shape: Shape
    span: SourceSpan | None

    @property
    def out_size(self) -> int:
        return size_of(self.out_shape)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The variables it reads, each once, in order."""
        return tuple(dict.fromkeys(t.input for t in self.terms))

    @property
    def map(self) -> LinearMap | None:
        """The one map of ``A x + b`` (one term, one map, coefficient 1), else None."""
        return one_map(self.terms)

    @property
    def input(self) -> str | None:
        """The one variable it reads, else None."""
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else None

    @property
    def bias(self) -> str | None:
        """The one bias, else None."""
        return self.biases[0] if len(self.biases) == 1 else None

    @property
    def weights(self) -> tuple[str, ...]:
        """The weight parameters of its maps, each once, in order."""
        return tuple(dict.fromkeys(m.weight for t in self.terms for m in t.maps))


def one_map(terms: Any) -> Any:
    """The map of ``terms`` when they are one term of one map with coefficient 1 (the layer
    ``A x + b``), else None; for the IR's terms and the runtime's alike."""
    if len(terms) == 1 and len(terms[0].maps) == 1 and terms[0].coef == 1.0:
        return terms[0].maps[0]
    return None


def simple_affine(kind: str, x: str, weight: str, transposed: bool, bias: str | None,
                  in_shape: Shape, out_shape: Shape, span: SourceSpan | None,
                  **geometry: Any) -> Affine:
    """``A x + b``: one map of ``kind`` applied to ``x`` (``geometry``: a convolution's)."""
    m = LinearMap(kind, weight, transposed, in_shape, out_shape, **geometry)
    return Affine((Term(1.0, (m,), x, in_shape),), (bias,) if bias else (), out_shape, span)


@dataclass(frozen=True)
class Layer:
    """``out = ψ(affine)``; a linear layer ``y = A @ x + b`` has ψ = identity and ``linear``."""

    out: str
    psi_name: str
    psi_params: dict[str, float]        # every parameter of ψ, defaults filled in
    affine: Affine
    linear: bool
    span: SourceSpan | None

    def psi(self) -> Any:
        """The catalogue's Ψ object for this layer."""
        from ..prox.registry import make_activation
        return make_activation(self.psi_name, **self.psi_params)


@dataclass(frozen=True)
class Residual:
    """``out = base + sign · (V ψ(affine) + c)``; ``tied`` when V is the transpose of the
    affine's one matrix (``x = x + W.T @ relu(W @ x + b)``), which the convexity certificate
    relies on; ``branch_bias`` is ``c`` (PyTorch's ``x + Linear(relu(Linear(x)))``), None for
    none.

    ``affine`` usually reads ``base`` but may read any earlier variables.
    """

    out: str
    base: str
    sign: int                           # +1 or -1
    v_weight: str
    v_transposed: bool
    tied: bool
    psi_name: str
    psi_params: dict[str, float]
    affine: Affine
    span: SourceSpan | None
    branch_bias: str | None = None

    def psi(self) -> Any:
        """The catalogue's Ψ object for this layer."""
        from ..prox.registry import make_activation
        return make_activation(self.psi_name, **self.psi_params)


Step = Union[Layer, Residual]


@dataclass(frozen=True, eq=False)
class NetworkIR:
    """A checked network: its input, parameters, ordered layers, output and data-flow graph."""

    name: str
    input: str                          # the input's variable id
    input_shape: Shape
    params: dict[str, Param]            # in declaration / creation order
    layers: tuple[Step, ...]
    output: str                         # the output's variable id
    variables: dict[str, Variable]      # every SSA version, in definition order
    graph: "nx.DiGraph" = field(repr=False)
    span: SourceSpan | None = None

    @property
    def shapes(self) -> dict[str, Shape]:
        """Variable id → shape."""
        return {vid: v.shape for vid, v in self.variables.items()}

    @property
    def output_shape(self) -> Shape:
        return self.variables[self.output].shape

    def param_count(self) -> int:
        """The number of scalar parameters."""
        return sum(p.size for p in self.params.values())

    def __repr__(self) -> str:   # shapes and counts, never the arrays
        return (f"<NetworkIR {self.name}: {format_shape(self.input_shape)} → "
                f"{format_shape(self.output_shape)}, {len(self.layers)} layers, "
                f"{len(self.params)} params ({self.param_count()} entries)>")


@dataclass(frozen=True, eq=False)
class ModuleIR:
    """A whole file: its networks by name, and its tasks (as built by :mod:`lbdsl.ir.tasks`
    when that module is present, else the syntax trees)."""

    file: str
    source: str
    networks: dict[str, NetworkIR]
    tasks: tuple[Any, ...] = ()
