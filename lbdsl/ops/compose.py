"""Small operator algebra: identity, reshape (flatten), scaling, composition and sums."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from .base import LinearOperator

__all__ = ["Identity", "Reshape", "Scaled", "Composed", "Sum"]


@dataclass(frozen=True)
class Identity:
    """``I x = x`` on ``shape``."""

    shape: tuple[int, ...]

    @property
    def shape_in(self) -> tuple[int, ...]:
        return tuple(self.shape)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return tuple(self.shape)

    def forward(self, x: Any) -> Any:
        return x

    def adjoint(self, y: Any) -> Any:
        return y


@dataclass(frozen=True)
class Reshape:
    """Row-major (C-order) reshape ``ℝ^{shape_in} → ℝ^{shape_out}``, e.g. flattening a conv output.

    An orthogonal map: its adjoint is the inverse reshape.
    """

    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]

    def __post_init__(self) -> None:
        if _size(self.shape_in) != _size(self.shape_out):
            raise ValueError(f"cannot reshape {self.shape_in} into {self.shape_out}")

    def forward(self, x: Any) -> Any:
        xp = array_namespace(x)
        batch = tuple(x.shape[:x.ndim - len(self.shape_in)])
        return xp.reshape(x, (*batch, *self.shape_out))

    def adjoint(self, y: Any) -> Any:
        xp = array_namespace(y)
        batch = tuple(y.shape[:y.ndim - len(self.shape_out)])
        return xp.reshape(y, (*batch, *self.shape_in))


@dataclass(frozen=True, eq=False)
class Scaled:
    """``(α A) x = α · A x``, adjoint ``α · Aᵀ y``."""

    alpha: float
    op: LinearOperator

    @property
    def shape_in(self) -> tuple[int, ...]:
        return tuple(self.op.shape_in)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return tuple(self.op.shape_out)

    def forward(self, x: Any) -> Any:
        return self.alpha * self.op.forward(x)

    def adjoint(self, y: Any) -> Any:
        return self.alpha * self.op.adjoint(y)


@dataclass(frozen=True, eq=False)
class Composed:
    """``(A_1 ∘ A_2 ∘ … ∘ A_k) x = A_1(A_2(… A_k x))``; adjoint ``A_kᵀ … A_1ᵀ y``.

    ``ops`` is written in the mathematical order (outermost first), like ``A_1 @ A_2 @ x``.
    """

    ops: tuple[LinearOperator, ...]

    def __post_init__(self) -> None:
        if not self.ops:
            raise ValueError("Composed needs at least one operator")
        for outer, inner in zip(self.ops[:-1], self.ops[1:]):
            if tuple(outer.shape_in) != tuple(inner.shape_out):
                raise ValueError(f"cannot compose: an operator with input shape "
                                 f"{tuple(outer.shape_in)} after one with output shape "
                                 f"{tuple(inner.shape_out)}")

    @property
    def shape_in(self) -> tuple[int, ...]:
        return tuple(self.ops[-1].shape_in)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return tuple(self.ops[0].shape_out)

    def forward(self, x: Any) -> Any:
        for op in reversed(self.ops):
            x = op.forward(x)
        return x

    def adjoint(self, y: Any) -> Any:
        for op in self.ops:
            y = op.adjoint(y)
        return y


@dataclass(frozen=True, eq=False)
class Sum:
    """``(A_1 + … + A_k) x``; all terms share ``shape_in`` and ``shape_out``."""

    ops: tuple[LinearOperator, ...]

    def __post_init__(self) -> None:
        if not self.ops:
            raise ValueError("Sum needs at least one operator")
        first = self.ops[0]
        for op in self.ops[1:]:
            if (tuple(op.shape_in), tuple(op.shape_out)) != (tuple(first.shape_in),
                                                             tuple(first.shape_out)):
                raise ValueError("cannot add operators of different shapes: "
                                 f"{tuple(first.shape_in)} → {tuple(first.shape_out)} and "
                                 f"{tuple(op.shape_in)} → {tuple(op.shape_out)}")

    @property
    def shape_in(self) -> tuple[int, ...]:
        return tuple(self.ops[0].shape_in)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return tuple(self.ops[0].shape_out)

    def forward(self, x: Any) -> Any:
        out = self.ops[0].forward(x)
        for op in self.ops[1:]:
            out = out + op.forward(x)
        return out

    def adjoint(self, y: Any) -> Any:
        out = self.ops[0].adjoint(y)
        for op in self.ops[1:]:
            out = out + op.adjoint(y)
        return out


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
