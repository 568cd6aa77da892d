"""Lifting: a network IR → the compact form of math.md §2.

    N(u_0) = K u      subject to      M u = V prox_Ψ(W u + b),      Ψ(z) = Σ_l Ψ_l(z_l)

The variable ``u = (u_0, u_1, …, u_L)`` stacks the input and every layer's output (one block per
SSA variable, flattened row-major); ``z = (z_1, …, z_L)`` stacks the activations, one block per
layer.  Layer ``l`` contributes one block row to ``M``, ``V`` and ``W``:

    plain      u_l = prox(A_l u_in + b_l)          M: +I at u_l              V: I
    residual + u_l = u_base + V_l prox(A_l u_in + b_l)   M: +I at u_l, −I at u_base   V: V_l
    residual − u_l = u_base − V_l prox(A_l u_in + b_l)   M: −I at u_l, +I at u_base   V: V_l

and ``W`` holds ``A_l`` in block ``(l, in)``; ``K`` selects the output block.  With this sign
convention a tied residual layer (``V_l = A_lᵀ``) has ``V = Wᵀ`` on its rows, the structure the
convexity certificate needs (math.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import namespace
from ..errors import SourceSpan
from ..ir.nodes import Affine, NetworkIR, Residual, Step, as_matrix
from ..ops.conv import Conv2d
from ..ops.dense import Dense
from .blocks import BlockOperator, Entry

__all__ = ["UBlock", "LiftedLayer", "LiftedProblem", "lift"]


@dataclass(frozen=True)
class UBlock:
    """One block of ``u``: an SSA variable (``u_0`` is the input)."""

    var: str
    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    span: SourceSpan | None


@dataclass(frozen=True, eq=False)
class LiftedLayer:
    """One block row of the compact form: the layer, its Ψ, and where its z-block lives."""

    index: int
    step: Step
    psi: Any
    z_offset: int
    z_size: int
    input_block: int
    output_block: int
    base_block: int | None     # residual layers only
    span: SourceSpan | None

    @property
    def kind(self) -> str:
        if isinstance(self.step, Residual):
            return f"residual {'+' if self.step.sign > 0 else '−'}{' tied' if self.step.tied else ''}"
        return "linear" if self.step.linear else "layer"


@dataclass(frozen=True, eq=False)
class LiftedProblem:
    """``K, M, V, W, b`` and ``Ψ`` of one network, as block operators on one array namespace."""

    network: NetworkIR
    u_blocks: tuple[UBlock, ...]
    layers: tuple[LiftedLayer, ...]
    K: BlockOperator
    M: BlockOperator
    V: BlockOperator
    W: BlockOperator
    b: Any
    xp: Any
    dtype: Any

    @property
    def u_size(self) -> int:
        return sum(blk.size for blk in self.u_blocks)

    @property
    def z_size(self) -> int:
        return sum(layer.z_size for layer in self.layers)

    def z_block(self, z: Any, layer: LiftedLayer) -> Any:
        return z[..., layer.z_offset:layer.z_offset + layer.z_size]

    def u_block(self, u: Any, index: int) -> Any:
        blk = self.u_blocks[index]
        return u[..., blk.offset:blk.offset + blk.size]

    def prox(self, z: Any) -> Any:
        """``prox_Ψ(z)`` blockwise: each layer's Ψ on its own block."""
        parts = [layer.psi.prox(self.z_block(z, layer)) for layer in self.layers]
        return self.xp.concat(parts, axis=-1)

    def bregman(self, y: Any, z: Any) -> Any:
        """``B_Ψ(y, z) = Σ_l B_{Ψ_l}(y_l, z_l)`` (summed over the blocks, batch axes kept)."""
        total = 0.0
        for layer in self.layers:
            total = total + layer.psi.bregman(self.z_block(y, layer), self.z_block(z, layer))
        return total

    def forward(self, u0: Any) -> Any:
        """The forward pass ``u*`` (all blocks) for an input ``u0`` of shape ``(..., size(u_0))``."""
        xp = self.xp
        blocks: list[Any] = [u0] + [None] * (len(self.u_blocks) - 1)
        for layer in self.layers:
            row = self.W.entries[(layer.index, layer.input_block)]
            x = blocks[layer.input_block]
            pre = _entry_forward(row, x, layer.z_size) + self.z_block(self.b, layer)
            act = layer.psi.prox(pre)
            if layer.base_block is None:
                blocks[layer.output_block] = act
            else:
                v = self.V.entries[(layer.index, layer.index)]
                sign = float(layer.step.sign)  # type: ignore[union-attr]
                out_size = self.u_blocks[layer.output_block].size
                blocks[layer.output_block] = (blocks[layer.base_block]
                                              + sign * _entry_forward(v, act, out_size))
        return xp.concat(blocks, axis=-1)

    def output(self, u: Any) -> Any:
        """``K u``."""
        return self.K.forward(u)


def _entry_forward(entry: Entry, x: Any, size_out: int) -> Any:
    single = BlockOperator((size_out,), (int(x.shape[-1]),), {(0, 0): entry})
    return single.forward(x)


def _affine_operator(affine: Affine, net: NetworkIR, xp: Any, dtype: Any) -> tuple[Any, str]:
    """The operator of a pre-activation and its printable label."""
    value = net.params[affine.weight].value
    if affine.kind == "conv2d":
        in_shape = affine.in_shape if len(affine.in_shape) == 3 else (1, *affine.in_shape)
        op = Conv2d(xp.asarray(value, dtype=dtype), (in_shape[1], in_shape[2]),
                    stride=affine.stride, padding=affine.padding)
        return op, f"conv({affine.weight})"
    op = Dense(xp.asarray(as_matrix(value), dtype=dtype))
    if affine.transposed:
        return op.T, f"{affine.weight}ᵀ"
    return op, affine.weight


def _bias(affine: Affine, net: NetworkIR) -> np.ndarray:
    if affine.bias is None:
        return np.zeros(affine.out_size)
    value = np.asarray(net.params[affine.bias].value, dtype=float).reshape(-1)
    if affine.kind == "conv2d":  # one bias per output channel, broadcast over the image
        return np.repeat(value, affine.out_size // value.size)
    return value


def lift(net: NetworkIR, xp: Any = None, dtype: Any = None) -> LiftedProblem:
    """The compact form of ``net`` with operators on namespace ``xp`` (default NumPy, float64)."""
    xp = namespace("numpy") if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    index: dict[str, int] = {}
    u_blocks: list[UBlock] = []

    def add_block(var_id: str) -> int:
        var = net.variables[var_id]
        offset = u_blocks[-1].offset + u_blocks[-1].size if u_blocks else 0
        size = int(np.prod(var.shape))
        u_blocks.append(UBlock(var_id, var.name, tuple(var.shape), offset, size, var.span))
        index[var_id] = len(u_blocks) - 1
        return index[var_id]

    add_block(net.input)
    m_entries: dict[tuple[int, int], Entry] = {}
    v_entries: dict[tuple[int, int], Entry] = {}
    w_entries: dict[tuple[int, int], Entry] = {}
    layers: list[LiftedLayer] = []
    biases: list[np.ndarray] = []
    z_offset = 0
    for l, step in enumerate(net.layers):
        inp = index[step.affine.input]
        out = add_block(step.out)
        op, label = _affine_operator(step.affine, net, xp, dtype)
        w_entries[(l, inp)] = Entry(1.0, op, label)
        biases.append(_bias(step.affine, net))
        z_size = step.affine.out_size
        base = None
        if isinstance(step, Residual):
            base = index[step.base]
            s = float(step.sign)
            m_entries[(l, out)] = Entry(s, None, "I" if s > 0 else "−I")
            m_entries[(l, base)] = Entry(-s, None, "−I" if s > 0 else "I")
            v_op = Dense(xp.asarray(as_matrix(net.params[step.v_weight].value), dtype=dtype))
            v_label = f"{step.v_weight}ᵀ" if step.v_transposed else step.v_weight
            v_entries[(l, l)] = Entry(1.0, v_op.T if step.v_transposed else v_op, v_label)
        else:
            m_entries[(l, out)] = Entry(1.0, None, "I")
            v_entries[(l, l)] = Entry(1.0, None, "I")
        layers.append(LiftedLayer(l, step, step.psi(), z_offset, z_size, inp, out, base,
                                  step.span))
        z_offset += z_size

    u_sizes = tuple(blk.size for blk in u_blocks)
    row_sizes = tuple(u_blocks[layer.output_block].size for layer in layers)
    z_sizes = tuple(layer.z_size for layer in layers)
    out_block = index[net.output]
    K = BlockOperator((u_sizes[out_block],), u_sizes, {(0, out_block): Entry(1.0, None, "I")})
    M = BlockOperator(row_sizes, u_sizes, m_entries)
    V = BlockOperator(row_sizes, z_sizes, v_entries)
    W = BlockOperator(z_sizes, u_sizes, w_entries)
    b = xp.asarray(np.concatenate(biases) if biases else np.zeros(0), dtype=dtype)
    return LiftedProblem(net, tuple(u_blocks), tuple(layers), K, M, V, W, b, xp, dtype)
