"""Matrix-free 2-D convolution (cross-correlation, as PyTorch's ``conv2d``), its adjoint and its
gradient in the kernel."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

from .norm import gram_lambda_max

__all__ = ["Conv2d", "Conv2dTranspose", "conv2d_output_shape", "conv2d_transpose_output_shape",
           "pair", "one_or_pair", "Pair"]

#: A size of both spatial axes: one int for both, or ``(height, width)``.
Pair = int | tuple[int, int]


def pair(v: Pair) -> tuple[int, int]:
    """``v`` as ``(height, width)`` (an int is both)."""
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def one_or_pair(h: int, w: int) -> Pair:
    """A size of both axes as one int when they agree, else ``(h, w)``: how a spec writes it."""
    return int(h) if h == w else (int(h), int(w))


def _check(name: str, value: Pair, least: int) -> tuple[int, int]:
    for d in (value if isinstance(value, (tuple, list)) else (value,)):
        if isinstance(d, bool) or int(d) != d or d < least:
            raise ValueError(f"conv2d: {name} must be an integer >= {least}, got {value!r}")
    return pair(value)


def conv2d_output_shape(h: int, w: int, k: Pair, stride: Pair = 1,
                        padding: Pair = 0) -> tuple[int, int]:
    """``(H', W')`` with ``H' = (H + 2p_h − k_h) // s_h + 1`` (likewise W'); ``ValueError`` if
    empty.  Each size is one int for both axes or ``(height, width)``."""
    h, w = _check("height", h, 1)[0], _check("width", w, 1)[0]
    kh, kw = _check("kernel size", k, 1)
    sh, sw = _check("stride", stride, 1)
    ph, pw = _check("padding", padding, 0)
    hp, wp = h + 2 * ph, w + 2 * pw
    if hp < kh or wp < kw:
        raise ValueError(
            f"conv2d: a {kh}×{kw} kernel does not fit a {h}×{w} input with padding {padding} "
            f"(padded size {hp}×{wp}), so the output would be empty; use a smaller kernel "
            f"or more padding")
    return (hp - kh) // sh + 1, (wp - kw) // sw + 1


@dataclass(frozen=True, eq=False)
class Conv2d:
    """``(A x)[o, y, z] = Σ_{c,i,j} K[o, c, i, j] · x̄[c, s·y + i, s·z + j]``.

    ``x̄`` is ``x`` zero-padded by ``p`` on each spatial side; ``K`` has shape
    ``(C_out, C_in, k_h, k_w)``; ``shape_in = (C_in, H, W)``, ``shape_out = (C_out, H', W')``
    with ``H' = (H + 2p − k_h) // s + 1``.  ``stride`` and ``padding`` are one int for both
    axes or ``(height, width)`` (as PyTorch's).  No bias: a layer's bias is a separate term.

    Matrix-free: one loop over the ``k_h·k_w`` kernel offsets, each a strided slice of the padded
    input times a ``C_in × C_out`` matrix.  The adjoint scatters ``Kᵀ y`` back through the same
    slices into a padded buffer and crops it.  Both accept leading batch axes.
    """

    kernel: Any
    input_hw: tuple[int, int]
    stride: Pair = 1
    padding: Pair = 0

    def __post_init__(self) -> None:
        if self.kernel.ndim != 4:
            raise ValueError("conv2d: the kernel must have shape (C_out, C_in, k_h, k_w), "
                             f"got {tuple(self.kernel.shape)}")
        # validates every size and raises on an empty output
        conv2d_output_shape(self.input_hw[0], self.input_hw[1], self.kernel_hw,
                            self.stride, self.padding)
        object.__setattr__(self, "input_hw", (int(self.input_hw[0]), int(self.input_hw[1])))

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return int(self.kernel.shape[2]), int(self.kernel.shape[3])

    @property
    def shape_in(self) -> tuple[int, ...]:
        return (int(self.kernel.shape[1]), *self.input_hw)

    @property
    def shape_out(self) -> tuple[int, ...]:
        ho, wo = conv2d_output_shape(self.input_hw[0], self.input_hw[1], self.kernel_hw,
                                     self.stride, self.padding)
        return (int(self.kernel.shape[0]), ho, wo)

    def _windows(self) -> list[tuple[int, int, slice, slice]]:
        """For each kernel offset (i, j): the strided slices of the padded input it reads."""
        _, ho, wo = self.shape_out
        kh, kw = self.kernel_hw
        sh, sw = pair(self.stride)
        return [(i, j, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
                for i in range(kh) for j in range(kw)]

    def _padded(self, x: Any, channels: int) -> Any:
        """``x (..., C, H, W)`` channels last and zero-padded: ``(..., H + 2p, W + 2p, C)``;
        ``channels`` is the size of the new buffer's last axis (for the adjoint's scatter)."""
        xp = array_namespace(x, self.kernel)
        nb = x.ndim - 3
        h, w = self.input_hw
        ph, pw = pair(self.padding)
        x_cl = xp.permute_dims(x, (*range(nb), nb + 1, nb + 2, nb))
        if ph == pw == 0 and channels == x.shape[-3]:
            return x_cl
        dtype = xp.result_type(x.dtype, self.kernel.dtype)
        padded = xp.zeros((*x.shape[:nb], h + 2 * ph, w + 2 * pw, channels), dtype=dtype,
                          device=device(x))
        if channels == x.shape[-3]:
            padded[..., ph:ph + h, pw:pw + w, :] = x_cl
        return padded

    def forward(self, x: Any) -> Any:
        """``A x`` for ``x`` of shape ``(..., C_in, H, W)`` → ``(..., C_out, H', W')``."""
        xp = array_namespace(x, self.kernel)
        nb = x.ndim - 3
        # channels last, so that each offset is one matmul contracting C_in
        padded = self._padded(x, x.shape[-3])
        out = None
        for i, j, rows, cols in self._windows():
            tap = xp.matrix_transpose(self.kernel[:, :, i, j])  # (C_in, C_out)
            term = xp.matmul(padded[..., rows, cols, :], tap)
            out = term if out is None else out + term
        return xp.permute_dims(out, (*range(nb), nb + 2, nb, nb + 1))

    def adjoint(self, y: Any) -> Any:
        """``Aᵀ y`` for ``y`` of shape ``(..., C_out, H', W')`` → ``(..., C_in, H, W)``."""
        xp = array_namespace(y, self.kernel)
        nb = y.ndim - 3
        h, w = self.input_hw
        ph, pw = pair(self.padding)
        y_cl = xp.permute_dims(y, (*range(nb), nb + 1, nb + 2, nb))
        padded = xp.zeros((*y.shape[:nb], h + 2 * ph, w + 2 * pw, self.shape_in[0]),
                          dtype=xp.result_type(y.dtype, self.kernel.dtype), device=device(y))
        for i, j, rows, cols in self._windows():
            # windows of different offsets overlap, so accumulate rather than assign
            padded[..., rows, cols, :] = (padded[..., rows, cols, :]
                                          + xp.matmul(y_cl, self.kernel[:, :, i, j]))
        x_cl = padded[..., ph:ph + h, pw:pw + w, :]
        return xp.permute_dims(x_cl, (*range(nb), nb + 2, nb, nb + 1))

    def weight_grad(self, x: Any, r: Any) -> Any:
        """``∇_K ⟨r, A_K x⟩`` for ``x (N, C_in, H, W)``, ``r (N, C_out, H', W')``.

        ``g[o, c, i, j] = Σ_{n, y, w} r[n, o, y, w] · x̄[n, c, s·y + i, s·w + j]``: one
        ``C_out × C_in`` product per kernel offset, of the flattened residual with the strided
        slice of the padded input that offset reads.  Shape ``(C_out, C_in, k_h, k_w)``.
        """
        xp = array_namespace(x, r)
        n, c_out, ho, wo = r.shape
        c_in = x.shape[1]
        padded = self._padded(x, c_in)
        r_t = xp.matrix_transpose(xp.reshape(xp.permute_dims(r, (0, 2, 3, 1)),
                                             (n * ho * wo, c_out)))
        taps = [xp.matmul(r_t, xp.reshape(padded[:, rows, cols, :], (n * ho * wo, c_in)))
                for _, _, rows, cols in self._windows()]
        return xp.reshape(xp.stack(taps, axis=-1), (c_out, c_in, *self.kernel_hw))

    def gram_trace(self, x: Any) -> float:
        """``Σ_{n, y, w} ‖patch_{n, y, w}‖²`` for ``x (N, C_in, H, W)``: the trace of the patch
        Gram matrix, as :meth:`Dense.gram_trace` is for a matrix (one patch per output pixel)."""
        xp = array_namespace(x)
        padded = self._padded(x, x.shape[1])
        return float(sum(xp.sum(padded[:, rows, cols, :] ** 2)
                         for _, _, rows, cols in self._windows()))

    def gram_norm(self, x: Any) -> float:
        """``λ_max`` of the patch Gram matrix ``Σ_{n, y, w} p p ᵀ`` (``p`` the ``C_in·k_h·k_w``
        entries one output pixel reads) for ``x (N, C_in, H, W)``: the Lipschitz constant of
        ``∇_K Σ φ(A_K x)``, as :meth:`Dense.gram_norm` is for a matrix."""
        return gram_lambda_max(self.gram_rows(x))

    def gram_rows(self, x: Any) -> Any:
        """The patch matrix ``P (N·H_out·W_out, C_in·k_h·k_w)``, one row per output pixel, whose
        ``PᵀP`` is the patch Gram matrix."""
        xp = array_namespace(x)
        padded = self._padded(x, x.shape[1])
        n, c = x.shape[0], x.shape[1]
        _, ho, wo = self.shape_out
        taps = [xp.reshape(padded[:, rows, cols, :], (n * ho * wo, c))
                for _, _, rows, cols in self._windows()]
        return xp.concat(taps, axis=1)

    def astype(self, dtype: Any) -> "Conv2d":
        """The same operator with its kernel stored in ``dtype``."""
        xp = array_namespace(self.kernel)
        return Conv2d(xp.astype(self.kernel, dtype), self.input_hw, self.stride, self.padding)


def conv2d_transpose_output_shape(h: int, w: int, k: Pair, stride: Pair = 1,
                                  padding: Pair = 0, output_padding: Pair = 0,
                                  ) -> tuple[int, int]:
    """``(H', W')`` of a transposed convolution, ``H' = (H − 1)·s_h − 2p_h + k_h + q_h``
    (likewise W'; PyTorch's ``ConvTranspose2d``); ``ValueError`` unless ``0 ≤ q < s`` on each
    axis and the output is non-empty."""
    kh, kw = _check("kernel size", k, 1)
    sh, sw = _check("stride", stride, 1)
    ph, pw = _check("padding", padding, 0)
    qh, qw = _check("output_padding", output_padding, 0)
    if qh >= sh or qw >= sw:
        raise ValueError(f"conv2d_t: output_padding must be below the stride ({stride}) on "
                         f"each axis, got {output_padding!r}")
    ho = (h - 1) * sh - 2 * ph + kh + qh
    wo = (w - 1) * sw - 2 * pw + kw + qw
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d_t: a {kh}×{kw} kernel with padding {padding} on a {h}×{w} "
                         f"input gives an empty {ho}×{wo} output; use less padding")
    return ho, wo


@dataclass(frozen=True, eq=False)
class Conv2dTranspose:
    """The transposed convolution (PyTorch's ``conv_transpose2d``): the adjoint of
    :class:`Conv2d` with the same kernel ``K (C_a, C_b, k_h, k_w)``, mapping ``(C_a, H, W)`` to
    ``(C_b, H', W')`` (:func:`conv2d_transpose_output_shape`).

    ``forward`` is that convolution's ``adjoint`` and ``adjoint`` its ``forward``; the gradient
    in ``K`` is ``∇_K ⟨r, A_Kᵀ x⟩ = ∇_K ⟨A_K r, x⟩``.  The Jacobian of ``K ↦ A_Kᵀ x`` is, per
    output channel, the matrix ``D`` whose column ``(c_a, i, j)`` is channel ``c_a`` of ``x``
    scattered at offset ``(i, j)``: the Gram matrix is ``DᵀD`` (:meth:`gram_rows`).
    """

    kernel: Any
    input_hw: tuple[int, int]
    stride: Pair = 1
    padding: Pair = 0
    output_padding: Pair = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_hw", (int(self.input_hw[0]), int(self.input_hw[1])))

    @functools.cached_property
    def conv(self) -> Conv2d:
        """The convolution this operator is the adjoint of (from the output's size; made
        once)."""
        ho, wo = conv2d_transpose_output_shape(self.input_hw[0], self.input_hw[1],
                                               (int(self.kernel.shape[2]),
                                                int(self.kernel.shape[3])),
                                               self.stride, self.padding, self.output_padding)
        return Conv2d(self.kernel, (ho, wo), self.stride, self.padding)

    @property
    def shape_in(self) -> tuple[int, ...]:
        return (int(self.kernel.shape[0]), *self.input_hw)

    @property
    def shape_out(self) -> tuple[int, ...]:
        return self.conv.shape_in

    def forward(self, x: Any) -> Any:
        """``Aᵀ x`` of the convolution, for ``x (..., C_a, H, W)``."""
        return self.conv.adjoint(x)

    def adjoint(self, y: Any) -> Any:
        """``A y`` of the convolution, for ``y (..., C_b, H', W')``."""
        return self.conv.forward(y)

    def weight_grad(self, x: Any, r: Any) -> Any:
        """``∇_K ⟨r, A_Kᵀ x⟩`` for ``x (N, C_a, H, W)``, ``r (N, C_b, H', W')``: shape
        ``(C_a, C_b, k_h, k_w)``."""
        return self.conv.weight_grad(r, x)

    def _scattered(self, x: Any) -> list[Any]:
        """For each kernel offset: ``x`` placed where that offset sends it, cropped to the
        output, as rows ``(N·H'·W', C_a)``."""
        xp = array_namespace(x)
        conv = self.conv
        _, ho, wo = conv.shape_in
        n, (ph, pw) = x.shape[0], pair(self.padding)
        x_cl = xp.permute_dims(x, (0, 2, 3, 1))
        blocks = []
        for _, _, rows, cols in conv._windows():
            buf = xp.zeros((n, ho + 2 * ph, wo + 2 * pw, x.shape[1]), dtype=x.dtype,
                           device=device(x))
            buf[:, rows, cols, :] = x_cl
            blocks.append(xp.reshape(buf[:, ph:ph + ho, pw:pw + wo, :],
                                     (n * ho * wo, x.shape[1])))
        return blocks

    def gram_trace(self, x: Any) -> float:
        """``‖D‖_F²`` for ``x (N, C_a, H, W)`` (see the class docstring)."""
        xp = array_namespace(x)
        return float(sum(xp.sum(block * block) for block in self._scattered(x)))

    def gram_norm(self, x: Any) -> float:
        """``λ_max DᵀD``: the Lipschitz constant of ``∇_K Σ φ(A_Kᵀ x)``."""
        return gram_lambda_max(self.gram_rows(x))

    def gram_rows(self, x: Any) -> Any:
        """``D (N·H'·W', C_a·k_h·k_w)``, whose ``DᵀD`` is the Gram matrix."""
        return array_namespace(x).concat(self._scattered(x), axis=1)

    def astype(self, dtype: Any) -> "Conv2dTranspose":
        xp = array_namespace(self.kernel)
        return Conv2dTranspose(xp.astype(self.kernel, dtype), self.input_hw, self.stride,
                               self.padding, self.output_padding)
