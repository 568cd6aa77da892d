"""A network IR from arrays, without any spec: the numerical library used from Python alone.

    >>> net = feed_forward((16, 16), [(W1, b1, "relu"), (W2, b2, "identity")])
    >>> lp = lbdsl.lift.compact.lift(net)          # then any solver on an InverseProblem

Each layer ``h_k = ψ_k(W_k h_{k−1} + b_k)`` is a ``matmul`` layer of the language (``W_k``
applied to the row-major flattening of its input), its Ψ a name of the activation catalogue
with its parameters (``("leaky_relu", {"a": 0.1})``).  The IR is the one a spec builds —
``lift``, the certificate, the solvers, training and the exporters take it alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import LbdslError
from ..prox.registry import make_activation
from .graph import build_graph
from .nodes import Layer, NetworkIR, Param, Shape, Variable, simple_affine, size_of

__all__ = ["feed_forward"]

Activation = str | tuple[str, Mapping[str, float]]


def feed_forward(input_shape: Shape | int, layers: Sequence[tuple[Any, Any, Activation]],
                 name: str = "net") -> NetworkIR:
    """The network ``u → ψ_L(W_L ⋯ ψ_1(W_1 u + b_1) ⋯ + b_L)``; ``layers`` are
    ``(W, b, ψ)`` with ``b`` None for no bias and ``ψ`` a catalogue name (or ``(name,
    params)``); the parameters are named ``W1, b1, W2, …``, the variables ``u, h1, h2, …``."""
    shape = (int(input_shape),) if isinstance(input_shape, (int, np.integer)) else \
        tuple(int(d) for d in input_shape)
    variables = {"u": Variable("u", "u", shape, None)}
    params: dict[str, Param] = {}
    steps: list[Layer] = []
    x, width = "u", size_of(shape)
    for k, (W, b, act) in enumerate(layers, start=1):
        psi_name, psi_params = (act, {}) if isinstance(act, str) else (act[0], dict(act[1]))
        psi = make_activation(psi_name, **psi_params)        # a ValueError says why not
        W = np.ascontiguousarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != width:
            raise LbdslError(f"layer {k}: W has shape {W.shape}, but its input has {width} "
                             "entries")
        params[f"W{k}"] = Param(f"W{k}", W.shape, W, None, "array", f"W{k}")
        bias = None
        if b is not None:
            b = np.ascontiguousarray(b, dtype=np.float64).reshape(-1)
            if b.size != W.shape[0]:
                raise LbdslError(f"layer {k}: b has {b.size} entries, W {W.shape[0]} rows")
            params[f"b{k}"] = Param(f"b{k}", b.shape, b, None, "array", f"b{k}")
            bias = f"b{k}"
        out = f"h{k}"
        variables[out] = Variable(out, out, (W.shape[0],), None)
        affine = simple_affine("matmul", x, f"W{k}", False, bias, variables[x].shape,
                               (W.shape[0],), None)
        steps.append(Layer(out, psi_name, psi.params(), affine, psi_name == "identity", None))
        x, width = out, W.shape[0]
    if not steps:
        raise LbdslError("a network needs at least one layer")
    graph = build_graph(name, "u", x, variables, params, tuple(steps))
    return NetworkIR(name, "u", shape, params, tuple(steps), x, variables, graph)
