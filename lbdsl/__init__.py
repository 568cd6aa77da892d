"""lbdsl — a declarative compiler for lifted Bregman networks.

A network whose activations are proximal maps, ``x_l = prox_{Ψ_l}(W_l x_{l-1} + b_l)``, is
written in a ``.lbn`` spec, lifted into the compact form ``K u``, ``M u = V prox_Ψ(W u + b)``,
certified (``Q ⪰ 0``) and lowered to array solvers for inversion and training.

``lbdsl.load(path).solve()`` does from Python what ``lbdsl solve`` does (see :mod:`lbdsl.api`).
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Spec

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path: str | PathLike[str] | None = None,
         overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """Load a ``.lbn`` spec (``None``: the built-in demo), applying ``--set`` overrides.

    Imported lazily, so that ``import lbdsl`` stays cheap.
    """
    from .api import load as _load

    return _load(path, overrides)
