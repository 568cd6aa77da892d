"""Networks from spec text through the real front end, for tests of every stage."""

from __future__ import annotations

from lbdsl.ir.build import build_module
from lbdsl.syntax.parser import parse


def build_net(source: str, name: str = "spec.lbn"):
    """The one network of the spec ``source``."""
    module = build_module(parse(source, name))
    (net,) = module.networks.values()
    return net
