"""The structure of a lifted network, analysed once: what the certificate, the choice of solver
and the solvers' refusals all ask of it.

* **single layer** — ``N(u) = prox_Ψ(W u + b)``: one plain layer writing the output.  Inversion is
  then ``min_u B_Ψ(f, W u + b) + αJ(u)``, convex for every ``W`` (certificate route 1; ``pdhg``);
* **shallow sum** — ``y = cᵀ σ(w u + b) + d`` on a scalar input, σ elementwise (``coordinate``);
* **tied chain** — every layer a tied residual ``u_l = u_{l−1} ± A_lᵀ σ(A_l u_{l−1} + b_l)`` in one
  chain over blocks of one size: ``Q = A(λ, ρ) ⊗ I`` (certificate route 2);
* **plain output** — the output is written by a plain layer, whose z the data (λ = ∞) or the
  targets (lifted training) can pin.

Each property that does not hold carries its reason (one line) for the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.nodes import Residual
from .network import LiftedNetwork

__all__ = ["Structure", "structure"]


@dataclass(frozen=True)
class Structure:
    """What holds of a network; a property is ``""`` when it holds, else why not."""

    layers: int
    residual: bool
    single_layer: str
    shallow_sum: str
    tied_chain: str
    plain_output: str

    def has(self, prop: str) -> bool:
        """Whether ``prop`` (``single_layer``, ``shallow_sum``, ``tied_chain``,
        ``plain_output``) holds."""
        return getattr(self, prop) == ""


def _single_layer(net: LiftedNetwork) -> str:
    if len(net.layers) == 1 and net.layers[0].V is None:
        return ""
    kind = "a residual step" if any(layer.V for layer in net.layers) else \
        f"{len(net.layers)} layer(s)"
    return f"it needs a single layer N(u) = σ(W u + b); this network has {kind}"


def _shallow_sum(net: LiftedNetwork) -> str:
    want = "it needs a shallow sum y = c @ σ(w @ u + b) with a scalar input"
    if len(net.layers) != 2:
        return f"{want}; this network has {len(net.layers)} layers"
    hidden, last = net.layers
    if hidden.V is not None or last.V is not None:
        return f"{want}; this network has a residual layer"
    if hidden.input_blocks != (0,) or net.u_blocks[0].size != 1:
        return f"{want}; the input has {net.u_blocks[0].size} entries"
    if not getattr(last.step, "linear", False) or last.input_blocks != (hidden.output_block,):
        return f"{want}; the second layer is not a linear layer of the hidden units"
    if net.u_blocks[last.output_block].size != 1:
        return f"{want}; the output has {net.u_blocks[last.output_block].size} entries"
    if net.output_block != last.output_block:
        return f"{want}; the output is not the linear layer"
    if not hidden.psi.elementwise:
        return f"{want}; `{hidden.psi.name}` couples the hidden units"
    return ""


def _tied_chain(net: LiftedNetwork) -> str:
    want = "not a chain of tied residual layers u = u ± Wᵀ σ(W u + b) over blocks of one size"
    if not net.layers:
        return want
    bases: set[int] = set()
    for layer in net.layers:
        step = layer.step
        if not (isinstance(step, Residual) and step.tied and step.affine.input == step.base):
            return want
        if layer.base_block in bases:
            return want
        bases.add(layer.base_block)  # type: ignore[arg-type]
    return "" if len({blk.size for blk in net.u_blocks}) == 1 else want


def _plain_output(net: LiftedNetwork) -> str:
    writer = next((layer for layer in net.layers if layer.output_block == net.output_block),
                  None)
    if writer is None:
        return "the output is not computed by a layer"
    if writer.V is not None:
        where = f" (line {writer.span.line})" if writer.span else ""
        return f"the output is the sum of a residual layer{where}"
    return ""


def structure(net: LiftedNetwork) -> Structure:
    """The structure of ``net`` (module docstring)."""
    return Structure(len(net.layers), any(layer.V is not None for layer in net.layers),
                     _single_layer(net), _shallow_sum(net), _tied_chain(net),
                     _plain_output(net))
