"""One trainable affine map ``z = A_Θ x + b``: forward, adjoint in x, gradients in Θ = (A, b).

Training needs three things of a layer's affine map that inversion does not: the gradient of
``⟨r, A_Θ x + b⟩`` with respect to the *parameters*, a Lipschitz constant of that map in the
parameters (for the weight step size), and the operator norm ``‖A‖`` in the input (for the
hidden-state step size).  Shapes: samples are rows, every variable is flattened,
``x (B, size_in)`` → ``z (B, size_out)``.

* ``matmul`` / ``dense``: ``z = x Mᵀ + b`` with ``M = as_matrix(W)`` (``Wᵀ`` for ``A.T @ x``,
  a 1-D ``W`` is a row vector).  ``∂/∂M ⟨r, z⟩ = rᵀ x``, ``∂/∂b = Σ_rows r``.
* ``conv2d``: ``z = conv(x, K) + b`` (cross-correlation, :class:`lbdsl.ops.conv.Conv2d`);
  ``∂/∂K[o, c, i, j] ⟨r, z⟩ = Σ_{n, y, w} r[n, o, y, w] · x̄[n, c, s·y + i, s·w + j]`` — the
  correlation of the padded input with the output residual, one ``C_out × C_in`` matrix per
  kernel offset (:func:`conv2d_weight_grad`); ``∂/∂b[o] = Σ r[:, o]``.

Weight Lipschitz constant.  For ``f(Θ) = (1/B) Σ_n φ(A_Θ x_n + b)`` with ``∇φ`` 1-Lipschitz
(``φ = Φ*``: ``∇Φ* = σ`` is nonexpansive) the Hessian is at most ``(1/B) Σ_n J_nᵀ J_n`` with
``J_n`` the Jacobian of ``Θ ↦ A_Θ x_n + b``: ``G ⊗ I`` with ``G = (1/B) Σ_n a_n a_nᵀ``,
``a_n = (x_n, 1)`` for a dense layer and one ``a`` per output pixel (its input patch and a 1)
for a convolution.  :meth:`TrainableAffine.weight_lipschitz` returns ``trace G ≥ λ_max(G)``,
free to compute and, for the non-negative data and ReLU states of the digits autoencoder,
within 1.2–1.5× of ``λ_max(G)`` (the all-ones direction dominates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace, device

from ..ir.nodes import Affine, size_of
from ..ops.conv import Conv2d

__all__ = ["TrainableAffine", "conv2d_weight_grad", "conv2d_patch_sqnorm"]


def _padded_channels_last(x: Any, padding: int) -> Any:
    """``x (N, C, H, W)`` as ``(N, H + 2p, W + 2p, C)``, zero-padded."""
    xp = array_namespace(x)
    x_cl = xp.permute_dims(x, (0, 2, 3, 1))
    if padding == 0:
        return x_cl
    n, h, w, c = x_cl.shape
    p = padding
    out = xp.zeros((n, h + 2 * p, w + 2 * p, c), dtype=x.dtype, device=device(x))
    out[:, p:p + h, p:p + w, :] = x_cl
    return out


def _windows(kernel_hw: tuple[int, int], out_hw: tuple[int, int], stride: int,
             ) -> list[tuple[slice, slice]]:
    """For each kernel offset (i, j), row-major: the strided slices of the padded input."""
    (kh, kw), (ho, wo), s = kernel_hw, out_hw, stride
    return [(slice(i, i + s * (ho - 1) + 1, s), slice(j, j + s * (wo - 1) + 1, s))
            for i in range(kh) for j in range(kw)]


def conv2d_weight_grad(x: Any, r: Any, kernel_hw: tuple[int, int], stride: int = 1,
                       padding: int = 0) -> Any:
    """``∇_K ⟨r, conv(x, K)⟩`` for ``x (N, C_in, H, W)``, ``r (N, C_out, H', W')``.

    ``g[o, c, i, j] = Σ_{n, y, w} r[n, o, y, w] · x̄[n, c, s·y + i, s·w + j]`` (``x̄`` padded):
    one loop over the kernel offsets, each a ``C_out × C_in`` product of the flattened output
    residual with the strided slice of the input it read.  Shape ``(C_out, C_in, k_h, k_w)``.
    """
    xp = array_namespace(x, r)
    n, c_out, ho, wo = r.shape
    padded = _padded_channels_last(x, padding)
    r_mat = xp.reshape(xp.permute_dims(r, (0, 2, 3, 1)), (n * ho * wo, c_out))
    r_t = xp.matrix_transpose(r_mat)
    c_in = x.shape[1]
    taps = [xp.matmul(r_t, xp.reshape(padded[:, rows, cols, :], (n * ho * wo, c_in)))
            for rows, cols in _windows(kernel_hw, (ho, wo), stride)]
    g = xp.stack(taps, axis=-1)                               # (C_out, C_in, k_h·k_w)
    return xp.reshape(g, (c_out, c_in, *kernel_hw))


def conv2d_patch_sqnorm(x: Any, kernel_hw: tuple[int, int], out_hw: tuple[int, int],
                        stride: int = 1, padding: int = 0) -> float:
    """``Σ_{n, y, w} ‖patch_{n, y, w}‖²``: the sum over kernel offsets of the squared norm of
    the input slice each offset reads (the trace of the conv layer's patch Gram matrix)."""
    xp = array_namespace(x)
    padded = _padded_channels_last(x, padding)
    return float(sum(xp.sum(padded[:, rows, cols, :] ** 2)
                     for rows, cols in _windows(kernel_hw, out_hw, stride)))


@dataclass(frozen=True, eq=False)
class TrainableAffine:
    """``z = A_Θ x + b`` of one IR :class:`~lbdsl.ir.nodes.Affine`, on flattened rows of the
    array namespace ``xp`` (bound once: these maps run thousands of times per epoch)."""

    affine: Affine
    xp: Any

    @property
    def weight(self) -> str:
        return self.affine.weight

    @property
    def bias(self) -> str | None:
        return self.affine.bias

    @property
    def in_size(self) -> int:
        return size_of(self.affine.in_shape)

    @property
    def out_size(self) -> int:
        return size_of(self.affine.out_shape)

    @property
    def is_conv(self) -> bool:
        return self.affine.kind == "conv2d"

    # -- the linear map in x -------------------------------------------------------------------
    def _matrix(self, w: Any) -> Any:
        m = self.xp.reshape(w, (1, -1)) if w.ndim == 1 else w
        return m.T if self.affine.transposed else m

    def _conv(self, w: Any) -> Conv2d:
        a = self.affine
        return Conv2d(w, (a.in_shape[-2], a.in_shape[-1]), a.stride, a.padding)

    def _image(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.xp.reshape(x, (x.shape[0], *shape))

    def _flat(self, x: Any) -> Any:
        return self.xp.reshape(x, (x.shape[0], -1))

    def linear(self, params: dict[str, Any], x: Any) -> Any:
        """``A x`` (no bias) for rows ``x (B, in_size)``."""
        w = params[self.weight]
        if self.is_conv:
            in_shape = (w.shape[1], *self.affine.in_shape[-2:])
            return self._flat(self._conv(w).forward(self._image(x, in_shape)))
        return x @ self._matrix(w).T

    def forward(self, params: dict[str, Any], x: Any) -> Any:
        """``A x + b`` for rows ``x (B, in_size)`` → ``(B, out_size)``."""
        xp = self.xp
        z = self.linear(params, x)
        if self.bias is None:
            return z
        b = params[self.bias]
        if self.is_conv:
            c_out = b.shape[0]
            z = xp.reshape(z, (z.shape[0], c_out, -1)) + xp.reshape(b, (c_out, 1))
            return xp.reshape(z, (z.shape[0], -1))
        return z + (b if b.ndim == 1 else xp.reshape(b, (-1,)))

    def adjoint(self, params: dict[str, Any], g: Any) -> Any:
        """``Aᵀ g`` for rows ``g (B, out_size)`` → ``(B, in_size)``."""
        w = params[self.weight]
        if self.is_conv:
            return self._flat(self._conv(w).adjoint(self._image(g, self.affine.out_shape)))
        return g @ self._matrix(w)

    # -- gradients in the parameters ---------------------------------------------------------
    def param_grads(self, params: dict[str, Any], x: Any, r: Any) -> dict[str, Any]:
        """``∇_Θ ⟨r, A_Θ x + b⟩`` (summed over the rows), each in its parameter's shape."""
        xp = self.xp
        w = params[self.weight]
        a = self.affine
        if self.is_conv:
            in_shape = (w.shape[1], *a.in_shape[-2:])
            gw = conv2d_weight_grad(self._image(x, in_shape), self._image(r, a.out_shape),
                                    tuple(w.shape[2:]), a.stride, a.padding)
        else:
            gm = r.T @ x                                         # ∂/∂M, (out, in)
            gw = gm.T if a.transposed else gm
            if gw.shape != w.shape:                              # a 1-D row vector
                gw = xp.reshape(gw, w.shape)
        grads = {self.weight: gw}
        if self.bias is not None:
            b = params[self.bias]
            if self.is_conv:
                gb = xp.sum(xp.reshape(r, (r.shape[0], b.shape[0], -1)), axis=(0, 2))
            else:
                gb = xp.sum(r, axis=0)
                if b.ndim != 1:
                    gb = xp.reshape(gb, b.shape)
            grads[self.bias] = gb
        return grads

    def weight_lipschitz(self, x: Any) -> float:
        """``trace G`` (module docstring): a Lipschitz constant of ``∇_Θ (1/B) Σ φ(A_Θ x + b)``
        for any ``φ`` with 1-Lipschitz gradient, ``x (B, in_size)``."""
        xp = self.xp
        n = x.shape[0]
        if self.is_conv:
            a = self.affine
            c_in = x.shape[1] // size_of(a.in_shape[-2:])
            out_hw = a.out_shape[-2:]
            total = conv2d_patch_sqnorm(self._image(x, (c_in, *a.in_shape[-2:])),
                                        a.kernel or (1, 1), out_hw, a.stride, a.padding)
            positions = size_of(out_hw)
        else:
            total = float(xp.sum(x * x))
            positions = 1
        if self.bias is not None:
            total += n * positions
        return total / n

    # -- the operator norm in x ----------------------------------------------------------------
    def power_step(self, params: dict[str, Any], v: Any) -> tuple[Any, float]:
        """One power iteration on ``AᵀA`` from the unit row ``v (1, in_size)``: the next unit
        vector and ``‖AᵀA v‖``, a lower bound on ``‖A‖²`` at least the Rayleigh quotient
        ``‖A v‖²``."""
        xp = self.xp
        w = self.adjoint(params, self.linear(params, v))
        est = float(xp.linalg.vector_norm(w))
        if est > 0.0:
            v = w / est
        return v, est
