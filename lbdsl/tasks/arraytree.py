"""A tree of arrays and plain values ↔ a JSON document plus named arrays (for an ``.npz``).

A solver's state is a nest of dicts, tuples and lists holding arrays, numbers, strings, a
:class:`~lbdsl.solvers.base.History` and, for a warm start, a whole
:class:`~lbdsl.solvers.base.SolveResult`.  :func:`pack` turns such a tree into a JSON document in
which every container is a one-key object naming its kind (``{"tuple": [...]}``,
``{"array": "a3"}``, …) and every array is replaced by a key into a dict of NumPy arrays;
:func:`unpack` is its exact inverse: arrays come back with their dtype and values on the
namespace asked for, floats through JSON's shortest round-tripping ``repr`` (NaN and ±∞
included), tuples as tuples.  Nothing is pickled; an unknown type is a ``TypeError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from ..backend import to_numpy
from ..solvers.base import History, SolveResult

__all__ = ["pack", "unpack"]


def pack(tree: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``(document, arrays)`` for ``tree`` (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}

    def enc(value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, History):
            return {"history": {"iteration": list(value.iteration), "metrics": value.metrics}}
        if isinstance(value, SolveResult):
            return {"result": {f.name: enc(getattr(value, f.name))
                               for f in dataclasses.fields(value)}}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("only dicts with string keys can be packed")
            return {"dict": {k: enc(v) for k, v in value.items()}}
        if isinstance(value, (tuple, list)):
            return {type(value).__name__: [enc(v) for v in value]}
        if isinstance(value, np.ndarray) or is_array_api_obj(value):
            array = np.array(to_numpy(value))
            if array.dtype.hasobject:
                raise TypeError("object arrays cannot be packed")
            key = f"a{len(arrays)}"
            arrays[key] = array
            return {"array": key}
        raise TypeError(f"cannot pack a {type(value).__name__}")

    return enc(tree), arrays


def unpack(document: Any, arrays: dict[str, np.ndarray], xp: Any) -> Any:
    """The tree :func:`pack` made ``(document, arrays)`` from, its arrays on namespace ``xp``."""

    def dec(value: Any) -> Any:
        if not isinstance(value, dict):
            if isinstance(value, list):
                raise ValueError("a bare list in a packed document")
            return value
        (kind, body), = value.items()
        if kind == "array":
            return xp.asarray(arrays[body])
        if kind == "dict":
            return {k: dec(v) for k, v in body.items()}
        if kind == "tuple":
            return tuple(dec(v) for v in body)
        if kind == "list":
            return [dec(v) for v in body]
        if kind == "history":
            return History([int(i) for i in body["iteration"]],
                           {k: [float(v) for v in vs] for k, vs in body["metrics"].items()})
        if kind == "result":
            return SolveResult(**{k: dec(v) for k, v in body.items()})
        raise ValueError(f"unknown kind {kind!r} in a packed document")

    return dec(document)
