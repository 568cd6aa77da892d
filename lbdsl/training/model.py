"""The trainable view of a network: its layers as ``x_out = σ(A_Θ x_in + b)``, the roles of its
variables, and its parameters as arrays of one backend and dtype.

Lifted training (math.md §5) works on any network of plain layers — ``ψ(A @ x + b)``, ``dense``,
``conv2d``, linear layers, the two layers of ``y = c @ ψ(...)`` — wired as a directed acyclic
graph over SSA variables.  Variables have three roles: the *input* (fixed to the data), the
*output* (fixed to the targets) and the *hidden* states (free, one per sample).  For each hidden
state the model knows the layer that defines it and the layers that read it: the two kinds of
terms its update combines.  Residual layers ``x = x ± V ψ(A x + b)`` are refused for now: their
output is not a proximal map of one affine image, so they do not fit ``B_Ψ(x_out, A x_in + b)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import asarray, namespace
from ..errors import SolveError
from ..ir.nodes import Layer, NetworkIR, size_of
from .layers import TrainableAffine

__all__ = ["TrainLayer", "Model"]


@dataclass(frozen=True, eq=False)
class TrainLayer:
    """``out = σ(A_Θ input + b)`` with ``σ = prox_Ψ`` (identity Ψ for a linear layer)."""

    index: int
    out: str
    input: str
    psi: Any
    op: TrainableAffine

    @property
    def linear(self) -> bool:
        return self.psi.name == "identity"

    def activate(self, z: Any) -> Any:
        return z if self.linear else self.psi.prox(z)


@dataclass(frozen=True, eq=False)
class Model:
    """A network ready for training (see the module docstring)."""

    net: NetworkIR
    layers: tuple[TrainLayer, ...]
    hidden: tuple[str, ...]                  # hidden states, in definition (topological) order
    defining: dict[str, int]                 # state → index of the layer that writes it
    readers: dict[str, tuple[int, ...]]      # state → indices of the layers that read it
    param_names: tuple[str, ...]             # every parameter a layer uses, declaration order

    @property
    def input(self) -> str:
        return self.net.input

    @property
    def output(self) -> str:
        return self.net.output

    def size(self, var: str) -> int:
        return size_of(self.net.variables[var].shape)

    @classmethod
    def from_ir(cls, net: NetworkIR, xp: Any = None) -> "Model":
        """The trainable view of ``net`` on namespace ``xp`` (NumPy's by default);
        ``SolveError`` (one line) for what it cannot train."""
        xp = xp if xp is not None else namespace("numpy")
        layers = []
        for index, step in enumerate(net.layers):
            if not isinstance(step, Layer):
                where = f" (line {step.span.line})" if step.span else ""
                raise SolveError(
                    f"training handles feed-forward layers only: `{net.variables[step.out].name}`"
                    f"{where} is a residual layer x = x ± V σ(A x + b), not supported yet")
            ndim = net.params[step.affine.weight].value.ndim
            if step.affine.kind != "conv2d" and ndim > 2:
                raise SolveError(f"`{step.affine.weight}` has {ndim} dimensions; `@` needs a "
                                 "matrix or a row vector")
            layers.append(TrainLayer(index, step.out, step.affine.input, step.psi(),
                                     TrainableAffine(step.affine, xp)))
        if not layers:
            raise SolveError(f"network `{net.name}` has no layer to train")
        defining = {layer.out: layer.index for layer in layers}
        if net.output not in defining:
            raise SolveError(f"the output `{net.output}` of network `{net.name}` is not computed "
                             "by a layer, so there is nothing to train")
        hidden = tuple(layer.out for layer in layers if layer.out != net.output)
        readers: dict[str, list[int]] = {}
        for layer in layers:
            readers.setdefault(layer.input, []).append(layer.index)
        used = {layer.op.weight for layer in layers} | {
            layer.op.bias for layer in layers if layer.op.bias is not None}
        names = tuple(name for name in net.params if name in used)
        return cls(net, tuple(layers), hidden, {v: defining[v] for v in hidden},
                   {v: tuple(readers.get(v, ())) for v in hidden}, names)

    # -- parameters ----------------------------------------------------------------------------
    def init_params(self, xp: Any, dtype: Any, initial: dict[str, Any] | None = None,
                    ) -> dict[str, Any]:
        """The parameters as ``xp`` arrays of ``dtype``: ``initial[name]`` where given, else the
        network's initial values."""
        out = {}
        for name in self.param_names:
            given = initial is not None and name in initial
            array = asarray(xp, initial[name] if given else self.net.params[name].value,
                            dtype=dtype)
            if tuple(array.shape) != tuple(self.net.params[name].shape):
                raise SolveError(f"parameter `{name}` must have shape "
                                 f"{self.net.params[name].shape}, got {tuple(array.shape)}")
            out[name] = array
        return out

    # -- forward pass --------------------------------------------------------------------------
    def forward(self, params: dict[str, Any], x0: Any) -> tuple[dict[str, Any], list[Any]]:
        """Every variable's rows (flattened) and every layer's pre-activation for rows ``x0``."""
        values = {self.input: x0}
        pre = []
        for layer in self.layers:
            z = layer.op.forward(params, values[layer.input])
            pre.append(z)
            values[layer.out] = layer.activate(z)
        return values, pre
