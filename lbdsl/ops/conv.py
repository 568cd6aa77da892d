"""Matrix-free 2-D convolution (cross-correlation, as PyTorch's ``conv2d``), its adjoint and its
gradient in the kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

from .norm import gram_lambda_max

__all__ = ["Conv2d", "conv2d_output_shape"]


def conv2d_output_shape(h: int, w: int, k: int | tuple[int, int], stride: int = 1,
                        padding: int = 0) -> tuple[int, int]:
    """``(H', W')`` with ``H' = (H + 2p − k_h) // s + 1`` (likewise W'); ``ValueError`` if empty.

    ``k`` is the kernel's spatial size, an int for a square kernel or ``(k_h, k_w)``.
    """
    kh, kw = (k, k) if isinstance(k, int) else (int(k[0]), int(k[1]))
    for name, value, least in (("height", h, 1), ("width", w, 1), ("kernel height", kh, 1),
                               ("kernel width", kw, 1), ("stride", stride, 1),
                               ("padding", padding, 0)):
        if int(value) != value or value < least:
            raise ValueError(f"conv2d: {name} must be an integer >= {least}, got {value!r}")
    hp, wp = h + 2 * padding, w + 2 * padding
    if hp < kh or wp < kw:
        raise ValueError(
            f"conv2d: a {kh}×{kw} kernel does not fit a {h}×{w} input with padding {padding} "
            f"(padded size {hp}×{wp}), so the output would be empty; use a smaller kernel "
            f"or more padding")
    return (hp - kh) // stride + 1, (wp - kw) // stride + 1


@dataclass(frozen=True, eq=False)
class Conv2d:
    """``(A x)[o, y, z] = Σ_{c,i,j} K[o, c, i, j] · x̄[c, s·y + i, s·z + j]``.

    ``x̄`` is ``x`` zero-padded by ``p`` on each spatial side; ``K`` has shape
    ``(C_out, C_in, k_h, k_w)``; ``shape_in = (C_in, H, W)``, ``shape_out = (C_out, H', W')``
    with ``H' = (H + 2p − k_h) // s + 1``.  No bias: a layer's bias is a separate term.

    Matrix-free: one loop over the ``k_h·k_w`` kernel offsets, each a strided slice of the padded
    input times a ``C_in × C_out`` matrix.  The adjoint scatters ``Kᵀ y`` back through the same
    slices into a padded buffer and crops it.  Both accept leading batch axes.
    """

    kernel: Any
    input_hw: tuple[int, int]
    stride: int = 1
    padding: int = 0

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
        s = self.stride
        return [(i, j, slice(i, i + s * (ho - 1) + 1, s), slice(j, j + s * (wo - 1) + 1, s))
                for i in range(kh) for j in range(kw)]

    def _padded(self, x: Any, channels: int) -> Any:
        """``x (..., C, H, W)`` channels last and zero-padded: ``(..., H + 2p, W + 2p, C)``;
        ``channels`` is the size of the new buffer's last axis (for the adjoint's scatter)."""
        xp = array_namespace(x, self.kernel)
        nb = x.ndim - 3
        h, w = self.input_hw
        p = self.padding
        x_cl = xp.permute_dims(x, (*range(nb), nb + 1, nb + 2, nb))
        if p == 0 and channels == x.shape[-3]:
            return x_cl
        dtype = xp.result_type(x.dtype, self.kernel.dtype)
        padded = xp.zeros((*x.shape[:nb], h + 2 * p, w + 2 * p, channels), dtype=dtype,
                          device=device(x))
        if channels == x.shape[-3]:
            padded[..., p:p + h, p:p + w, :] = x_cl
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
        p = self.padding
        y_cl = xp.permute_dims(y, (*range(nb), nb + 1, nb + 2, nb))
        padded = xp.zeros((*y.shape[:nb], h + 2 * p, w + 2 * p, self.shape_in[0]),
                          dtype=xp.result_type(y.dtype, self.kernel.dtype), device=device(y))
        for i, j, rows, cols in self._windows():
            # windows of different offsets overlap, so accumulate rather than assign
            padded[..., rows, cols, :] = (padded[..., rows, cols, :]
                                          + xp.matmul(y_cl, self.kernel[:, :, i, j]))
        x_cl = padded[..., p:p + h, p:p + w, :]
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
