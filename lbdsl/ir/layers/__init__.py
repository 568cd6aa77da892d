"""The layer types of the language (the affine forms ``A_θ x + b``): the one list of them.

Each entry is a :class:`~.base.LayerType` that declares everything about itself — reading and
shape rule, description, its operator, its ONNX and PyTorch export or an explicit refusal.  A
new layer type is its operator in :mod:`lbdsl.ops`, its module here and one line below.
"""

from __future__ import annotations

from ...registry import Registry
from .base import LayerType
from .conv import Conv2dLayer
from .matrix import DenseLayer, MatMul

__all__ = ["LAYER_TYPES", "LayerType", "layer_type"]

LAYER_TYPES: Registry[LayerType] = Registry("layer type", (MatMul(), DenseLayer(), Conv2dLayer()))


def layer_type(kind: str) -> LayerType:
    """The layer type of an ``Affine.kind``."""
    return LAYER_TYPES[kind]
