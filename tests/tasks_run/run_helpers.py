"""Tiny specs shared by the task-runner tests."""

from __future__ import annotations

#: An 8×8 → 32 ReLU perceptron: the smallest network with an image input.
TINY_NET = """
network tiny {
    input  u : 8x8
    param  W : 32x64 = normal(std = 1, seed = 0)
    param  b : 32    = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}
"""

TINY_INVERT = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.5, seed = 3)
    regulariser = 0.01 * tv + nonneg
    solver      = pdhg(max_iter = 40)
}
"""
