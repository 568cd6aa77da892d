"""The tests' reference forward pass of a network, straight from its IR, in host NumPy.

An oracle, not library code (lbdsl's one forward pass is the network runtime,
:mod:`lbdsl.lift.network`).  Deliberately plain (a dense product, a direct strided convolution, the catalogue's ``prox``), so
that later stages — the lifted form, the backends' operators — can be tested against it:
math.md §2's invariant says the lifted constraints hold at exactly these values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lbdsl.ir.nodes import Affine, Layer, NetworkIR, Residual, as_matrix

__all__ = ["forward", "apply_affine", "conv2d_reference"]


def conv2d_reference(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int,
                     ) -> np.ndarray:
    """Cross-correlation ``(..., C_in, H, W)`` → ``(..., C_out, H', W')`` (PyTorch's conv2d)."""
    p = padding
    if p:
        pad = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
        x = np.pad(x, pad)
    kh, kw = kernel.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    windows = windows[..., ::stride, ::stride, :, :]          # (..., C_in, H', W', kh, kw)
    return np.einsum("...chwij,ocij->...ohw", windows, kernel)


def apply_affine(affine: Affine, x: np.ndarray, params: dict[str, Any],
                 batch: tuple[int, ...] = ()) -> np.ndarray:
    """``A x + b`` for ``x`` of shape ``(*batch, ...)`` holding ``affine.in_size`` entries per
    batch item; the result has shape ``(*batch, *affine.out_shape)``."""
    weight = params[affine.weight].value
    if affine.kind == "conv2d":
        z = conv2d_reference(x.reshape(*batch, *affine.in_shape), weight, affine.stride,
                             affine.padding)
        if affine.bias is not None:
            z = z + params[affine.bias].value[:, None, None]
        return z
    matrix = as_matrix(weight, affine.transposed)
    z = x.reshape(*batch, -1) @ matrix.T
    if affine.bias is not None:
        z = z + params[affine.bias].value.reshape(-1)
    return z.reshape(*batch, *affine.out_shape)


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
        z = apply_affine(step.affine, values[step.affine.input], net.params, batch)
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
            values[step.out] = base + step.sign * (a @ v.T).reshape(base.shape)
    return values
