"""The commented starter spec written by ``lbdsl init NAME``."""

from __future__ import annotations

__all__ = ["starter_spec"]

_TEMPLATE = '''\
# {name}.lbn — a starter lbdsl spec. Run:
#   lbdsl show {name}.lbn      the network, layer by layer
#   lbdsl check {name}.lbn     is the lifted problem convex? (a certificate, before solving)
#   lbdsl solve {name}.lbn     invert the network from noisy data; results in ./lbdsl-out/{name}/
# The language reference is docs/language.md in the lbdsl sources; `lbdsl show` with no file
# prints the built-in demo, another small example.

network {name} {{
    input  u : 16x16                              # the unknown we recover: a 16x16 image
    param  W : 128x256 = normal(std = 1, seed = 0) # 128 measurements of the 256 pixels
    param  b : 128     = normal(std = 1, seed = 1)
    h = relu(W @ u + b)                           # one layer; relu = prox of the indicator of [0, inf)
    output h
}}

invert {name} {{
    truth       = image("shepp_logan", size = 16x16)             # synthetic ground truth
    data        = forward(truth) + gaussian(relative = 0.01, seed = 3)  # 1% noise
    fidelity    = bregman                                        # or l2, the quadratic baseline
    regulariser = 0.015 * tv                                     # e.g. 0.015 * tv + nonneg
    solver      = pdhg(max_iter = 2000, tol = 1e-6)
}}
'''


def starter_spec(name: str) -> str:
    """A commented ``.lbn`` file defining a network called ``name`` and a task for it."""
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "net"
    if safe[0].isdigit():
        safe = f"net_{safe}"
    return _TEMPLATE.format(name=safe)
