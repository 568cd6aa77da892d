"""Networks from spec text through the real front end, for tests of every stage."""

from __future__ import annotations

from lbdsl.program import build_module
from lbdsl.syntax.parser import parse

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


def build_net(source: str, name: str = "spec.lbn"):
    """The one network of the spec ``source``."""
    module = build_module(parse(source, name))
    (net,) = module.networks.values()
    return net
