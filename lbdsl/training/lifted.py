"""Lifted Bregman training (math.md §5): minimise over the parameters Θ and the hidden states X

    E(Θ, X) = (1/N) Σ_n [ Σ_l B_{Ψ_l}(x_n^{out_l}, A_l x_n^{in_l} + b_l) + Σ_v R_v(x_n^v) ]

with the input fixed to the data and the output to the targets.  (math.md writes the factor
``1/(2s)``; here it is ``1/N``, the normalisation under which ``∇_W`` is the stated
``(1/|S|) Σ (σ(W x + b) − x⁺) xᵀ`` and under which, for a linear last layer, ``B`` is the
``½‖N(x) − y‖²`` that the MSE baseline averages, so both losses are on one scale.)

Derivation of the updates.  ``B_Ψ(y, z) = Φ(y) + Φ*(z) − ⟨y, z⟩`` with ``∇Φ* = σ``:

* **Θ_l = (A_l, b_l)**, given X: ``(1/N) Σ_n Φ*(A x_n + b) − ⟨x_n^{out}, A x_n + b⟩`` has gradient
  ``(1/|S|) Σ_n (σ(z_n) − x_n^{out}) x_nᵀ`` (and the row sum for b) — no σ' — and a Lipschitz
  constant ``L_Θ = trace G`` (:mod:`.layers`).  The implicit-SGD anchor ``(1/2τ)‖Θ − Θ^k‖²`` is
  handled exactly, so one step is ``Θ⁺ = (L_Θ Θ − ∇ + Θ^k/τ) / (L_Θ + 1/τ)``.
* **a hidden state x = x^v**, given Θ and the other states: the layer ``d`` that writes it
  contributes ``Φ_d(x) − ⟨x, z_d⟩`` (``z_d = A_d x^{in_d} + b_d``); each layer ``k`` that reads it
  contributes ``Φ_k*(A_k x + b_k) − ⟨x^{out_k}, A_k x⟩``, with gradient
  ``A_kᵀ(σ_k(A_k x + b_k) − x^{out_k})``, ``‖A_k‖²``-Lipschitz; the penalty adds ``R_v(x)``.
  A proximal-gradient step that keeps ``Φ_d + R_v`` in the prox and the linear ``−⟨x, z_d⟩`` in
  the gradient is, with ``μ = 1 / Σ_k ‖A_k‖²``::

      x ← prox_{μ(Φ_d + R_v)}( x − μ [ Σ_k A_kᵀ(σ_k(A_k x + b_k) − x^{out_k}) − z_d ] )

  — math.md's slide formula, ``z_d`` entering with a plus sign, plus the penalty in the prox
  (:func:`~.penalty.prox_phi_penalised`).  A state nobody reads is set to its exact minimiser
  ``prox_{Ψ_d + R_v}(z_d)``.

One inner iteration is a block-coordinate proximal-gradient sweep: the hidden states one at a time
in topological order (each sees the updated states before it — a simultaneous update of adjacent
states is not safe, since ``B_Ψ(y, z)`` is not jointly convex), then all parameters at once (they
decouple given X).  Every block step uses ``1/L`` of its block, so each one decreases the batch
objective plus the anchor (sufficient decrease), and in the deterministic full-batch setting the
lifted objective decreases monotonically across epochs.  ``‖A_k‖²`` comes from a power iteration
on ``A_kᵀA_k`` warm-started across batches (one iteration per batch, after its parameter
updates): a lower bound, for which descent only needs it to exceed ``‖A_k‖²/2`` — a margin that
also covers the few per cent by which the weights move within one batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import asarray
from .model import Model
from .penalty import StatePenalty, prox_phi_penalised, prox_psi_penalised

__all__ = ["LiftedTrainer"]

_TINY = 1e-12
#: power iterations for the first estimate of each ‖A_k‖² (later ones are warm-started)
_INITIAL_POWER_STEPS = 30


class LiftedTrainer:
    """The lifted objective, its block updates and the implicit-SGD step on one batch."""

    def __init__(self, model: Model, penalties: dict[str, StatePenalty], xp: Any,
                 dtype: Any) -> None:
        self.model = model
        self.penalties = penalties
        self.xp = xp
        self.dtype = dtype
        # layers whose input is a hidden state need ‖A_k‖² for that state's step
        self._normed = sorted({k for v in model.hidden for k in model.readers[v]})
        self._vec: dict[int, Any] = {}
        self._normsq: dict[int, float] = {}

    # -- operator norms ------------------------------------------------------------------------
    def refresh_norms(self, params: dict[str, Any], steps: int = 1) -> None:
        """Advance the warm-started power iterations for every ``‖A_k‖²`` by ``steps``."""
        xp = self.xp
        for k in self._normed:
            op = self.model.layers[k].op
            v = self._vec.get(k)
            n = steps
            if v is None:          # a fixed pseudo-random start: never orthogonal by design
                start = np.random.default_rng(k).standard_normal((1, op.in_size))
                v = asarray(xp, start / np.linalg.norm(start), dtype=self.dtype)
                n = max(steps, _INITIAL_POWER_STEPS)
            est = 0.0
            for _ in range(n):
                v, est = op.power_step(params, v)
            self._vec[k], self._normsq[k] = v, est

    def norm_state(self) -> dict[str, Any]:
        """The warm-started power iterations (vector and estimate per layer), so that training
        resumed from a checkpoint takes the same steps as training that never stopped."""
        return {"vectors": {str(k): v for k, v in self._vec.items()},
                "normsq": {str(k): float(e) for k, e in self._normsq.items()}}

    def load_norm_state(self, state: dict[str, Any]) -> None:
        self._vec = {int(k): asarray(self.xp, v, dtype=self.dtype)
                     for k, v in state.get("vectors", {}).items()}
        self._normsq = {int(k): float(e) for k, e in state.get("normsq", {}).items()}

    # -- block updates -------------------------------------------------------------------------
    def sweep(self, params: dict[str, Any], vals: dict[str, Any]) -> dict[int, Any]:
        """One proximal-gradient step on every hidden state, in topological order, updating
        ``vals`` in place.  Returns the pre-activations ``z_d`` of the layers that write hidden
        states (still valid afterwards: neither Θ nor their inputs change later in the sweep)."""
        if not self._normsq and self._normed:
            self.refresh_norms(params)
        m = self.model
        layers = m.layers
        cache: dict[int, Any] = {}
        for v in m.hidden:
            d = layers[m.defining[v]]
            z_d = d.op.forward(params, vals[d.input])
            cache[d.index] = z_d
            pen = self.penalties.get(v)
            readers = m.readers[v]
            if not readers:                       # exact minimiser of Φ_d − ⟨·, z_d⟩ + R_v
                vals[v] = prox_psi_penalised(d.psi, z_d, 1.0, pen)
                continue
            x = vals[v]
            grad = None
            lip = 0.0
            for k in readers:
                layer = layers[k]
                r = layer.activate(layer.op.forward(params, x)) - vals[layer.out]
                g = layer.op.adjoint(params, r)
                grad = g if grad is None else grad + g
                lip += self._normsq[k]
            mu = 1.0 / max(lip, _TINY)
            vals[v] = prox_phi_penalised(d.psi, x - mu * (grad - z_d), mu, pen)
        return cache

    def theta_gradient(self, params: dict[str, Any], vals: dict[str, Any],
                       cache: dict[int, Any] | None = None,
                       ) -> tuple[dict[str, Any], dict[str, float]]:
        """``∇_Θ`` of the batch objective and each parameter's Lipschitz constant (the sum over
        the layers that use it of their ``trace G``)."""
        cache = cache or {}
        grads: dict[str, Any] = {}
        lips: dict[str, float] = {}
        scale = 1.0 / float(vals[self.model.input].shape[0])
        for layer in self.model.layers:
            x_in = vals[layer.input]
            z = cache.get(layer.index)
            if z is None:
                z = layer.op.forward(params, x_in)
            r = (layer.activate(z) - vals[layer.out]) * scale
            lip = layer.op.weight_lipschitz(x_in)
            for name, g in layer.op.param_grads(params, x_in, r).items():
                grads[name] = g if name not in grads else grads[name] + g
                lips[name] = lips.get(name, 0.0) + lip
        return grads, lips

    def implicit_step(self, params: dict[str, Any], vals: dict[str, Any], tau: float,
                      inner: int) -> dict[str, Any]:
        """``argmin_{Θ, X_S} E_S(Θ, X_S) + (1/2τ)‖Θ − Θ^k‖²`` by ``inner`` sweeps + Θ-steps;
        ``vals`` (the batch's states) is updated in place, the new Θ returned."""
        anchor = params
        inv_tau = 1.0 / tau
        for _ in range(inner):
            cache = self.sweep(params, vals)
            grads, lips = self.theta_gradient(params, vals, cache)
            current, params = params, dict(params)
            for name, g in grads.items():
                step = 1.0 / (lips[name] + inv_tau)
                if current is anchor:             # first iteration: Θ = Θ^k, no anchor pull
                    params[name] = current[name] - step * g
                else:
                    params[name] = current[name] - step * (g + inv_tau * (current[name]
                                                                          - anchor[name]))
        self.refresh_norms(params)
        return params

    def explicit_step(self, params: dict[str, Any], vals: dict[str, Any], update: Any,
                      ) -> dict[str, Any]:
        """One state sweep, then an explicit optimizer step on ``∇_Θ`` (``sgd``/``adam`` with
        ``loss = bregman``)."""
        cache = self.sweep(params, vals)
        grads, _ = self.theta_gradient(params, vals, cache)
        params = update(params, grads)
        self.refresh_norms(params)
        return params

    # -- what is reported ----------------------------------------------------------------------
    def evaluate(self, params: dict[str, Any], vals: dict[str, Any], chunk: int = 256,
                 ) -> dict[str, float]:
        """The lifted objective ``E`` (mean over the rows) and the lifted residual
        ``(Σ_v ‖σ_d(z_d) − x^v‖²)^½ / (Σ_v ‖x^v‖²)^½`` over the hidden states; computed
        ``chunk`` rows at a time (small temporaries are much faster than full-size ones)."""
        n = vals[self.model.input].shape[0]
        total = num = den = 0.0
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)          # in-bounds slices (the array API's rule)
            part = {k: v[start:stop, ...] for k, v in vals.items()}
            t, a, b = self._sums(params, part)
            total, num, den = total + t, num + a, den + b
        residual = math.sqrt(num) / max(math.sqrt(den), _TINY) if num else 0.0
        return {"objective": total / n, "residual": residual}

    def _sums(self, params: dict[str, Any], vals: dict[str, Any]) -> tuple[float, float, float]:
        xp = self.xp
        total = num = den = 0.0
        for layer in self.model.layers:
            z = layer.op.forward(params, vals[layer.input])
            y = vals[layer.out]
            total += float(xp.sum(layer.psi.bregman(y, z)))
            if layer.out != self.model.output:
                d = layer.activate(z) - y
                num += float(xp.sum(d * d))
                den += float(xp.sum(y * y))
        for v, pen in self.penalties.items():
            total += float(xp.sum(pen.value(vals[v])))
        return total, num, den
