"""The baseline users know: the MSE loss by backpropagation, on the same networks and batches.

    ℓ(Θ) = (1/|S|) Σ_n [ ½‖N_Θ(x_n) − y_n‖² + Σ_v R_v(x_n^v) ]

The forward pass keeps every variable and pre-activation; the reverse pass walks the layers
backwards with the adjoint ``ḡ`` of each variable (complete when its writing layer is reached,
since layers are in definition order)::

    δ_l = σ_l'(z_l)ᵀ ḡ_{out_l}         (:func:`lbdsl.solvers.backprop.activation_vjp`)
    ∇_{Θ_l} += ∇_Θ ⟨δ_l, A_Θ x^{in_l} + b⟩,   ḡ_{in_l} += A_lᵀ δ_l

starting from ``ḡ_out = (N(x) − y)/|S|`` and ``ḡ_v += ∂R_v(x^v)/|S|`` for penalised states.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ..solvers.backprop import activation_vjp
from .model import Model
from .penalty import StatePenalty

__all__ = ["mse_gradient", "mse_objective"]


def mse_gradient(model: Model, params: dict[str, Any], x0: Any, y: Any,
                 penalties: dict[str, StatePenalty]) -> dict[str, Any]:
    """``∇_Θ ℓ`` on the rows ``x0``, ``y`` (module docstring)."""
    values, pre = model.forward(params, x0)
    scale = 1.0 / float(x0.shape[0])
    adj: dict[str, Any] = {model.output: (values[model.output] - y) * scale}
    for v, pen in penalties.items():
        g = pen.grad(values[v]) * scale
        adj[v] = adj[v] + g if v in adj else g
    grads: dict[str, Any] = {}
    for layer in reversed(model.layers):
        g = adj.pop(layer.out, None)
        if g is None:                       # nothing downstream of this layer reaches the loss
            continue
        delta = g if layer.linear else activation_vjp(layer.psi, pre[layer.index], g)
        x_in = values[layer.input]
        for name, gp in layer.op.param_grads(params, x_in, delta).items():
            grads[name] = gp if name not in grads else grads[name] + gp
        if layer.input != model.input:
            back = layer.op.adjoint(params, delta)
            adj[layer.input] = back if layer.input not in adj else adj[layer.input] + back
    return grads


def mse_objective(model: Model, params: dict[str, Any], x0: Any, y: Any,
                  penalties: dict[str, StatePenalty], chunk: int = 256) -> dict[str, float]:
    """The MSE loss with penalties (``objective``) and without (``mse_loss``), row means;
    ``chunk`` rows at a time."""
    xp = array_namespace(x0)
    n = x0.shape[0]
    mse = pen = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)              # in-bounds slices (the array API's rule)
        values, _ = model.forward(params, x0[start:stop, ...])
        d = values[model.output] - y[start:stop, ...]
        mse += 0.5 * float(xp.sum(d * d))
        pen += sum(float(xp.sum(p.value(values[v]))) for v, p in penalties.items())
    return {"objective": (mse + pen) / n, "mse_loss": mse / n}
