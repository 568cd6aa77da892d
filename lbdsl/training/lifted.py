"""Lifted Bregman training (math.md §5) on the compact form: minimise over the parameters Θ and
the per-sample activations ``z`` of the hidden layers

    E(Θ, z) = (1/N) Σ_n [ Σ_l B_{Ψ_l}(z_n^l, A_l u_n^{in_l} + b_l) + Σ_v R_v(z_n^v)
                          (+ ½‖u_n^L − y_n‖² for a residual output, below) ],
    u_n = T_Θ(x_n, z_n)    (M u = V z + c: ``u_o = z_l``, or ``u_base + s_l (V_l z_l + c_l)``
                            for a residual)

with the input fixed to the data and the last layer's ``z`` to the targets (math.md writes the
factor ``1/(2s)``; here it is ``1/N``, under which ``∇_W`` is the stated
``(1/|S|) Σ (σ(W x + b) − x⁺) xᵀ`` and, for a linear last layer, ``B`` is the ``½‖N(x) − y‖²``
that the MSE baseline averages, so both losses are on one scale).  For a feed-forward network
``u_o = z_l``: the states are the layers' outputs, as in the seed; a residual layer's state is
its activation (keyed ``OUT.ψ``, as the IR names the hidden variable of ``y = c @ ψ(…)``), and
the residual sum it feeds is computed from it exactly.  A plain output layer's z is pinned to
the targets (as λ = ∞ does in inversion).  A residual output ``u_L = u_b ± (V_L z_L + c_L)``
cannot be pinned — ``z_L`` is the activation, and ``V_L z_L = ±(y − u_b) − c_L`` has in
general no solution — so its activation is a state like any other and the sum, a *linear*
layer of ``(u_b, z_L)``, is fitted as a linear output layer is: by the identity's Bregman
distance ``B_id(y, u_L) = ½‖u_L − y‖²``, the penalty ``ρ/2‖M u − V z‖²`` of the inversion at
``ρ = 1`` (the scale on which the Bregman loss of a linear output layer is the MSE).  Every
state whose chain reaches the output then has the extra reader ``u_L − y`` (an identity map:
``+1`` in its Lipschitz constant), and every ``V`` and ``c`` on that chain its gradient.

Derivation of the updates.  ``B_Ψ(y, z) = Φ(y) + Φ*(z) − ⟨y, z⟩`` with ``∇Φ* = σ``:

* **Θ_l = (A_l, b_l)**, given z: ``(1/N) Σ_n Φ*(A u_n + b) − ⟨z_n^l, A u_n + b⟩`` has gradient
  ``(1/|S|) Σ_n (σ(pre_n) − z_n^l) u_nᵀ`` (and the row sum for b) — no σ' — and a Lipschitz
  constant ``L_Θ = λ_max G`` plus the bias's count
  (:meth:`~lbdsl.lift.network.LiftedLayer.weight_lipschitz`).
  A residual's ``V_l`` enters through ``u``: every layer ``k`` reading a block of the *chain*
  of ``l`` (the block ``l`` writes and the residual sums built on it, each ``… + s_l V_l z_l``)
  contributes ``s_l (A_kᵀ r_k) z_lᵀ``, ``r_k = σ_k(pre_k) − z_k``, with Lipschitz constant
  ``Σ_k ‖A_k‖² · λ_max(Σ_n z_n^l z_n^lᵀ)/|S|``.  The implicit-SGD anchor ``(1/2τ)‖Θ − Θ^k‖²``
  is handled exactly: one step is ``Θ⁺ = (L_Θ Θ − ∇ + Θ^k/τ) / (L_Θ + 1/τ)``.
* **a hidden z = z_l**, given Θ and the other states: its own term contributes
  ``Φ_l(z) − ⟨z, pre_l⟩``; each reader ``k`` of its chain ``Φ_k*(pre_k) − ⟨z_k, pre_k⟩`` with
  ``∂pre_k/∂z = A_k D_l`` (``D_l = I``, or ``s_l V_l``), gradient ``D_lᵀ Σ_k A_kᵀ r_k``,
  Lipschitz ``‖D_l‖² Σ_k ‖A_k‖²``; the penalty adds ``R_v(z)``.  The proximal-gradient step
  keeping ``Φ_l + R_v`` in the prox and ``−⟨z, pre_l⟩`` in the gradient is, with
  ``μ = 1 / (‖D_l‖² Σ_k ‖A_k‖²)``::

      z ← prox_{μ(Φ_l + R_v)}( z − μ [ D_lᵀ Σ_k A_kᵀ(σ_k(pre_k) − z_k) − pre_l ] )

  — math.md's slide formula, ``pre_l`` entering with a plus sign, plus the penalty in the prox
  (:func:`~.penalty.prox_phi_penalised`).  A state nobody reads is set to its exact minimiser
  ``prox_{Ψ_l + R_v}(pre_l)``.

One inner iteration is a block-coordinate proximal-gradient sweep: the hidden states one at a time
in layer order (each sees the updated states before it — a simultaneous update of adjacent
states is not safe, since ``B_Ψ(y, z)`` is not jointly convex), then all parameters at once.
For a feed-forward network the parameters decouple given z, every block step uses ``1/L`` of
its block and so decreases the batch objective plus the anchor (sufficient decrease), and in the
deterministic full-batch setting the lifted objective decreases monotonically across epochs.  A
residual's ``V_l`` meets its readers' ``A_k`` bilinearly (``A_k(u + s V_l z_l)``, and a tied
``W`` is both), so there the simultaneous parameter step carries no such guarantee; the tests
observe monotone descent on residual networks, they do not prove it.  ``‖A_k‖²`` and ``‖V_l‖²`` come from
power iterations warm-started across batches (one iteration per batch, after its parameter
updates): lower bounds, for which descent only needs them to exceed half the true value — a
margin that also covers the few per cent by which the weights move within one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import array_namespace, asarray
from ..errors import SolveError
from ..lift.network import LiftedLayer, LiftedNetwork, bias_grad
from ..ops.norm import gram_lambda_max
from ..prox.regularisers.composite import RegulariserSum
from .penalty import prox_phi_penalised, prox_psi_penalised

__all__ = ["LiftedRoles", "Batch", "LiftedTrainer", "state_key", "output_layer", "anchored_step",
           "metrics_of"]

_TINY = 1e-12
#: power iterations for the first estimate of each ‖A_k‖² (later ones are warm-started)
_INITIAL_POWER_STEPS = 30

Params = dict[str, Any]


def state_key(net: LiftedNetwork, layer: LiftedLayer) -> str:
    """The name of a layer's state: its output variable, or ``OUT.ψ`` for a residual's
    activation."""
    out = net.u_blocks[layer.output_block].var
    return out if layer.V is None else f"{out}.{layer.step.psi_name}"


def output_layer(net: LiftedNetwork) -> LiftedLayer:
    """The layer that computes the output; ``SolveError`` when there is nothing to train."""
    if not net.layers:
        raise SolveError(f"network `{net.network.name}` has no layer to train")
    out = next((layer for layer in net.layers if layer.output_block == net.output_block), None)
    if out is None:
        raise SolveError(f"the output `{net.network.output}` of network `{net.network.name}` is "
                         "not computed by a layer, so there is nothing to train")
    return out


@dataclass(frozen=True)
class LiftedRoles:
    """Which layers' z are free states, which one the targets pin, and who reads whom."""

    net: LiftedNetwork
    hidden: tuple[int, ...]               # layers whose z is a state, in layer order
    pinned: int | None                    # the layer whose z is the targets (None: the
                                          # output is a residual sum, fitted by ½‖u − y‖²)
    keys: dict[int, str]                  # layer → state name
    chain: dict[int, tuple[int, ...]]     # layer → residual layers recomputed after its update
    readers: dict[int, tuple[int, ...]]   # layer → layers that read a block of its chain
    fit: frozenset[int] = frozenset()     # layers whose chain reaches a residual output

    @classmethod
    def of(cls, net: LiftedNetwork) -> "LiftedRoles":
        """The roles of ``net``; ``SolveError`` (one line) when it cannot be trained lifted."""
        out = output_layer(net)
        for layer in net.layers:
            if layer.A is None:
                where = f" (line {layer.span.line})" if layer.span else ""
                raise SolveError(f"lifted training takes layers whose pre-activation is one map "
                                 f"A x + b, but layer {layer.index + 1}{where} has "
                                 f"{len(layer.terms)} term(s) or a composition of maps; use "
                                 "loss = mse (backpropagation trains it)")
        residual_output = out.V is not None
        hidden = tuple(layer.index for layer in net.layers
                       if layer is not out or residual_output)
        chain, readers, fit = {}, {}, set()
        for l in hidden:
            blocks = {net.layers[l].output_block}
            sums = []
            for m in net.layers[l + 1:]:
                if m.V is not None and m.base_block in blocks:
                    blocks.add(m.output_block)
                    sums.append(m.index)
            chain[l] = tuple(sums)
            readers[l] = tuple(k.index for k in net.layers
                               if any(b in blocks for b in k.input_blocks))
            if residual_output and net.output_block in blocks:
                fit.add(l)
        keys = {layer.index: state_key(net, layer) for layer in net.layers}
        return cls(net, hidden, None if residual_output else out.index, keys, chain, readers,
                   frozenset(fit))

    def state_shape(self, l: int) -> tuple[int, ...]:
        layer = self.net.layers[l]
        if layer.V is None:
            return self.net.u_blocks[layer.output_block].shape
        return tuple(layer.step.affine.out_shape)


@dataclass
class Batch:
    """One batch's rows: every layer's ``z`` (the pinned one: the targets), the blocks
    ``u = T_Θ(x, z)`` (``u[0]`` the input) and the targets ``y``."""

    z: list[Any]
    u: list[Any]
    y: Any = None


def anchored_step(params: Params, anchor: Params, grads: Params, lips: dict[str, float],
                  inv_tau: float) -> Params:
    """One proximal-gradient step on ``E_S(Θ) + (1/2τ)‖Θ − Θ^k‖²`` per parameter:
    ``Θ⁺ = Θ − (∇ + (Θ − Θ^k)/τ) / (L_Θ + 1/τ)`` (``params is anchor``: no anchor pull)."""
    out = dict(params)
    for name, g in grads.items():
        step = 1.0 / (lips[name] + inv_tau)
        if params is anchor:             # first iteration: Θ = Θ^k, no anchor pull
            out[name] = params[name] - step * g
        else:
            out[name] = params[name] - step * (g + inv_tau * (params[name] - anchor[name]))
    return out


def dense_owners(layers: Any) -> dict[int, tuple[str, str | None]]:
    """``{layer index: (W, b)}`` for every layer ``σ(W x + b)`` whose matrix ``W`` (not
    transposed) and bias ``b`` (one entry per row, or none) no other map of the network uses:
    the parameters :func:`majorised_step` may precondition with that layer's input alone."""
    from collections import Counter

    uses: Counter[str] = Counter()
    for layer in layers:
        for t in layer.terms:
            uses.update(m.weight for m in t.maps)
        uses.update(layer.biases)
        if layer.V is not None:
            uses[layer.V.weight] += 1
        if layer.branch_bias is not None:
            uses[layer.branch_bias] += 1
    owners: dict[int, tuple[str, str | None]] = {}
    for layer in layers:
        A = layer.A
        if (A is None or A.kind not in ("matmul", "dense") or A.transposed
                or layer.V is not None or uses[A.weight] != 1 or len(layer.biases) > 1
                or any(uses[b] != 1 for b in layer.biases)):
            continue
        owners[layer.index] = (A.weight, layer.biases[0] if layer.biases else None)
    return owners


def majorised_step(params: Params, anchor: Params, grads: Params, lips: dict[str, float],
                   inv_tau: float, inputs: dict[str, tuple[Any, str | None]]) -> Params:
    """The Θ-step preconditioned by each dense layer's input Gram matrix (majorise–minimise):
    for ``Θ = [W b]`` of a layer with input rows ``U`` (``B × n``, ``P = [U 1]``), the batch
    objective is majorised by its gradient plus ``½ tr(ΔΘ (PᵀP/B) ΔΘᵀ)`` (σ is 1-Lipschitz, so
    ``∇²Φ* ⪯ I``), and minimising that plus the anchor ``(1/2τ)‖Θ − Θ^k‖²`` is one step

        Θ⁺ = Θ − R (PᵀP/B + I/τ)⁻¹,    R = ∇ + (Θ − Θ^k)/τ,

    exact for a linear layer (the implicit step itself), applied by Woodbury through a B×B
    system when B ≤ n: ``R(...)⁻¹ = τR − τ²(R Pᵀ)(B I + τ P Pᵀ)⁻¹ P``.  ``inputs`` maps ``W``
    to ``(U, b)``; every other parameter takes :func:`anchored_step`."""
    owned = set(inputs) | {b for _, b in inputs.values() if b is not None}
    out = anchored_step(params, anchor, {k: g for k, g in grads.items() if k not in owned},
                        lips, inv_tau)
    for name, (u, bias) in inputs.items():
        xp = array_namespace(u)
        theta, grad, prior = params[name], grads[name], anchor[name]
        rows = xp.reshape(u, (u.shape[0], -1))
        if bias is not None:
            ones = xp.ones((rows.shape[0], 1), dtype=rows.dtype)
            rows = xp.concat([rows, ones], axis=1)
            col = lambda v: xp.reshape(v, (-1, 1))  # noqa: E731
            theta = xp.concat([theta, col(params[bias])], axis=1)
            grad = xp.concat([grad, col(grads[bias])], axis=1)
            prior = xp.concat([prior, col(anchor[bias])], axis=1)
        r = grad if params is anchor else grad + inv_tau * (theta - prior)
        new = theta - _precondition(xp, r, rows, 1.0 / inv_tau)
        if bias is not None:
            out[name], out[bias] = new[:, :-1], xp.reshape(new[:, -1], params[bias].shape)
        else:
            out[name] = new
    return out


def _precondition(xp: Any, r: Any, p: Any, tau: float) -> Any:
    """``r (PᵀP/B + I/τ)⁻¹`` for ``r (m × n)``, ``P (B × n)``: by Woodbury through ``B × B``
    when ``B < n``, else through ``n × n``."""
    batch, n = int(p.shape[0]), int(p.shape[1])
    pt = xp.matrix_transpose(p)
    if batch < n:
        k = batch * xp.eye(batch, dtype=p.dtype) + tau * xp.matmul(p, pt)
        s = xp.matrix_transpose(xp.linalg.solve(k, xp.matrix_transpose(xp.matmul(r, pt))))
        return tau * r - tau * tau * xp.matmul(s, p)
    g = xp.matmul(pt, p) / batch + xp.eye(n, dtype=p.dtype) / tau
    return xp.matrix_transpose(xp.linalg.solve(g, xp.matrix_transpose(r)))


class LiftedTrainer:
    """The lifted objective, its block updates and the implicit-SGD step on one batch."""

    def __init__(self, roles: LiftedRoles, penalties: dict[int, RegulariserSum], xp: Any,
                 dtype: Any) -> None:
        self.roles = roles
        self.net = roles.net
        self.penalties = penalties
        self.xp = xp
        self.dtype = dtype
        self._owners = dense_owners(self.net.layers)
        # ‖A_k‖² of every reader of a state, ‖V_l‖² of every residual state
        self._normed = [str(k) for k in sorted({k for l in roles.hidden for k in roles.readers[l]})]
        self._normed += [f"V{l}" for l in roles.hidden if self.net.layers[l].V is not None]
        self._vec: dict[str, Any] = {}
        self._normsq: dict[str, float] = {}
        self._grams: dict[int, tuple[Any, float]] = {}   # layer → (input, ‖P(input)‖₂), per batch

    # -- the batch -----------------------------------------------------------------------------
    def batch(self, params: Params, x: Any, y: Any, states: dict[str, Any]) -> Batch:
        """The rows ``x``, ``y`` and their states as a :class:`Batch` (``u`` from ``T_Θ``)."""
        r = self.roles
        z = [y if l == r.pinned else states[r.keys[l]] for l in range(len(self.net.layers))]
        return Batch(z, self._substitute(params, x, z), y)

    def _substitute(self, params: Params, x: Any, z: list[Any]) -> list[Any]:
        u: list[Any] = [x] + [None] * len(self.net.layers)
        for layer in self.net.layers:
            u[layer.output_block] = self.net.written(layer, params, u, z[layer.index])
        return u

    def _refresh(self, params: Params, b: Batch, l: int) -> None:
        """The blocks that depend on ``z_l``, after ``z_l`` changed."""
        for m in (l, *self.roles.chain[l]):
            layer = self.net.layers[m]
            b.u[layer.output_block] = self.net.written(layer, params, b.u, b.z[m])

    def states(self, b: Batch) -> dict[str, Any]:
        return {self.roles.keys[l]: b.z[l] for l in self.roles.hidden}

    # -- operator norms ------------------------------------------------------------------------
    def _map(self, key: str) -> Any:
        return self.net.layers[int(key[1:])].V if key[0] == "V" else self.net.layers[int(key)].A

    def refresh_norms(self, params: Params, steps: int = 1) -> None:
        """Advance the warm-started power iterations for every ``‖A_k‖²``, ``‖V_l‖²``."""
        for key in self._normed:
            op = self._map(key)
            v = self._vec.get(key)
            n = steps
            if v is None:          # a fixed pseudo-random start: never orthogonal by design
                seed = int(key) if key[0] != "V" else [1, int(key[1:])]
                start = np.random.default_rng(seed).standard_normal((1, op.in_size))
                v = asarray(self.xp, start / np.linalg.norm(start), dtype=self.dtype)
                n = max(steps, _INITIAL_POWER_STEPS)
            est = 0.0
            for _ in range(n):
                v, est = op.power_step(params, v)
            self._vec[key], self._normsq[key] = v, est

    def norm_state(self) -> dict[str, Any]:
        """The warm-started power iterations (vector and estimate per map), so that training
        resumed from a checkpoint takes the same steps as training that never stopped."""
        return {"vectors": dict(self._vec), "normsq": {k: float(e) for k, e in
                                                       self._normsq.items()}}

    def load_norm_state(self, state: dict[str, Any]) -> None:
        self._vec = {str(k): asarray(self.xp, v, dtype=self.dtype)
                     for k, v in state.get("vectors", {}).items()}
        self._normsq = {str(k): float(e) for k, e in state.get("normsq", {}).items()}

    # -- block updates -------------------------------------------------------------------------
    def _reader_sum(self, params: Params, b: Batch, l: int) -> tuple[Any, float]:
        """``Σ_k A_kᵀ(σ_k(pre_k) − z_k)`` over the readers of ``l``'s chain, plus ``u_out − y``
        when that chain reaches a residual output; and the constant :meth:`reader_norm`."""
        grad = None
        for k in self.roles.readers[l]:
            layer = self.net.layers[k]
            r = layer.activate(layer.pre(params, b.u)) - b.z[k]
            g = layer.A.adjoint(params, r)
            grad = g if grad is None else grad + g
        if l in self.roles.fit:      # ∇ of ½‖u_out − y‖² in the chain's block: u_out − y
            r = b.u[self.net.output_block] - b.y
            grad = r if grad is None else grad + r
        return grad, self.reader_norm(l)

    def reader_norm(self, l: int) -> float:
        """``Σ_k ‖A_k‖²`` over the readers of ``l``'s chain, plus 1 (the identity's) for the
        output fit."""
        return (sum(self._normsq[str(k)] for k in self.roles.readers[l])
                + (1.0 if l in self.roles.fit else 0.0))

    def reads(self, l: int) -> bool:
        """Whether anything downstream depends on ``z_l`` (a reader or the output fit)."""
        return bool(self.roles.readers[l]) or l in self.roles.fit

    def sweep(self, params: Params, b: Batch) -> dict[int, Any]:
        """One proximal-gradient step on every hidden state, in layer order, updating ``b`` in
        place.  Returns the pre-activations of the hidden layers (still valid afterwards:
        neither Θ nor their inputs change later in the sweep)."""
        self.ensure_norms(params)
        cache: dict[int, Any] = {}
        for l in self.roles.hidden:
            d = self.net.layers[l]
            pre = d.pre(params, b.u)
            cache[l] = pre
            pen = self.penalties.get(l)
            if not self.reads(l):                  # exact minimiser of Φ_l − ⟨·, pre⟩ + R
                b.z[l] = prox_psi_penalised(d.psi, pre, 1.0, pen)
            else:
                grad, lip = self._reader_sum(params, b, l)
                if d.V is not None:
                    grad = d.sign * d.V.adjoint(params, grad)
                    lip *= self._normsq[f"V{l}"]
                mu = 1.0 / max(lip, _TINY)
                b.z[l] = prox_phi_penalised(d.psi, b.z[l] - mu * (grad - pre), mu, pen)
            self._refresh(params, b, l)
        return cache

    def dense_inputs(self, b: Batch) -> dict[str, tuple[Any, str | None]]:
        """``{W: (U, b)}``: the input rows of each layer of :func:`dense_owners` in the batch
        ``b`` as swept last, and its bias, for :func:`majorised_step`."""
        return {w: (b.u[self.net.layers[l].input_block], bias)
                for l, (w, bias) in self._owners.items()}

    def theta_gradient(self, params: Params, b: Batch, cache: dict[int, Any] | None = None,
                       lipschitz: bool = True, scale: float | None = None,
                       ) -> tuple[Params, dict[str, float]]:
        """``∇_Θ`` of the batch objective and each parameter's Lipschitz constant (the sum over
        the maps that use it of their ``λ_max G`` plus the bias's count; 0 without
        ``lipschitz``, for an explicit optimizer that does not use them).  ``scale`` is
        ``1/|S|`` (default: ``b``'s rows; a shard of a batch passes the whole batch's)."""
        cache = cache or {}
        grads: Params = {}
        lips: dict[str, float] = {}
        scale = 1.0 / float(b.u[0].shape[0]) if scale is None else scale
        for layer in self.net.layers:
            u_in = b.u[layer.input_block]
            pre = cache.get(layer.index)
            if pre is None:
                pre = layer.pre(params, b.u)
            r = (layer.activate(pre) - b.z[layer.index]) * scale
            lip = (layer.weight_lipschitz(params, u_in, self._input_gram(layer, params, u_in))
                   if lipschitz else 0.0)
            layer.param_grads(params, b.u, r, grads)
            for name in (layer.A.weight, *layer.biases):
                lips[name] = lips.get(name, 0.0) + lip
        for l in self.roles.hidden:
            if self.net.layers[l].V is not None:
                self._residual_gradient(params, b, l, scale, grads, lips, lipschitz)
        return grads, lips

    def _input_gram(self, layer: LiftedLayer, params: Params, u_in: Any) -> float:
        """An upper bound of ``λ_max G(u_in) = ‖P(u_in)‖₂²`` (``P`` the rows or patches): exact
        (``eigvalsh``) at a batch's first Θ-step, then ``(‖P(u_ref)‖₂ + ‖P(u_in − u_ref)‖_F)²``
        from that reference (the triangle inequality, ``‖·‖₂ ≤ ‖·‖_F``; ``‖P(Δ)‖_F² =
        gram_trace(Δ)``), which stays tight while the states move little — one
        eigen-decomposition per layer and batch instead of one per inner sweep."""
        ref = self._grams.get(layer.index)
        if ref is None or ref[0].shape != u_in.shape:
            lam = layer.A.gram_norm(params, u_in)
            self._grams[layer.index] = (u_in, math.sqrt(lam))
            return lam
        u_ref, sigma = ref
        if u_ref is u_in:
            return sigma * sigma
        return (sigma + math.sqrt(layer.A.gram_trace(params, u_in - u_ref))) ** 2

    def _residual_gradient(self, params: Params, b: Batch, l: int, scale: float, grads: Params,
                           lips: dict[str, float], lipschitz: bool = True) -> None:
        """``∇_{V_l} = s_l (Σ_k A_kᵀ r_k) z_lᵀ`` over the readers of ``l``'s chain."""
        layer = self.net.layers[l]
        back, lip = self._reader_sum(params, b, l)
        if back is None:
            return
        z = b.z[l]
        name = layer.V.weight
        g = layer.V.weight_grad(params, z, (layer.sign * scale) * back)
        grads[name] = g if name not in grads else grads[name] + g
        if lipschitz:
            rows = self.xp.reshape(z, (int(z.shape[0]), -1))
            lips[name] = lips.get(name, 0.0) + lip * gram_lambda_max(rows) * scale
        else:
            lips[name] = 0.0
        if layer.branch_bias is not None:      # ∂pre_k/∂c = A_k s_l for every sample
            c = layer.branch_bias
            gc = (layer.sign * scale) * self._sum_rows(back, params[c], layer)
            grads[c] = gc if c not in grads else grads[c] + gc
            lips[c] = lips.get(c, 0.0) + (lip * self.branch_bias_count(params[c], layer)
                                          if lipschitz else 0.0)

    def _sum_rows(self, back: Any, c: Any, layer: LiftedLayer) -> Any:
        """``Σ_rows back`` in the branch bias's shape (one per channel: summed over pixels)."""
        size = self.net.u_blocks[layer.output_block].size
        return bias_grad(self.xp, self.xp.reshape(back, (-1, size)), c)

    def branch_bias_count(self, c: Any, layer: LiftedLayer) -> float:
        """How many entries of the block each entry of a branch bias enters."""
        return self.net.u_blocks[layer.output_block].size // int(np.prod(c.shape))

    def new_batch(self) -> None:
        """Forget the last batch's Gram references (a batch's first Θ-step takes exact
        ``λ_max G``)."""
        self._grams = {}

    def substitute(self, params: Params, b: Batch) -> None:
        """``b.u = T_Θ(x, z)`` again, after Θ changed."""
        b.u = self._substitute(params, b.u[0], b.z)

    def norm_estimates(self) -> dict[str, float]:
        """The current ``‖A_k‖²``, ``‖V_l‖²`` estimates (what a shard's sweep steps with);
        advanced first if there are none yet."""
        return dict(self._normsq)

    def ensure_norms(self, params: Params) -> None:
        """Estimate the operator norms if there are none yet (the first batch of a run)."""
        if not self._normsq and self._normed:
            self.refresh_norms(params)

    def set_norm_estimates(self, normsq: dict[str, float]) -> None:
        """Step with the caller's estimates (a shard)."""
        self._normsq = dict(normsq)

    def norm_estimate(self, layer: int) -> float:
        """``‖A_k‖²`` of layer ``k``."""
        return self._normsq[str(layer)]

    # -- what is reported ----------------------------------------------------------------------
    def evaluate(self, params: Params, x: Any, y: Any, states: dict[str, Any],
                 chunk: int = 256) -> dict[str, float]:
        """The lifted objective ``E`` (mean over the rows) and the lifted residual
        ``(Σ_l ‖σ_l(pre_l) − z_l‖²)^½ / (Σ_l ‖z_l‖²)^½`` over the hidden states; computed
        ``chunk`` rows at a time (small temporaries are much faster than full-size ones)."""
        return metrics_of(x.shape[0], *self.totals(params, x, y, states, chunk))

    def totals(self, params: Params, x: Any, y: Any, states: dict[str, Any],
               chunk: int = 256) -> tuple[float, float, float]:
        """``(Σ E_n, Σ_l ‖σ_l(pre_l) − z_l‖², Σ_l ‖z_l‖²)`` over the rows: sums, so that the
        shards of a data set add up to the whole (:func:`metrics_of`)."""
        n = x.shape[0]
        total = num = den = 0.0
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)          # in-bounds slices (the array API's rule)
            part = self.batch(params, x[start:stop, ...], y[start:stop, ...],
                              {k: s[start:stop, ...] for k, s in states.items()})
            t, a, c = self._sums(params, part)
            total, num, den = total + t, num + a, den + c
        return total, num, den

    def _sums(self, params: Params, b: Batch) -> tuple[float, float, float]:
        xp = self.xp
        total = num = den = 0.0
        for layer in self.net.layers:
            pre = layer.pre(params, b.u)
            z = b.z[layer.index]
            total += float(xp.sum(layer.psi.bregman(z, pre)))
            if layer.index != self.roles.pinned:
                d = layer.activate(pre) - z
                num += float(xp.sum(d * d))
                den += float(xp.sum(z * z))
        if self.roles.pinned is None:         # the residual output: ½‖u_out − y‖²
            d = b.u[self.net.output_block] - b.y
            total += 0.5 * float(xp.sum(d * d))
        for l, pen in self.penalties.items():
            total += float(xp.sum(pen.row_values(b.z[l])))
        return total, num, den


def metrics_of(n: int, total: float, num: float, den: float) -> dict[str, float]:
    """The objective (mean over ``n`` rows) and lifted residual from :meth:`LiftedTrainer.totals`."""
    residual = math.sqrt(num) / max(math.sqrt(den), _TINY) if num else 0.0
    return {"objective": total / n, "residual": residual}
