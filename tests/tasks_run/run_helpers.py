"""Tiny specs shared by the task-runner tests."""

from __future__ import annotations

from spec_helpers import TINY_NET

TINY_INVERT = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.5, seed = 3)
    regulariser = 0.01 * tv + nonneg
    solver      = pdhg(max_iter = 40)
}
"""
