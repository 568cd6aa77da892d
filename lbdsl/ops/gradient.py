"""The discrete gradient (forward differences, Neumann boundary) and its divergence ``−∇ᵀ``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

__all__ = ["Gradient", "divergence"]


def _zero_slab(xp: Any, x: Any, axis: int) -> Any:
    """Zeros shaped like ``x`` but of length 1 along ``axis`` (built, not sliced: slicing is
    the costly operation in strict array-API namespaces)."""
    shape = list(x.shape)
    shape[axis] = 1
    return xp.zeros(tuple(shape), dtype=x.dtype, device=device(x))


def _along(axis: int, sl: slice) -> tuple[Any, ...]:
    """An index selecting ``sl`` along ``axis`` (counted from the end, ``axis < 0``)."""
    return (..., sl) + (slice(None),) * (-axis - 1)


@dataclass(frozen=True)
class Gradient:
    """``(∇u)_{a, i} = u_{i + e_a} − u_i`` if ``i_a < n_a − 1``, else ``0`` (Neumann boundary).

    ``shape_in = shape`` (any number of axes), ``shape_out = (ndim, *shape)``: 1-D ``(n,)`` maps
    to ``(1, n)`` and 2-D ``(H, W)`` to ``(2, H, W)``, component ``a`` differencing axis ``a``.
    ``adjoint = −divergence``; ``‖∇‖² ≤ 4·ndim`` (:attr:`norm_squared_bound`), e.g. 8 in 2-D.
    """

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if not shape or any(n < 1 for n in shape):
            raise ValueError(f"Gradient needs a non-empty shape of positive sizes, got {shape}")
        object.__setattr__(self, "shape", shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def shape_in(self) -> tuple[int, ...]:
        return self.shape

    @property
    def shape_out(self) -> tuple[int, ...]:
        return (self.ndim, *self.shape)

    @property
    def norm_squared_bound(self) -> float:
        """``4·ndim ≥ ‖∇‖²`` (each axis contributes a path-graph Laplacian of norm < 4)."""
        return 4.0 * self.ndim

    def forward(self, u: Any) -> Any:
        """``∇u`` for ``u`` of shape ``(..., *shape)`` → ``(..., ndim, *shape)``."""
        xp = array_namespace(u)
        d = self.ndim
        parts = []
        for a in range(d):
            axis = a - d  # counted from the end, so batch axes may precede
            diff = u[_along(axis, slice(1, None))] - u[_along(axis, slice(0, -1))]
            parts.append(xp.concat([diff, _zero_slab(xp, u, axis)], axis=axis))
        return xp.stack(parts, axis=-d - 1)

    def divergence(self, p: Any) -> Any:
        """``div p = −∇ᵀp = Σ_a (p̄_{a,i} − p̄_{a,i−e_a})``.

        ``p̄_{a,i} = p_{a,i}`` where ``0 ≤ i_a < n_a − 1`` and 0 otherwise; ``p`` has shape
        ``(..., ndim, *shape)``, the result ``(..., *shape)``.
        """
        xp = array_namespace(p)
        d = self.ndim
        out = None
        for a, pa in enumerate(xp.unstack(p, axis=-d - 1)):
            axis = a - d
            # p_a without its last entry (which ∇ never writes), shifted against itself
            inner = pa[_along(axis, slice(0, -1))]
            zero = _zero_slab(xp, pa, axis)
            term = xp.concat([inner, zero], axis=axis) - xp.concat([zero, inner], axis=axis)
            out = term if out is None else out + term
        return out

    def adjoint(self, p: Any) -> Any:
        """``∇ᵀp = −div p``."""
        return -self.divergence(p)


def divergence(p: Any, shape: tuple[int, ...]) -> Any:
    """``div p = −∇ᵀp`` for the gradient on ``shape`` (see :meth:`Gradient.divergence`)."""
    return Gradient(tuple(shape)).divergence(p)
