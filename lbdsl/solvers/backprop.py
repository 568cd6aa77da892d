"""Backpropagation through a lifted network: ``∇_{u_0} ℓ(N(u_0))``, written once for every layer.

Every network the lifting accepts is a sequence of steps over SSA blocks (math.md §2)::

    plain      u_o = σ(x),                 x = A u_in + b
    residual   u_o = u_base + s·V σ(x),    x = A u_in + b,   s = ±1

with ``A`` any operator of the compact form's ``W`` (dense, transposed matmul, conv2d) and ``V``
the residual's.  The reverse pass walks the steps backwards with the adjoint ``ḡ`` of each block:
since every block is written once and read only later, ``ḡ_o`` is complete when its step is
reached, and

    plain      δ = σ'(x)ᵀ ḡ_o
    residual   δ = σ'(x)ᵀ (s·Vᵀ ḡ_o),      ḡ_base += ḡ_o
    both       ḡ_in += Aᵀ δ

starting from ``ḡ = Kᵀ ∇ℓ``.  :func:`activation_vjp` gives ``σ'(x)ᵀ g`` for each Ψ of the
catalogue — the only place a derivative of σ appears in lbdsl: identity 1; relu ``[x > 0]``;
leaky_relu ``1`` or ``a``; soft ``[|x| > θ]``; clip ``[lo < x < hi]`` (relu, soft and clip are
differentiable except at their kinks, where the one-sided value 0 is used); tanh ``1 − σ²``;
sigmoid ``σ(1 − σ)``; softmax ``s ⊙ (g − ⟨s, g⟩)`` over the layer (its Jacobian
``diag(s) − s sᵀ`` is symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ..errors import SolveError
from ..lift.blocks import BlockOperator
from ..lift.compact import LiftedProblem

__all__ = ["activation_vjp", "Tape", "Backprop", "layer_operators"]


def activation_vjp(psi: Any, x: Any, g: Any) -> Any:
    """``σ'(x)ᵀ g`` for ``σ = prox_Ψ`` at the pre-activation ``x`` (each Ψ's ``prox_vjp``)."""
    try:
        return psi.prox_vjp(x, g)
    except NotImplementedError as exc:
        raise SolveError(f"backpropagation does not know the derivative of `{psi}`") from exc


@dataclass(frozen=True, eq=False)
class LayerOps:
    """One step of the network as operators on flat blocks: ``x = A u_in + b``, ``V``, sign."""

    A: BlockOperator
    V: BlockOperator | None       # residual steps only (None: plain, u_o = σ(x))
    sign: float
    bias: Any


def layer_operators(lp: LiftedProblem) -> tuple[LayerOps, ...]:
    """The per-step operators of ``lp``: single-entry block operators taken from ``W``, ``V``."""
    ops = []
    for layer in lp.layers:
        in_size = lp.u_blocks[layer.input_block].size
        out_size = lp.u_blocks[layer.output_block].size
        A = BlockOperator((layer.z_size,), (in_size,),
                          {(0, 0): lp.W.entries[(layer.index, layer.input_block)]})
        V = None
        sign = 1.0
        if layer.base_block is not None:
            V = BlockOperator((out_size,), (layer.z_size,),
                              {(0, 0): lp.V.entries[(layer.index, layer.index)]})
            sign = float(layer.step.sign)  # type: ignore[union-attr]
        ops.append(LayerOps(A, V, sign, lp.z_block(lp.b, layer)))
    return tuple(ops)


@dataclass
class Tape:
    """What the reverse pass needs: every block's value and every step's pre-activation."""

    blocks: list[Any]
    pre: list[Any]


class Backprop:
    """Forward pass with a tape and the reverse pass (vector–Jacobian product) of ``N = K u*``."""

    def __init__(self, lp: LiftedProblem) -> None:
        self.lp = lp
        self.ops = layer_operators(lp)

    def forward(self, u0: Any) -> Tape:
        """Run the network on the flat input ``u0 (..., size(u_0))``, recording the tape."""
        lp = self.lp
        blocks: list[Any] = [u0] + [None] * (len(lp.u_blocks) - 1)
        pre: list[Any] = []
        for layer, op in zip(lp.layers, self.ops):
            x = op.A.forward(blocks[layer.input_block]) + op.bias
            pre.append(x)
            act = layer.psi.prox(x)
            if op.V is None:
                blocks[layer.output_block] = act
            else:
                blocks[layer.output_block] = (blocks[layer.base_block]  # type: ignore[index]
                                              + op.sign * op.V.forward(act))
        return Tape(blocks, pre)

    def output(self, tape: Tape) -> Any:
        """``N(u_0) = K u``."""
        return self.lp.K.forward(array_namespace(tape.blocks[0]).concat(tape.blocks, axis=-1))

    def vjp(self, tape: Tape, g_out: Any) -> Any:
        """``(∂N/∂u_0)ᵀ g_out``: the gradient at ``u_0`` of ``⟨g_out, N(u_0)⟩``."""
        lp = self.lp
        g_full = lp.K.adjoint(g_out)
        grads: list[Any] = [g_full[..., blk.offset:blk.offset + blk.size] for blk in lp.u_blocks]
        for layer, op, x in zip(reversed(lp.layers), reversed(self.ops), reversed(tape.pre)):
            g_o = grads[layer.output_block]
            if op.V is None:
                delta = activation_vjp(layer.psi, x, g_o)
            else:
                grads[layer.base_block] = grads[layer.base_block] + g_o  # type: ignore[index]
                delta = activation_vjp(layer.psi, x, op.sign * op.V.adjoint(g_o))
            grads[layer.input_block] = grads[layer.input_block] + op.A.adjoint(delta)
        return grads[0]
