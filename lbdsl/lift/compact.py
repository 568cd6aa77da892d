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

:class:`LiftedProblem` is the network runtime (:class:`~.network.LiftedNetwork`: forward pass,
reverse pass, substitution) plus these block operators, at the network's own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.nodes import NetworkIR, Residual
from .blocks import BlockOperator, Entry
from .network import LiftedLayer, LiftedNetwork, UBlock, lifted_network

__all__ = ["UBlock", "LiftedLayer", "LiftedProblem", "lift"]


@dataclass(frozen=True, eq=False)
class LiftedProblem(LiftedNetwork):
    """``K, M, V, W, b`` and ``Ψ`` of one network, as block operators on one array namespace."""

    K: BlockOperator
    M: BlockOperator
    V: BlockOperator
    W: BlockOperator
    b: Any

    def output(self, u: Any) -> Any:
        """``K u``."""
        return self.K.forward(u)


def _label(layer: LiftedLayer) -> str:
    return layer.A.layer_type.label(layer.step.affine)


def _bias(layer: LiftedLayer, net: NetworkIR) -> np.ndarray:
    if layer.bias is None:
        return np.zeros(layer.z_size)
    value = np.asarray(net.params[layer.bias].value, dtype=float).reshape(-1)
    return np.repeat(value, layer.z_size // value.size)  # conv2d: one bias per channel


def lift(net: NetworkIR, xp: Any = None, dtype: Any = None) -> LiftedProblem:
    """The compact form of ``net`` with operators on namespace ``xp`` (default NumPy, float64)."""
    rt = lifted_network(net, xp, dtype)
    xp, params = rt.xp, rt.params
    m_entries: dict[tuple[int, int], Entry] = {}
    v_entries: dict[tuple[int, int], Entry] = {}
    w_entries: dict[tuple[int, int], Entry] = {}
    for layer in rt.layers:
        l, out = layer.index, layer.output_block
        w_entries[(l, layer.input_block)] = Entry(1.0, layer.A.operator(params), _label(layer))
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
    return LiftedProblem(rt.network, rt.u_blocks, rt.layers, rt.output_block, rt.params, xp,
                         rt.dtype, K, M, V, W, b)
