"""The layer types of the language (the linear maps a pre-activation applies): the one list.

Each entry is a :class:`~.base.LayerType` that declares everything about itself — reading and
shape rule, description, its operator, its ONNX and PyTorch export or an explicit refusal.  A
new layer type is its operator in :mod:`lbdsl.ops`, its module here and one line below.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from ...registry import Registry
from ..nodes import Affine
from .base import CreatingLayerType, LayerType
from .conv import Conv2dLayer, Conv2dTLayer, ConvLayer
from .matrix import DenseLayer, MatMul

__all__ = ["LAYER_TYPES", "LayerType", "CreatingLayerType", "call_type", "describe"]

LAYER_TYPES: Registry[LayerType] = Registry(
    "layer type", (MatMul(), DenseLayer(), Conv2dLayer(), Conv2dTLayer(), ConvLayer()))


def call_type(func: str) -> LayerType | None:
    """The layer type a call ``func(...)`` writes (``dense``, ``conv_t``), or None."""
    return next((t for t in LAYER_TYPES.values() if func in t.calls), None)


def describe(affine: Affine, name: Callable[[str], str] = str,
             hidden: Collection[str] = ()) -> str:
    """``affine`` as a spec writes it, ``name(id)`` naming each variable it reads; the biases
    in ``hidden`` (those a call created, ``dense``'s) are not written."""
    parts = []
    for t in affine.terms:
        text = name(t.input)
        for m in reversed(t.maps):
            text = LAYER_TYPES[m.kind].describe(m, text)
        c = abs(t.coef)
        scaled = text if c == 1.0 else f"{c:g} * {text}"
        if t.coef < 0 and not parts and t.maps and c == 1.0:
            scaled = f"({scaled})"          # -A @ x would read as (-A) @ x
        parts.append(("- " if t.coef < 0 else "+ ") + scaled)
    parts += [f"+ {b}" for b in affine.biases if b not in hidden]
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]
