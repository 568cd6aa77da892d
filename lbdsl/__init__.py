"""lbdsl — a declarative compiler for lifted Bregman networks.

A network whose activations are proximal maps, ``x_l = prox_{Ψ_l}(W_l x_{l-1} + b_l)``, is
written in a ``.lbn`` spec, lifted into the compact form ``K u``, ``M u = V prox_Ψ(W u + b)``,
certified (``Q ⪰ 0``) and lowered to array solvers for inversion and training.

``lbdsl.load(path).solve()`` does from Python what ``lbdsl solve`` does (see :mod:`lbdsl.api`);
``lbdsl.loads(text)`` takes a spec as a string; ``lbdsl.import_onnx`` / ``lbdsl.from_torch``
bring a model in (:mod:`lbdsl.exchange`).
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Spec

from ._version import __version__

__all__ = ["__version__", "load", "loads", "import_onnx", "from_torch", "Network"]


def load(path: str | PathLike[str] | None = None,
         overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """Load a ``.lbn`` spec (``None``: the built-in demo), applying ``--set`` overrides.

    Imported lazily, so that ``import lbdsl`` stays cheap.
    """
    from .api import load as _load

    return _load(path, overrides)


def loads(text: str, overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """A spec from a string (:func:`lbdsl.api.loads`)."""
    from .api import loads as _loads

    return _loads(text, overrides)


def import_onnx(model: str | PathLike[str], out: str | PathLike[str] = ".",
                name: str | None = None) -> Spec:
    """``lbdsl import``: write ``out/NAME.lbn`` and ``out/NAME.npz`` for an ONNX model and
    load the spec (:mod:`lbdsl.exchange`)."""
    from .exchange import import_onnx as _import

    spec, _ = _import(model, out, name)
    return load(spec)


def from_torch(module: object, example_input: object, out: str | PathLike[str] = ".",
               name: str = "model") -> Spec:
    """A ``torch.nn`` module through ONNX into ``out/NAME.lbn`` + ``NAME.npz``, loaded."""
    from .exchange import from_torch as _from_torch

    spec, _ = _from_torch(module, example_input, out, name)
    return load(spec)


def __getattr__(name: str) -> object:
    if name == "Network":   # the builder, imported on first use
        from .builder import Network

        return Network
    raise AttributeError(f"module 'lbdsl' has no attribute {name!r}")
