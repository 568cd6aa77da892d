"""The regulariser names a spec may use (``0.015 * tv + nonneg``) and how to build them."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .base import Regulariser
from .indicators import Box, NonNeg
from .l1 import L1
from .l2sq import L2Squared
from .tv import TV

__all__ = ["RegulariserSpec", "REGULARISERS", "make_regulariser", "closest_regulariser"]


@dataclass(frozen=True, slots=True)
class RegulariserSpec:
    """A registry entry; calling it builds the regulariser: ``REGULARISERS["box"](0, 1)``.

    ``params`` are the spec's parameters in order (positional or keyword).  Every entry also
    takes ``shape=`` (the declared input shape), which only ``tv`` needs and the others ignore.
    """

    name: str
    params: tuple[str, ...]
    needs_shape: bool
    build: Callable[..., Regulariser]
    summary: str

    def __call__(self, *args: float, shape: tuple[int, ...] | None = None,
                 **kwargs: float) -> Regulariser:
        if len(args) > len(self.params):
            raise ValueError(f"`{self.name}` takes {len(self.params)} parameter(s) "
                             f"({', '.join(self.params) or 'none'}), got {len(args)}")
        values = dict(zip(self.params, args))
        for key, value in kwargs.items():
            if key not in self.params:
                allowed = ", ".join(self.params) or "none"
                raise ValueError(f"`{self.name}` has no parameter `{key}` (parameters: {allowed})")
            if key in values:
                raise ValueError(f"`{self.name}` got parameter `{key}` twice")
            values[key] = value
        missing = [p for p in self.params if p not in values]
        if missing:
            raise ValueError(f"`{self.name}` needs parameter(s) {', '.join(missing)}")
        for key, value in values.items():
            if not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"`{self.name}` needs a number for `{key}`, got {value!r}")
        if self.needs_shape:
            if shape is None:
                raise ValueError(f"`{self.name}` acts on the input's declared shape: pass shape=")
            return self.build(shape=tuple(shape), **values)
        return self.build(**values)


REGULARISERS: Mapping[str, RegulariserSpec] = MappingProxyType({
    "tv": RegulariserSpec("tv", (), True, TV,
                          "isotropic total variation Σ‖(∇u)_i‖₂ on the declared shape"),
    "l1": RegulariserSpec("l1", (), False, L1, "‖u‖₁"),
    "l2sq": RegulariserSpec("l2sq", (), False, L2Squared, "½‖u‖² (Tikhonov)"),
    "nonneg": RegulariserSpec("nonneg", (), False, NonNeg, "indicator of u ≥ 0"),
    "box": RegulariserSpec("box", ("lo", "hi"), False, Box, "indicator of lo ≤ u ≤ hi"),
})


def make_regulariser(name: str, *args: float, shape: tuple[int, ...] | None = None,
                     **kwargs: float) -> Regulariser:
    """Build the regulariser ``name``; ``KeyError`` if unknown, ``ValueError`` on bad parameters."""
    return REGULARISERS[name](*args, shape=shape, **kwargs)


def closest_regulariser(name: str) -> str | None:
    """The registered name closest to ``name`` (for "did you mean"), or None."""
    match = difflib.get_close_matches(name, list(REGULARISERS), n=1, cutoff=0.6)
    return match[0] if match else None
