"""The orthonormal DCT-II and its inverse (DCT-III) through the array API's FFT (Makhoul 1980).

The Neumann Laplacian ``∇ᵀ∇`` of :class:`~lbdsl.ops.gradient.Gradient` (forward differences, zero
last difference) is diagonal in the DCT-II basis: along an axis of length ``N`` its eigenvalues
are ``2 − 2cos(πk/N)``, ``k = 0, …, N−1``, with the cosine vectors as eigenvectors.  ``scipy.fft``
has ``dctn`` but is NumPy-only; this module computes the same transform on any array-API namespace
(NumPy, CuPy, ``array_api_strict``) with one complex FFT per axis:

    v = (x_0, x_2, x_4, …, x_5, x_3, x_1)            (even entries, then the odd ones reversed)
    X_k = Re(w_k · FFT(v)_k),   w_k = 2 f_k e^{−iπk/(2N)},   f_0 = √(1/(4N)),  f_k = √(1/(2N))

and back, with ``Y_k = X_k / f_k`` and ``Y_N = 0``:

    FFT(v)_k = ½ e^{iπk/(2N)} (Y_k − i Y_{N−k}),     x = v permuted back.

``X = C x`` with ``C`` orthogonal (``scipy.fft.dct(x, norm="ortho")``), so the inverse is ``Cᵀ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DCT", "neumann_eigenvalues"]


@dataclass(frozen=True, eq=False)
class _Axis:
    """The constants of one axis of length ``n``: permutation, its inverse, twiddles."""

    n: int
    perm: Any
    inv: Any
    fwd_re: Any  # Re w_k
    fwd_im: Any  # Im w_k
    cdtype: Any
    back: Any    # ½ e^{iπk/(2N)} / f_k folded together with Y_k = X_k / f_k (complex)
    back_mirror: Any  # the same factor times −i, for the mirrored term


class DCT:
    """``forward`` (``C``) and ``inverse`` (``Cᵀ``) over the last ``len(shape)`` axes of arrays of
    trailing shape ``shape``, on namespace ``xp`` in real dtype ``dtype`` (constants built once)."""

    def __init__(self, xp: Any, shape: tuple[int, ...], dtype: Any, device: Any = None) -> None:
        self.xp = xp
        self.shape = tuple(int(n) for n in shape)
        self.dtype = dtype
        cdtype = xp.complex64 if dtype == xp.float32 else xp.complex128
        self._axes = tuple(self._axis(n, cdtype, device) for n in self.shape)

    def _axis(self, n: int, cdtype: Any, device: Any) -> _Axis:
        xp = self.xp
        perm = np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)[::-1]])
        f = np.full(n, math.sqrt(1.0 / (2 * n)))
        f[0] = math.sqrt(1.0 / (4 * n))
        theta = np.pi * np.arange(n) / (2 * n)
        fwd = 2.0 * f * np.exp(-1j * theta)
        back = 0.5 * np.exp(1j * theta)
        # Y_{N−k} = X_{N−k} / f_{N−k}: the mirrored term's 1/f is that of index N − k (k ≥ 1)
        f_mirror = np.concatenate([[1.0], f[1:][::-1]])

        def arr(a: np.ndarray, dtype: Any) -> Any:
            return xp.asarray(a, dtype=dtype, device=device)

        return _Axis(n, arr(perm, xp.int64), arr(np.argsort(perm), xp.int64),
                     arr(fwd.real, self.dtype), arr(fwd.imag, self.dtype), cdtype,
                     arr(back / f, cdtype), arr(-1j * back / f_mirror, cdtype))

    def _last(self, x: Any, axis: int) -> Any:
        """``x`` with ``axis`` (negative) moved last."""
        if axis == -1:
            return x
        order = list(range(x.ndim))
        a = x.ndim + axis
        order[a], order[-1] = order[-1], order[a]
        return self.xp.permute_dims(x, tuple(order))

    def _forward_axis(self, x: Any, ax: _Axis, axis: int) -> Any:
        xp = self.xp
        y = self._last(x, axis)
        spec = xp.fft.fft(xp.astype(xp.take(y, ax.perm, axis=-1), ax.cdtype), axis=-1)
        # Re(w·V) by real arithmetic: a fresh (contiguous) real array, not a strided view
        return self._last(xp.real(spec) * ax.fwd_re - xp.imag(spec) * ax.fwd_im, axis)

    def _inverse_axis(self, x: Any, ax: _Axis, axis: int) -> Any:
        xp = self.xp
        y = xp.astype(self._last(x, axis), ax.back.dtype)
        # (X_{N−k})_k = (0, X_{N−1}, …, X_1): X_N = 0 by convention
        mirrored = xp.concat([xp.zeros_like(y[..., :1]), xp.flip(y[..., 1:], axis=-1)], axis=-1)
        spec = ax.back * y + ax.back_mirror * mirrored
        v = xp.real(xp.fft.ifft(spec, axis=-1))
        return self._last(xp.take(v, ax.inv, axis=-1), axis)

    def forward(self, x: Any) -> Any:
        """``C x``: the orthonormal DCT-II along each of the last ``len(shape)`` axes."""
        d = len(self.shape)
        for i, ax in enumerate(self._axes):
            x = self._forward_axis(x, ax, i - d)
        return x

    def inverse(self, x: Any) -> Any:
        """``Cᵀ x`` (the orthonormal DCT-III), the inverse of :meth:`forward`."""
        d = len(self.shape)
        for i, ax in enumerate(self._axes):
            x = self._inverse_axis(x, ax, i - d)
        return x


def neumann_eigenvalues(shape: tuple[int, ...]) -> np.ndarray:
    """The eigenvalues ``Σ_a (2 − 2cos(πk_a/n_a))`` of ``∇ᵀ∇`` on ``shape``, in DCT order (host)."""
    total = np.zeros(shape)
    for a, n in enumerate(shape):
        lam = 2.0 - 2.0 * np.cos(np.pi * np.arange(n) / n)
        total = total + lam.reshape([n if b == a else 1 for b in range(len(shape))])
    return total
