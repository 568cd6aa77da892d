"""The regularisers a spec may name (``0.015 * tv + nonneg``): the one list of them.

Each entry is a :class:`~.base.Regulariser` class, which declares everything about itself —
its spec name, its parameters (its :func:`~lbdsl.options.option` fields, read by the spec
reader with their domains), its facts (``fold``, ``indicator``, ``needs_shape``, ``modulus``,
``penalises_states``) and its maths.  A new regulariser is its class and one line here, or
``REGULARISERS.register(MyRegulariser)`` from anywhere.
"""

from __future__ import annotations

from typing import Any

from ...options import DOMAINS, admits, options
from ...registry import Registry
from .base import Regulariser
from .indicators import Box, NonNeg
from .l1 import L1
from .l2sq import L2Squared
from .tv import TV

__all__ = ["REGULARISERS", "make_regulariser", "closest_regulariser", "regulariser_params"]

REGULARISERS: Registry[type[Regulariser]] = Registry(
    "regulariser", (TV, L1, L2Squared, NonNeg, Box))


def regulariser_params(cls: type[Regulariser]) -> tuple[str, ...]:
    """The names of ``cls``'s spec parameters, in order."""
    return tuple(o.name for o in options(cls))


def make_regulariser(name: str, *args: float, shape: tuple[int, ...] | None = None,
                     **kwargs: float) -> Regulariser:
    """Build the regulariser ``name`` from its parameters (positional or keyword); ``shape`` is
    the declared input shape (used where the regulariser needs it, ignored elsewhere).
    ``KeyError`` if the name is unknown, ``ValueError`` with a readable reason on bad
    parameters."""
    cls = REGULARISERS[name]
    declared = options(cls)
    names = [o.name for o in declared]
    if len(args) > len(names):
        raise ValueError(f"`{name}` takes {len(names)} parameter(s) "
                         f"({', '.join(names) or 'none'}), got {len(args)}")
    values: dict[str, Any] = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise ValueError(f"`{name}` has no parameter `{key}` "
                             f"(parameters: {', '.join(names) or 'none'})")
        if key in values:
            raise ValueError(f"`{name}` got parameter `{key}` twice")
        values[key] = value
    missing = [o.name for o in declared if o.required and o.name not in values]
    if missing:
        raise ValueError(f"`{name}` needs parameter(s) {', '.join(missing)}")
    for o in declared:
        if o.name in values and not admits(o.domain, values[o.name]):
            raise ValueError(f"`{name}` needs {DOMAINS[o.domain][1]} for `{o.name}`, got "
                             f"{values[o.name]!r}")
    return cls.build(shape=shape, **values)


def closest_regulariser(name: str) -> str | None:
    """The registered name closest to ``name`` (for "did you mean"), or None."""
    return REGULARISERS.closest(name)
