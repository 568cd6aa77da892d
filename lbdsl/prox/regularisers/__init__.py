"""Regularisers ``J`` for inversion: value, ``prox_{cJ}``, ``J*`` and ``prox_{cJ*}``.

``tv`` (isotropic, Neumann), ``l1``, ``l2sq``, ``nonneg``, ``box(lo, hi)``; the mixed norm
``‖·‖_{2,1}`` that TV is made of; ``Weighted`` for ``α·J``; ``REGULARISERS`` for the front end.
"""

from .base import Regulariser, Weighted
from .indicators import Box, NonNeg
from .l1 import L1, soft_threshold
from .l2sq import L2Squared
from .mixed_norm import MixedNorm21, project_balls
from .registry import REGULARISERS, closest_regulariser, make_regulariser
from .tv import TV, TVProxResult

__all__ = [
    "Regulariser", "Weighted", "L1", "L2Squared", "NonNeg", "Box", "MixedNorm21", "TV",
    "TVProxResult", "soft_threshold", "project_balls", "REGULARISERS",
    "make_regulariser", "closest_regulariser",
]
