"""Lifting: a network IR → the compact form of math.md §2.

    N(u_0) = K u      subject to      M u = V prox_Ψ(W u + b),      Ψ(z) = Σ_l Ψ_l(z_l)

The variable ``u = (u_0, u_1, …, u_L)`` stacks the input and every layer's output (one block per
SSA variable, flattened row-major); ``z = (z_1, …, z_L)`` stacks the activations, one block per
layer.  Layer ``l`` contributes one block row to ``M``, ``V`` and ``W``:

    plain      u_l = prox(A_l u_in + b_l)          M: +I at u_l              V: I
    residual + u_l = u_base + V_l prox(A_l u_in + b_l)   M: +I at u_l, −I at u_base   V: V_l
    residual − u_l = u_base − V_l prox(A_l u_in + b_l)   M: −I at u_l, +I at u_base   V: V_l

and ``W`` holds layer ``l``'s pre-activation: each term ``c_t A_t`` in block ``(l, block it
reads)`` (terms on one block summed; a bare variable a multiple of ``I``); ``K`` selects the
output block.  A residual's branch bias ``c_l`` (``u_l = u_base ± (V_l z_l + c_l)``) makes the
constraint ``M u = V z + c``: an affine shift that changes no quadratic form, so the
certificate is that of the network without it.  With this sign convention a tied residual
layer (``V_l = A_lᵀ``) has ``V = Wᵀ`` on its rows, the structure the convexity certificate
needs (math.md §4).

:class:`LiftedProblem` is the network runtime (:class:`~.network.LiftedNetwork`: forward pass,
reverse pass, substitution) plus these block operators, at the network's own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.nodes import NetworkIR, Residual
from .blocks import BlockOperator, Entry
from .network import (LiftedLayer, LiftedNetwork, LiftedTerm, UBlock, lifted_network,
                      terms_adjoint, terms_forward)

__all__ = ["UBlock", "LiftedLayer", "LiftedProblem", "TermOperator", "lift"]


@dataclass(frozen=True, eq=False)
class LiftedProblem(LiftedNetwork):
    """``K, M, V, W, b, c`` and ``Ψ`` of one network, as block operators on one array
    namespace (``c``, the residual branch biases on the rows of ``M``: ``M u = V z + c``)."""

    K: BlockOperator
    M: BlockOperator
    V: BlockOperator
    W: BlockOperator
    b: Any
    c: Any = None

    def output(self, u: Any) -> Any:
        """``K u``."""
        return self.K.forward(u)

    def constraint_sides(self, u: Any, z: Any) -> tuple[Any, Any]:
        """``(M u, V z + c)``: the two sides of the constraint."""
        vz = self.V.forward(z)
        return self.M.forward(u), vz if self.c is None else vz + self.c


@dataclass(frozen=True, eq=False)
class TermOperator:
    """The terms of one layer that read one block, ``Σ_t c_t A_t``, as an operator on flat
    vectors (for the entries of ``W`` that are more than one map)."""

    terms: tuple[LiftedTerm, ...]
    params: Any
    size_in: int
    size_out: int

    @property
    def shape_in(self) -> tuple[int, ...]:
        return (self.size_in,)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return (self.size_out,)

    def forward(self, x: Any) -> Any:
        return terms_forward(self.terms, self.params, x)

    def adjoint(self, y: Any) -> Any:
        return terms_adjoint(self.terms, self.params, y)


def _entry(layer: LiftedLayer, block: int, params: Any, size_in: int) -> Entry:
    """``W``'s entry ``(l, block)``: the layer's one map as its own operator (``A x + b``), a
    multiple of the identity for a bare variable, else the sum of the terms on that block."""
    terms = tuple(t for t in layer.terms if t.block == block)
    labels = ""
    for t in terms:
        sign = "−" if t.coef < 0 else ("+" if labels else "")
        labels += (f" {sign} " if labels else sign) + _term_label(t, magnitude=True)
    if len(terms) == 1 and len(terms[0].maps) == 1:
        t = terms[0]
        return Entry(t.coef, t.maps[0].operator(params), labels)
    if len(terms) == 1 and not terms[0].maps:
        return Entry(terms[0].coef, None, labels)
    return Entry(1.0, TermOperator(terms, params, size_in, layer.z_size), labels)


def _term_label(t: LiftedTerm, magnitude: bool = False) -> str:
    """``c·A_1·A_2`` (``magnitude``: ``|c|``, the sign written by the caller)."""
    maps = "·".join(m.layer_type.label(m) for m in t.maps) or "I"
    c = abs(t.coef) if magnitude else t.coef
    return maps if c == 1.0 else f"{c:g}·{maps}"


def _bias(layer: LiftedLayer, net: NetworkIR) -> np.ndarray:
    total = np.zeros(layer.z_size)
    for name in layer.biases:
        value = np.asarray(net.params[name].value, dtype=float).reshape(-1)
        total = total + np.repeat(value, layer.z_size // value.size)  # conv: one per channel
    return total


def _branch_bias(layer: LiftedLayer, net: NetworkIR, size: int) -> np.ndarray:
    if layer.branch_bias is None:
        return np.zeros(size)
    value = np.asarray(net.params[layer.branch_bias].value, dtype=float).reshape(-1)
    return np.repeat(value, size // value.size)


def lift(net: NetworkIR, xp: Any = None, dtype: Any = None) -> LiftedProblem:
    """The compact form of ``net`` with operators on namespace ``xp`` (default NumPy, float64)."""
    rt = lifted_network(net, xp, dtype)
    xp, params = rt.xp, rt.params
    m_entries: dict[tuple[int, int], Entry] = {}
    v_entries: dict[tuple[int, int], Entry] = {}
    w_entries: dict[tuple[int, int], Entry] = {}
    for layer in rt.layers:
        l, out = layer.index, layer.output_block
        for block in layer.input_blocks:
            w_entries[(l, block)] = _entry(layer, block, params, rt.u_blocks[block].size)
        if isinstance(layer.step, Residual):
            s = layer.sign
            m_entries[(l, out)] = Entry(s, None, "I" if s > 0 else "−I")
            m_entries[(l, layer.base_block)] = Entry(-s, None, "−I" if s > 0 else "I")
            step = layer.step
            v_label = f"{step.v_weight}ᵀ" if step.v_transposed else step.v_weight
            v_entries[(l, l)] = Entry(1.0, layer.V.operator(params), v_label)
        else:
            m_entries[(l, out)] = Entry(1.0, None, "I")
            v_entries[(l, l)] = Entry(1.0, None, "I")
    u_sizes = tuple(blk.size for blk in rt.u_blocks)
    row_sizes = tuple(u_sizes[layer.output_block] for layer in rt.layers)
    z_sizes = tuple(layer.z_size for layer in rt.layers)
    out_block = rt.output_block
    K = BlockOperator((u_sizes[out_block],), u_sizes, {(0, out_block): Entry(1.0, None, "I")})
    M = BlockOperator(row_sizes, u_sizes, m_entries)
    V = BlockOperator(row_sizes, z_sizes, v_entries)
    W = BlockOperator(z_sizes, u_sizes, w_entries)
    biases = [_bias(layer, net) for layer in rt.layers]
    b = xp.asarray(np.concatenate(biases) if biases else np.zeros(0), dtype=rt.dtype)
    c = None
    if rt.affine_substitution:
        c = xp.asarray(np.concatenate([_branch_bias(layer, net, size)
                                       for layer, size in zip(rt.layers, row_sizes)]),
                       dtype=rt.dtype)
    return LiftedProblem(rt.network, rt.u_blocks, rt.layers, rt.output_block, rt.params, xp,
                         rt.dtype, K, M, V, W, b, c)
