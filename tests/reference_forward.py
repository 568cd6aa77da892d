"""The tests' reference forward pass of a network, straight from its IR, in host NumPy.

An oracle, not library code (lbdsl's one forward pass is the network runtime,
:mod:`lbdsl.lift.network`).  Deliberately plain (a dense product, a direct strided convolution, the catalogue's ``prox``), so
that later stages — the lifted form, the backends' operators — can be tested against it:
math.md §2's invariant says the lifted constraints hold at exactly these values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lbdsl.ir.nodes import Affine, Layer, LinearMap, NetworkIR, Residual, as_matrix

__all__ = ["forward", "apply_affine", "apply_map", "conv2d_reference", "conv2d_t_reference"]


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def conv2d_reference(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """Cross-correlation ``(..., C_in, H, W)`` → ``(..., C_out, H', W')`` (PyTorch's conv2d);
    ``stride`` and ``padding`` one int for both axes or ``(height, width)``."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    if ph or pw:
        pad = [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)]
        x = np.pad(x, pad)
    kh, kw = kernel.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    windows = windows[..., ::sh, ::sw, :, :]          # (..., C_in, H', W', kh, kw)
    return np.einsum("...chwij,ocij->...ohw", windows, kernel)


def conv2d_t_reference(v: np.ndarray, kernel: np.ndarray, stride, padding,
                       output_padding=0) -> np.ndarray:
    """The transposed convolution ``(..., C_out, H, W)`` → ``(..., C_in, H', W')`` of a kernel
    ``(C_out, C_in, kh, kw)`` (PyTorch's ``conv_transpose2d(v, kernel)``), by scattering each
    input entry's kernel-sized patch: ``H' = (H − 1)·stride − 2·padding + kh + output_padding``."""
    (sh, sw), (ph, pw), (qh, qw) = _pair(stride), _pair(padding), _pair(output_padding)
    kh, kw = kernel.shape[2:]
    h, w = v.shape[-2:]
    full = np.zeros((*v.shape[:-3], kernel.shape[1], (h - 1) * sh + kh + qh,
                     (w - 1) * sw + kw + qw))
    for i in range(h):
        for j in range(w):
            patch = np.einsum("...o,oiab->...iab", v[..., :, i, j], kernel)
            full[..., i * sh:i * sh + kh, j * sw:j * sw + kw] += patch
    h_out = (h - 1) * sh - 2 * ph + kh + qh
    w_out = (w - 1) * sw - 2 * pw + kw + qw
    return full[..., ph:ph + h_out, pw:pw + w_out]


def apply_map(m: LinearMap, x: np.ndarray, params: dict[str, Any],
              batch: tuple[int, ...] = ()) -> np.ndarray:
    """One map of a term on ``x`` (``(*batch, ...)``), in shape ``(*batch, *m.out_shape)``."""
    weight = params[m.weight].value
    if m.kind in ("conv2d", "conv2d_t", "conv"):
        image = x.reshape(*batch, *m.in_shape)
        if m.transposed:
            z = conv2d_t_reference(image, weight, m.stride, m.padding, m.output_padding)
        else:
            z = conv2d_reference(image, weight, m.stride, m.padding)
        return z.reshape(*batch, *m.out_shape)
    assert m.kind in ("matmul", "dense"), m.kind
    z = x.reshape(*batch, -1) @ as_matrix(weight, m.transposed).T
    return z.reshape(*batch, *m.out_shape)


def apply_affine(affine: Affine, values: dict[str, np.ndarray], params: dict[str, Any],
                 batch: tuple[int, ...] = ()) -> np.ndarray:
    """``Σ_t c_t (M_t1 ∘ ⋯)(x_t) + Σ b`` with ``values[x_t]`` of shape ``(*batch, ...)``; the
    result has shape ``(*batch, *affine.out_shape)``."""
    out = affine.out_shape
    z = np.zeros((*batch, *out))
    for term in affine.terms:
        y = values[term.input]
        for m in reversed(term.maps):
            y = apply_map(m, y, params, batch)
        z = z + term.coef * y.reshape(*batch, *out)
    for name in affine.biases:
        b = params[name].value.reshape(-1)
        if b.size == math.prod(out):
            z = z + b.reshape(out)
        else:  # one per channel of an image
            z = z + b[:, None, None]
    return z


def forward(net: NetworkIR, u0: Any) -> dict[str, np.ndarray]:
    """Every variable's value (by variable id) for input ``u0``.

    ``u0`` has the input's shape, its flattening, or either with leading batch axes; values come
    back in each variable's shape (with the same batch axes).
    """
    u0 = np.asarray(u0, dtype=np.float64)
    shape = net.input_shape
    n = int(np.prod(shape))
    if u0.shape[u0.ndim - len(shape):] == shape:
        batch = u0.shape[: u0.ndim - len(shape)]
    elif u0.ndim >= 1 and u0.shape[-1] == n:
        batch = u0.shape[:-1]
    else:
        raise ValueError(f"input of shape {u0.shape} does not fit the network's input "
                         f"{'x'.join(map(str, shape))}")
    values: dict[str, np.ndarray] = {net.input: u0.reshape(*batch, *shape)}
    for step in net.layers:
        z = apply_affine(step.affine, values, net.params, batch)
        if isinstance(step, Layer):
            out_shape = net.variables[step.out].shape
            if step.linear:
                a = z
            else:
                a = np.asarray(step.psi().prox(z.reshape(*batch, -1)))
            values[step.out] = a.reshape(*batch, *out_shape)
        else:
            assert isinstance(step, Residual)
            a = np.asarray(step.psi().prox(z.reshape(*batch, -1)))
            v = as_matrix(net.params[step.v_weight].value, step.v_transposed)
            base = values[step.base]
            branch = a @ v.T
            if step.branch_bias is not None:
                branch = branch + net.params[step.branch_bias].value.reshape(-1)
            values[step.out] = base + step.sign * branch.reshape(base.shape)
    return values
