"""The network runtime: one representation of a lifted network, used by inversion and training.

A network is a sequence of steps over blocks of ``u = (u_0, u_1, …)`` (one block per SSA
variable, flattened row-major; math.md §2)::

    plain      u_o = σ(x),                        x = Σ_t c_t A_t u_t + b
    residual   u_o = u_base + s·(V_θ σ(x) + c),   s = ±1

``σ = prox_Ψ`` of the layer's Ψ; the pre-activation a linear expression of terms
(:class:`LiftedTerm`: ``c_t`` times a chain of :class:`~.maps.WeightMap` of any layer type —
dense, transposed matmul, convolutions and their adjoints — applied to an earlier block), the
common layer ``A_θ u_in + b`` one term of one map; ``V_θ`` and the branch bias ``c`` the
residual's.  Every block is written once and read only later.
Parameters are passed as ``params`` (name → array); a call without them uses the network's own
(:attr:`LiftedNetwork.params`, on its namespace and dtype).  The runtime gives

* :meth:`~LiftedNetwork.tape` — the forward pass, keeping every block, pre-activation and
  activation; :meth:`~LiftedNetwork.forward` the blocks concatenated (``u*``);
* :meth:`~LiftedNetwork.vjp` — the reverse pass from adjoints ``ḡ`` seeded on any blocks, the
  one place a derivative of σ is used (backpropagation baselines)::

      plain      δ = σ'(x)ᵀ ḡ_o
      residual   δ = σ'(x)ᵀ (s·V_θᵀ ḡ_o),   ḡ_base += ḡ_o,   ∇_V += s·ḡ_o σ(x)ᵀ,  ∇_c += s·ḡ_o
      both       ḡ_t += c_t A_tᵀ δ,   ∇_θ += ∇_θ ⟨δ, Σ_t c_t A_t u_t + b⟩  (a weight used
                 twice collects both)

  since a block is read only after it is written, ``ḡ_o`` is complete when its step is reached;
* :meth:`~LiftedNetwork.substitute` / :meth:`~LiftedNetwork.substitute_adjoint` — the map
  ``T : (u_0, z) ↦ u`` that solves ``M u = V z + c`` by forward substitution (``u_o = z_l`` or
  ``u_base + s (V_l z_l + c_l)``; affine where a branch bias ``c`` is) and the adjoint of its
  linear part, the backward substitution (:class:`Substitution` is ``T`` as an operator on
  flat arrays);
* :meth:`~LiftedNetwork.jacobian_bound` — a bound of ``‖∂N/∂u_0‖`` carried block by block
  (``Π_l ‖A_l‖`` for a chain, ``1 + ‖V_l‖‖A_l‖`` per residual step of one), σ being
  1-Lipschitz.

:class:`~lbdsl.lift.compact.LiftedProblem` adds the block operators ``K, M, V, W, b`` of the
compact form to this runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import asarray, namespace
from ..errors import SolveError, SourceSpan
from ..ir.nodes import NetworkIR, Residual, Step, one_map
from ..ops.norm import operator_norm
from .maps import WeightMap, residual_map, weight_map

__all__ = ["UBlock", "LiftedTerm", "LiftedLayer", "Tape", "LiftedNetwork", "Substitution",
           "lifted_network", "activation_vjp", "terms_forward", "terms_adjoint", "bias_grad"]

Params = dict[str, Any]


def activation_vjp(psi: Any, x: Any, g: Any) -> Any:
    """``σ'(x)ᵀ g`` for ``σ = prox_Ψ`` at the pre-activation ``x`` (each Ψ's ``prox_vjp``)."""
    try:
        return psi.prox_vjp(x, g)
    except NotImplementedError as exc:
        raise SolveError(f"backpropagation does not know the derivative of `{psi}`") from exc


def _add(acc: Any, g: Any) -> Any:
    """``acc + g`` where ``None`` stands for zero (no array is made for a zero adjoint)."""
    return g if acc is None else acc + g


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
class LiftedTerm:
    """One term ``coef·(M_1 ∘ ⋯ ∘ M_k)(u_block)`` of a pre-activation (``maps`` empty: the
    block itself)."""

    block: int
    coef: float
    maps: tuple[WeightMap, ...]

    def inputs(self, params: Params, x: Any) -> list[Any]:
        """The input of each map, ``maps[i]`` reading ``inputs[i]`` (the last one ``x``)."""
        out = [x]
        for m in reversed(self.maps[1:]):
            out.insert(0, m.forward(params, out[0]))
        return out

    def forward(self, params: Params, x: Any) -> Any:
        y = x
        for m in reversed(self.maps):
            y = m.forward(params, y)
        return y if self.coef == 1.0 else self.coef * y

    def adjoint(self, params: Params, g: Any) -> Any:
        g = g if self.coef == 1.0 else self.coef * g
        for m in self.maps:
            g = m.adjoint(params, g)
        return g

    def weight_grads(self, params: Params, x: Any, r: Any, grads: Params) -> None:
        """Add ``∇_θ ⟨r, term(x)⟩`` of every map's weight (a shared one accumulates)."""
        g = r if self.coef == 1.0 else self.coef * r
        for m, m_in in zip(self.maps, self.inputs(params, x)):
            grads[m.weight] = _add(grads.get(m.weight), m.weight_grad(params, m_in, g))
            g = m.adjoint(params, g) if m is not self.maps[-1] else g


def terms_forward(terms: Any, params: Params, x: Any) -> Any:
    """``Σ_t term_t(x)``, the terms all reading ``x``."""
    out = None
    for t in terms:
        out = _add(out, t.forward(params, x))
    return out


def terms_adjoint(terms: Any, params: Params, g: Any) -> Any:
    """``Σ_t term_tᵀ g``: the adjoint of :func:`terms_forward`."""
    out = None
    for t in terms:
        out = _add(out, t.adjoint(params, g))
    return out


@dataclass(frozen=True, eq=False)
class LiftedLayer:
    """One step: its Ψ, its terms, the blocks it reads and writes, where its z-block lives."""

    index: int
    step: Step
    psi: Any
    z_offset: int
    z_size: int
    terms: tuple[LiftedTerm, ...]
    output_block: int
    base_block: int | None     # residual layers only
    span: SourceSpan | None
    biases: tuple[str, ...]    # bias parameters (one entry per output channel of an image)
    V: WeightMap | None        # residual layers only
    sign: float = 1.0
    branch_bias: str | None = None   # a residual's ``c``: ``u = u_base ± (V σ(…) + c)``

    @property
    def input_blocks(self) -> tuple[int, ...]:
        """The blocks it reads, each once, in order."""
        return tuple(dict.fromkeys(t.block for t in self.terms))

    @property
    def input_block(self) -> int:
        """The one block it reads (``ValueError`` if it reads several)."""
        blocks = self.input_blocks
        if len(blocks) != 1:
            raise ValueError(f"layer {self.index + 1} reads {len(blocks)} blocks")
        return blocks[0]

    @property
    def A(self) -> WeightMap | None:
        """The one map of ``A x + b`` (one term, one map, coefficient 1), else None."""
        return one_map(self.terms)

    @property
    def bias(self) -> str | None:
        """The one bias, else None."""
        return self.biases[0] if len(self.biases) == 1 else None

    @property
    def kind(self) -> str:
        if isinstance(self.step, Residual):
            return f"residual {'+' if self.step.sign > 0 else '−'}{' tied' if self.step.tied else ''}"
        return "linear" if self.step.linear else "layer"

    @property
    def linear(self) -> bool:
        """Whether σ is the identity (a linear layer)."""
        return self.psi.name == "identity"

    def activate(self, x: Any) -> Any:
        return x if self.linear else self.psi.prox(x)

    def pre(self, params: Params, blocks: list[Any]) -> Any:
        """``x = Σ_t term_t(u_t) + Σ b`` for the flat blocks ``blocks`` (rows ``(..., size)``)."""
        z = None
        for t in self.terms:
            z = _add(z, t.forward(params, blocks[t.block]))
        for name in self.biases:
            z = self._add_bias(z, params[name])
        return z

    def _add_bias(self, z: Any, b: Any, size: int | None = None) -> Any:
        """``z + b`` for rows ``z (..., size)`` (default the z-block's), ``b`` one entry per
        row entry or per channel (broadcast over the channel's pixels)."""
        xp = array_namespace(z)
        size = self.z_size if size is None else size
        per = size // int(np.prod(b.shape))
        if per == 1:
            return z + (b if b.ndim == 1 else xp.reshape(b, (-1,)))
        batch = tuple(z.shape[:-1])
        z = xp.reshape(z, (*batch, b.shape[0], per)) + xp.reshape(b, (b.shape[0], 1))
        return xp.reshape(z, (*batch, size))

    def param_grads(self, params: Params, blocks: list[Any], r: Any, grads: Params) -> None:
        """Add ``∇_θ ⟨r, Σ_t term_t(u_t) + Σ b⟩`` (summed over the rows) to ``grads``."""
        for t in self.terms:
            t.weight_grads(params, blocks[t.block], r, grads)
        xp = array_namespace(r)
        rows = xp.reshape(r, (-1, self.z_size)) if r.ndim != 2 else r
        for name in self.biases:
            grads[name] = _add(grads.get(name), bias_grad(xp, rows, params[name]))

    def weight_lipschitz(self, params: Params, u_in: Any, gram: float | None = None,
                         rows: int | None = None) -> float:
        """A Lipschitz constant of ``∇_θ (1/B) Σ_n φ(A_θ u_n + b)`` for any ``φ`` with a
        1-Lipschitz gradient: ``(λ_max G + B·k)/B`` where ``(1/B) Σ_n J_nᵀ J_n = G ⊗ I`` for the
        Jacobians of ``θ ↦ A_θ u_n`` (``G = Σ_n u_n u_nᵀ``, patches for conv2d) and the bias adds
        ``k`` = the output positions each bias entry enters (``‖[U 1]‖² ≤ ‖U‖² + ‖1‖²``, at most
        twice the joint Jacobian's ``λ_max``).  ``gram``: an upper bound of ``λ_max G`` known
        already (else it is computed); ``rows``: ``B`` (default: ``u_in``'s rows).  For a
        layer ``A x + b`` (:attr:`A`)."""
        rows = int(np.prod(u_in.shape[:-1])) if rows is None else rows
        total = self.A.gram_norm(params, u_in) if gram is None else gram  # type: ignore[union-attr]
        for name in self.biases:          # ‖[U 1 1 …]‖² ≤ ‖U‖² + Σ ‖1‖²
            total += rows * (self.z_size // int(np.prod(params[name].shape)))
        return total / rows


def bias_grad(xp: Any, rows: Any, b: Any) -> Any:
    """``∇_b ⟨r, x + b⟩`` summed over the rows ``rows (B, size)``, in ``b``'s shape (a bias
    per channel sums over the channel's pixels)."""
    if rows.shape[-1] == int(np.prod(b.shape)):
        gb = xp.sum(rows, axis=0)
        return gb if b.ndim == 1 else xp.reshape(gb, b.shape)
    return xp.sum(xp.reshape(rows, (rows.shape[0], b.shape[0], -1)), axis=(0, 2))


@dataclass
class Tape:
    """A forward pass: every block (flat rows), every layer's pre-activation and activation."""

    blocks: list[Any]
    pre: list[Any]
    act: list[Any]


@dataclass(frozen=True, eq=False)
class LiftedNetwork:
    """The runtime of one network (see the module docstring)."""

    network: NetworkIR
    u_blocks: tuple[UBlock, ...]
    layers: tuple[LiftedLayer, ...]
    output_block: int
    params: Params
    xp: Any
    dtype: Any

    @property
    def u_size(self) -> int:
        return sum(blk.size for blk in self.u_blocks)

    @property
    def z_size(self) -> int:
        return sum(layer.z_size for layer in self.layers)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Every parameter a layer uses, in declaration order."""
        used: set[str | None] = set()
        for layer in self.layers:
            used |= {m.weight for t in layer.terms for m in t.maps} | set(layer.biases)
            used |= {layer.V.weight if layer.V else None, layer.branch_bias}
        return tuple(name for name in self.network.params if name in used)

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

    # -- forward ---------------------------------------------------------------------------
    def tape(self, u0: Any, params: Params | None = None) -> Tape:
        """The forward pass from the flat input ``u0 (..., size(u_0))``."""
        params = self.params if params is None else params
        blocks: list[Any] = [u0] + [None] * (len(self.u_blocks) - 1)
        pre, act = [], []
        for layer in self.layers:
            x = layer.pre(params, blocks)
            a = layer.psi.prox(x)
            pre.append(x)
            act.append(a)
            blocks[layer.output_block] = self.written(layer, params, blocks, a)
        return Tape(blocks, pre, act)

    def written(self, layer: LiftedLayer, params: Params, blocks: list[Any], a: Any,
                 offset: bool = True) -> Any:
        """The block layer ``l`` writes from its activation (or z-block) ``a`` (``offset``
        false: without a residual's branch bias, the linear part of ``T``)."""
        if layer.V is None:
            return a
        branch = layer.V.forward(params, a)
        if layer.branch_bias is not None and offset:
            branch = layer._add_bias(branch, params[layer.branch_bias], self.u_blocks[
                layer.output_block].size)
        return blocks[layer.base_block] + layer.sign * branch

    def forward(self, u0: Any, params: Params | None = None) -> Any:
        """``u*``: every block of the forward pass, concatenated."""
        return self.xp.concat(self.tape(u0, params).blocks, axis=-1)

    # -- reverse -----------------------------------------------------------------------------
    def vjp(self, tape: Tape, seeds: dict[int, Any], params: Params | None = None, *,
            param_grads: bool = False, input_grad: bool = True) -> tuple[Any, Params]:
        """``(ḡ_0, ∇_θ)``: the reverse pass (module docstring) of ``Σ_j ⟨seeds[j], u_j⟩``.

        ``ḡ_0`` is None when ``input_grad`` is false (training: the input is data) or no seed
        reaches it; ``∇_θ`` (by parameter name) is filled only with ``param_grads``.
        """
        params = self.params if params is None else params
        adj: list[Any] = [None] * len(self.u_blocks)
        for j, g in seeds.items():
            adj[j] = _add(adj[j], g)
        grads: Params = {}
        for layer in reversed(self.layers):
            g_o = adj[layer.output_block]
            if g_o is None:            # nothing downstream of this layer reaches the seeds
                continue
            if layer.V is None:
                h = g_o
            else:
                adj[layer.base_block] = _add(adj[layer.base_block], g_o)
                h = layer.sign * layer.V.adjoint(params, g_o)
                if param_grads:
                    self._branch_grads(layer, params, tape.act[layer.index], g_o, grads)
            delta = h if layer.linear else activation_vjp(layer.psi, tape.pre[layer.index], h)
            if param_grads:
                layer.param_grads(params, tape.blocks, delta, grads)
            for t in layer.terms:
                if input_grad or t.block != 0:
                    adj[t.block] = _add(adj[t.block], t.adjoint(params, delta))
        return adj[0], grads

    def _branch_grads(self, layer: LiftedLayer, params: Params, a: Any, g_o: Any,
                      grads: Params) -> None:
        """``∇_V``, ``∇_c`` of a residual's branch ``± (V a + c)`` with adjoint ``g_o``."""
        v = layer.V.weight  # type: ignore[union-attr]
        grads[v] = _add(grads.get(v), layer.V.weight_grad(  # type: ignore[union-attr]
            params, a, layer.sign * g_o))
        if layer.branch_bias is not None:
            xp = array_namespace(g_o)
            size = self.u_blocks[layer.output_block].size
            rows = xp.reshape(g_o, (-1, size)) if g_o.ndim != 2 else g_o
            c = params[layer.branch_bias]
            grads[layer.branch_bias] = _add(grads.get(layer.branch_bias),
                                            layer.sign * bias_grad(xp, rows, c))

    # -- the substitution T ----------------------------------------------------------------------
    def substitute(self, u0: Any, z: Any, params: Params | None = None,
                   offset: bool = True) -> list[Any]:
        """The blocks of ``u = T(u_0, z)``: ``M u = V z + c`` solved by forward substitution
        (``offset`` false: ``M u = V z``, the linear part; ``c`` holds residual branch
        biases)."""
        params = self.params if params is None else params
        blocks: list[Any] = [u0] + [None] * len(self.layers)
        for layer in self.layers:
            blocks[layer.output_block] = self.written(layer, params, blocks,
                                                       self.z_block(z, layer), offset)
        return blocks

    @property
    def affine_substitution(self) -> bool:
        """Whether ``T`` has a constant part (a residual's branch bias)."""
        return any(layer.branch_bias is not None for layer in self.layers)

    def substitute_adjoint(self, g: list[Any], params: Params | None = None,
                           ) -> tuple[Any, list[Any]]:
        """``Tᵀ``: from the adjoints ``g`` of the blocks (None for zero), ``(ḡ_0, [ḡ_z per
        layer])`` by backward substitution."""
        params = self.params if params is None else params
        acc = list(g)
        gz: list[Any] = [None] * len(self.layers)
        for layer in reversed(self.layers):
            g_o = acc[layer.output_block]
            if layer.V is None:
                gz[layer.index] = g_o
            else:
                acc[layer.base_block] = _add(acc[layer.base_block], g_o)
                gz[layer.index] = None if g_o is None else layer.sign * layer.V.adjoint(params,
                                                                                        g_o)
        return acc[0], gz

    # -- bounds --------------------------------------------------------------------------------
    def jacobian_bound(self, params: Params | None = None) -> float:
        """A bound ``J_out ≥ ‖∂N/∂u_0‖``, block by block (σ is 1-Lipschitz): ``J_0 = 1``,
        ``J_o = a_l`` for a plain step and ``J_base + ‖V_l‖ a_l`` for a residual one, with
        ``a_l = Σ_t |c_t| Π_k ‖A_tk‖ J_{block_t}`` over the terms of its pre-activation (a
        chain ``u_l = σ(A_l u_{l−1})`` gives ``Π_l ‖A_l‖``); each norm by power iteration
        (a 1% safety margin)."""
        params = self.params if params is None else params
        bound = {0: 1.0}
        for layer in self.layers:
            a = sum(abs(t.coef) * math.prod(self._norm(m.operator(params)) for m in t.maps)
                    * bound[t.block] for t in layer.terms)
            bound[layer.output_block] = a if layer.V is None else \
                bound[layer.base_block] + a * self._norm(layer.V.operator(params))  # type: ignore[index]
        return max(bound[self.output_block], 1e-6)

    def _norm(self, op: Any) -> float:
        return operator_norm(op, self.xp, self.dtype, iters=100, tol=1e-4, safety=1.01)


class OwnParams(Mapping):
    """A network's own parameters on ``xp`` in ``dtype``, each made (and moved to the backend)
    when it is first read: what needs only the structure never allocates them."""

    def __init__(self, net: NetworkIR, xp: Any, dtype: Any) -> None:
        self.net, self.xp, self.dtype = net, xp, dtype
        self._made: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._made:
            self._made[name] = asarray(self.xp, self.net.params[name].value, self.dtype)
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.net.params)

    def __len__(self) -> int:
        return len(self.net.params)


class Substitution:
    """``T : (u_0, z) ↦ u`` (:meth:`LiftedNetwork.substitute`) as a linear operator on flat
    arrays with batch axes: ``shape_in = (size(u_0) + size(z),)``, ``shape_out = (size(u),)``;
    ``adjoint`` is the backward substitution.  Refuses (``SolveError``) a network whose
    ``M`` is not ``±I`` on the block each layer writes."""

    def __init__(self, net: LiftedNetwork, params: Params | None = None) -> None:
        self.net = net
        self.params = net.params if params is None else params
        self.n0 = net.u_blocks[0].size
        self.shape_in = (self.n0 + net.z_size,)
        self.shape_out = (net.u_size,)
        _check_substitution(net)

    def split(self, x: Any) -> tuple[Any, Any]:
        return x[..., :self.n0], x[..., self.n0:]

    def forward(self, x: Any) -> Any:
        """``T x``, the linear part (no branch bias: see :meth:`point`)."""
        u0, z = self.split(x)
        return array_namespace(x).concat(self.net.substitute(u0, z, self.params, False),
                                         axis=-1)

    def point(self, x: Any) -> Any:
        """``u = T(u_0, z)`` itself: the linear part plus the branch biases."""
        if not self.net.affine_substitution:
            return self.forward(x)
        u0, z = self.split(x)
        return array_namespace(x).concat(self.net.substitute(u0, z, self.params), axis=-1)

    def adjoint(self, g: Any) -> Any:
        net = self.net
        xp = array_namespace(g)
        blocks = [g[..., b.offset:b.offset + b.size] for b in net.u_blocks]
        g0, gz = net.substitute_adjoint(blocks, self.params)
        return xp.concat([g0, *gz], axis=-1)


def _check_substitution(net: LiftedNetwork) -> None:
    """Every layer writes a new block (of its z-block's size for a plain layer), residual
    bases are written before they are read, and every block is written."""
    written = {0}
    for layer in net.layers:
        o = layer.output_block
        ok = (o not in written
              and (layer.base_block is None or layer.base_block in written)
              and (layer.V is not None or layer.z_size == net.u_blocks[o].size))
        if not ok:
            raise SolveError(f"lifted: layer {layer.index + 1} does not write a new block "
                             "with M = ±I there, so M u = V z cannot be solved for u")
        written.add(o)
    if written != set(range(len(net.u_blocks))):
        raise SolveError("lifted: some block of u is written by no layer")


def lifted_network(net: NetworkIR, xp: Any = None, dtype: Any = None,
            params: Params | None = None) -> LiftedNetwork:
    """The runtime of ``net`` on namespace ``xp`` (default NumPy) in ``dtype`` (default
    float64), with ``params`` as its own parameters (default: the IR's initial values)."""
    xp = namespace("numpy") if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    index: dict[str, int] = {}
    u_blocks: list[UBlock] = []

    def add_block(var_id: str) -> int:
        var = net.variables[var_id]
        offset = u_blocks[-1].offset + u_blocks[-1].size if u_blocks else 0
        u_blocks.append(UBlock(var_id, var.name, tuple(var.shape), offset,
                               int(np.prod(var.shape)), var.span))
        index[var_id] = len(u_blocks) - 1
        return index[var_id]

    add_block(net.input)
    layers: list[LiftedLayer] = []
    z_offset = 0
    for l, step in enumerate(net.layers):
        terms = tuple(LiftedTerm(index[t.input], float(t.coef),
                                 tuple(weight_map(m) for m in t.maps))
                      for t in step.affine.terms)
        out = add_block(step.out)
        z_size = step.affine.out_size
        base = V = branch_bias = None
        sign = 1.0
        if isinstance(step, Residual):
            base, sign = index[step.base], float(step.sign)
            V = residual_map(step.v_weight, step.v_transposed, z_size, u_blocks[out].size)
            branch_bias = step.branch_bias
        layers.append(LiftedLayer(l, step, step.psi(), z_offset, z_size, terms, out, base,
                                  step.span, tuple(step.affine.biases), V, sign, branch_bias))
        z_offset += z_size
    if params is None:
        params = OwnParams(net, xp, dtype)
    return LiftedNetwork(net, tuple(u_blocks), tuple(layers), index[net.output], params, xp,
                         dtype)
