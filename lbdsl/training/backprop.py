"""The baseline users know: the MSE loss by backpropagation, on the same networks and batches.

    ℓ(Θ) = (1/|S|) Σ_n [ ½‖N_Θ(x_n) − y_n‖² + Σ_v R_v(x_n^v) ]

The network runtime's taped forward pass and reverse pass
(:meth:`~lbdsl.lift.network.LiftedNetwork.vjp`, with ``param_grads``) give ``∇_Θ ℓ``, seeded
with ``ḡ_out = (N(x) − y)/|S|`` and ``ḡ_v = ∂R_v(x^v)/|S|`` for penalised variables; residual
layers (their ``V`` included) are differentiated like any other step.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ..lift.network import LiftedNetwork
from ..prox.regularisers.composite import RegulariserSum

__all__ = ["mse_gradient", "mse_objective"]


def mse_gradient(net: LiftedNetwork, params: dict[str, Any], x0: Any, y: Any,
                 penalties: dict[int, RegulariserSum]) -> dict[str, Any]:
    """``∇_Θ ℓ`` on the rows ``x0``, ``y`` (module docstring); ``penalties`` by block."""
    tape = net.tape(x0, params)
    scale = 1.0 / float(x0.shape[0])
    seeds: dict[int, Any] = {net.output_block: (tape.blocks[net.output_block] - y) * scale}
    for j, pen in penalties.items():
        g = pen.subgradient(tape.blocks[j]) * scale
        seeds[j] = seeds[j] + g if j in seeds else g
    _, grads = net.vjp(tape, seeds, params, param_grads=True, input_grad=False)
    return grads


def mse_objective(net: LiftedNetwork, params: dict[str, Any], x0: Any, y: Any,
                  penalties: dict[int, RegulariserSum], chunk: int = 256) -> dict[str, float]:
    """The MSE loss with penalties (``objective``) and without (``mse_loss``), row means;
    ``chunk`` rows at a time."""
    xp = array_namespace(x0)
    n = x0.shape[0]
    mse = pen = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)              # in-bounds slices (the array API's rule)
        blocks = net.tape(x0[start:stop, ...], params).blocks
        d = blocks[net.output_block] - y[start:stop, ...]
        mse += 0.5 * float(xp.sum(d * d))
        pen += sum(float(xp.sum(p.row_values(blocks[j]))) for j, p in penalties.items())
    return {"objective": (mse + pen) / n, "mse_loss": mse / n}
