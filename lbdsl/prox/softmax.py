"""softmax: the one genuinely vector Ψ — the negative entropy on the probability simplex.

The last axis is the simplex Δ = {y ≥ 0, Σ y_i = 1}.  Ψ is lower semicontinuous on the closed
simplex (``0 log 0 = 0``), so one-hot labels have a finite penalty (the cross-entropy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..backend import array_namespace
from .base import Psi, check_scale, indicator, xlogx
from .scalar import lambert_w_exp, solve_increasing

__all__ = ["Softmax", "project_simplex", "logsumexp"]


def logsumexp(z: Any) -> Any:
    """``log Σ_i e^{z_i}`` over the last axis, shifted by the maximum (never overflows)."""
    xp = array_namespace(z)
    m = xp.max(z, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)  # a row of −inf has logsumexp −inf, not NaN
    return xp.log(xp.sum(xp.exp(z - m), axis=-1)) + m[..., 0]


def project_simplex(y: Any, radius: float = 1.0) -> Any:
    """Euclidean projection of each row (last axis) onto ``{x ≥ 0, Σ x_i = radius}``.

    Sort-based (Held, Wolfe & Crowder 1974; Duchi et al. 2008): with ``u`` sorted decreasingly,
    ``ρ = #{k : u_k > (Σ_{j≤k} u_j − r)/k}``, ``τ = (Σ_{j≤ρ} u_j − r)/ρ`` and the projection is
    ``max(y − τ, 0)``.  Vectorised over leading axes, ``O(n log n)`` per row.
    """
    xp = array_namespace(y)
    n = y.shape[-1]
    u = xp.sort(y, axis=-1, descending=True)
    css = xp.cumulative_sum(u, axis=-1)
    k = xp.arange(1, n + 1, dtype=y.dtype)
    rho = xp.sum(xp.astype(u * k > css - radius, y.dtype), axis=-1, keepdims=True)
    css_rho = xp.sum(xp.where(k == rho, css, 0.0), axis=-1, keepdims=True)
    tau = (css_rho - radius) / rho
    return xp.maximum(y - tau, 0.0)


@dataclass(frozen=True)
class Softmax(Psi):
    """``σ(z) = e^z / Σ e^z``; ``Ψ(y) = Σ y_i log y_i − ½‖y‖² + χ_Δ(y)``.

    ``Φ(y) = Σ y_i log y_i`` on Δ, ``Φ*(z) = logsumexp(z)``, ``env(z) = ½‖z‖² − logsumexp(z)``;
    ``B(y, z) = Σ y_i (log y_i − log softmax(z)_i) + χ_Δ(y)`` (cross-entropy minus entropy).
    ``prox_{cΨ}(v)``: ``u_i = e^{t_i}`` with ``(1 − c) e^{t_i} + c t_i = v_i − ν`` and the
    multiplier ν such that ``Σ u_i = 1`` (nested monotone solves, see :meth:`prox_scaled`).

    A row counts as on Δ when it is ≥ 0 and ``|Σ y_i − 1| ≤ √eps`` of its dtype (so that
    rounded probabilities read from a file are admissible); elsewhere Ψ and B are ``+inf``.
    """

    interior_data: ClassVar[bool] = True

    name: ClassVar[str] = "softmax"
    summary: ClassVar[str] = "σ(z) = e^z / Σ e^z over the whole layer"
    elementwise: ClassVar[bool] = False

    def onnx(self, g: Any, z: str, shape: tuple[int, ...], base: str) -> str:
        """``Softmax`` over the flattened layer (ONNX's acts on one axis)."""
        flat = g.op("Flatten", [z], f"{base}_flat", axis=1)
        y = g.op("Softmax", [flat], f"{base}_softmax", axis=1)
        return g.reshape(y, shape, f"{base}_shape") if len(shape) > 1 else y

    def torch(self, shape: tuple[int, ...]) -> list[tuple[str, tuple[Any, ...]]]:
        """``Softmax(1)`` over the flattened layer, whatever its shape."""
        if len(shape) == 1:
            return [("Softmax", (1,))]
        return [("Flatten", ()), ("Softmax", (1,)), ("Unflatten", (1, tuple(shape)))]

    def prox(self, z: Any) -> Any:
        xp = array_namespace(z)
        e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = s ⊙ (g − ⟨s, g⟩)`` with ``s = softmax(z)`` (the Jacobian
        ``diag(s) − s sᵀ`` is symmetric)."""
        s = self.prox(z)
        return s * (g - array_namespace(z, g).sum(s * g, axis=-1, keepdims=True))

    @staticmethod
    def _on_simplex(y: Any) -> Any:
        xp = array_namespace(y)
        tol = math.sqrt(float(xp.finfo(y.dtype).eps))
        return xp.all(y >= 0, axis=-1) & (xp.abs(xp.sum(y, axis=-1) - 1.0) <= tol)

    def psi(self, y: Any) -> Any:
        xp = array_namespace(y)
        value = xp.sum(xlogx(y) - 0.5 * y * y, axis=-1)
        return value + indicator(self._on_simplex(y), value)

    def phi_conj(self, z: Any) -> Any:
        return logsumexp(z)

    def envelope(self, z: Any) -> Any:
        xp = array_namespace(z)
        return 0.5 * xp.sum(z * z, axis=-1) - logsumexp(z)

    def bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        log_softmax = z - logsumexp(z)[..., None]
        positive = y > 0
        terms = xp.where(positive, y * (xp.log(xp.where(positive, y, 1.0)) - log_softmax), 0.0)
        # KL(y ‖ softmax z) ≥ 0 in exact arithmetic; clamping removes rounding noise.
        kl = xp.maximum(xp.sum(terms, axis=-1), 0.0)
        return xp.where(self._on_simplex(y), kl, math.inf)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        """``prox_{cΨ}(v)``: no closed form; see :func:`_prox_scaled_entropy`."""
        xp = array_namespace(v)
        c = check_scale(c)
        if isinstance(c, float):
            c = xp.asarray(c, dtype=v.dtype)
        return _prox_scaled_entropy(v, c)

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """Euclidean projection onto ``{y ≥ margin, Σ y = 1}`` (``margin < 1/n``)."""
        n = y.shape[-1]
        margin = float(margin)
        if not 0.0 <= margin < 1.0 / n:
            raise ValueError(f"`softmax`: project_domain needs 0 <= margin < 1/n = {1.0 / n:g}, "
                             f"got {margin:g}")
        return project_simplex(y - margin, 1.0 - n * margin) + margin


def _prox_scaled_entropy(v: Any, c: Any) -> Any:
    """``prox_{cΨ}(v)`` for the softmax Ψ (``c`` an array): nested monotone scalar solves.

    The optimality condition is ``(1 − c) u_i + c log u_i = v_i − ν`` with the multiplier ν of
    ``Σ u = 1``; the outer solve finds ν per row, the inner ones ``t_i = log u_i``.
    For fixed ν each ``t_i`` (≤ 0 up to rounding) solves ``h(t) = (1 − c)eᵗ + c t = v_i − ν``
    (h' > 0 for t < log(c/(c − 1)) if c > 1, everywhere if c ≤ 1).
    ``G(ν) = logsumexp(t(ν))`` decreases from ``G ≥ 0`` at
    ``ν = max v − h(0)`` (max u = 1) to ``G ≤ 0`` at ``ν = max v − h(−log n)``
    (max u = 1/n); its root makes Σ u = 1.  Working with ``G`` rather than ``Σ u − 1``
    makes c = 1 (``t = v − ν``, ``G`` linear) a single Newton step.
    """
    xp = array_namespace(v, c)
    n = v.shape[-1]

    def h(t: Any) -> tuple[Any, Any, Any]:
        # h(t), h'(t) and the size of h's terms (for the rounding-level stopping test)
        e = xp.exp(t)
        return (1.0 - c) * e + c * t, (1.0 - c) * e + c, xp.abs(1.0 - c) * e + c * xp.abs(t)

    h_top = 1.0 - c  # h(0)
    h_low, _, _ = h(xp.asarray(-math.log(n), dtype=v.dtype) + 0.0 * c)
    v_max = xp.max(v, axis=-1, keepdims=True)
    nu_lo, nu_hi = v_max - h_top, v_max - h_low
    state: dict[str, Any] = {"t": None, "nu": None}
    # The t-bracket is capped not at 0 (where the root lies when max u = 1, and rounding can
    # push it just past) but at t_cap > 0 with h(t_cap) > h(0) = 1 − c: log 2 for c ≤ 1,
    # ½ log(c/(c − 1)) for c > 1 (inside t < log(c/(c − 1)), where h increases).
    c_excess = xp.where(c > 1.0, c - 1.0, 1.0)
    t_cap = xp.where(c > 1.0, 0.5 * (xp.log(c) - xp.log(c_excess)), math.log(2.0))
    tiny = float(xp.finfo(v.dtype).smallest_normal)

    def inner(nu: Any) -> Any:
        w = v - nu
        # For t ≤ 0, eᵗ ∈ (0, 1] puts h(t) between c t and c t + (1 − c) (the other way
        # round for c > 1); the bounds hold for the root as long as it is ≤ 0, i.e. w ≤ h(0).
        # Where rounding makes w > h(0), the root is in (0, t_cap] instead.
        lo = xp.minimum((w - xp.maximum(1.0 - c, 0.0)) / c, 0.0)
        hi = (w + xp.maximum(c - 1.0, 0.0)) / c
        hi = xp.where(hi > 0, t_cap, hi)
        lo = xp.minimum(lo, hi)
        if state["nu"] is None:
            # c ≤ 1: h(t) = w is (1 − c)eᵗ = c(w/c − t), so t = w/c − W((1 − c)/c·e^{w/c});
            # c > 1: one fixed-point step t = (w + (c − 1)eᵗ)/c from t = w/c.
            log_x = xp.log(xp.maximum(1.0 - c, tiny) / c) + w / c
            t0 = xp.where(c <= 1.0, w / c - lambert_w_exp(log_x),
                          (w + (c - 1.0) * xp.exp(xp.minimum(w / c, 0.0))) / c)
        else:  # warm start, to first order: dt/dν = −1/h'(t)
            t0 = state["t"] - (nu - state["nu"]) / h(state["t"])[1]
        t = solve_increasing(lambda t: _shift(h(t), w), lo, hi, t0)
        state["t"], state["nu"] = t, nu
        return t

    def outer(nu: Any) -> tuple[Any, Any, Any]:
        t = inner(nu)
        lse = logsumexp(t)[..., None]
        weights = xp.exp(t - lse)
        # −G(ν) is increasing; d(−G)/dν = Σ softmax(t)_i / h'(t_i).
        # lse is max t + log(Σ…): its rounding error is ~eps·(|max t| + 1)
        size = xp.abs(xp.max(t, axis=-1, keepdims=True)) + 1.0
        return -lse, xp.sum(weights / h(t)[1], axis=-1, keepdims=True), size

    # Start: ν = logsumexp(v) is the root for c = 1; as c → ∞, u → uniform and
    # ν → mean(v) − h(−log n); blend the two with weight 1/c for c > 1.
    weight = xp.where(c > 1.0, 1.0 / c, 1.0)
    uniform = xp.mean(v, axis=-1, keepdims=True) - h_low
    nu0 = weight * logsumexp(v)[..., None] + (1.0 - weight) * uniform
    nu0 = xp.clip(nu0, nu_lo, nu_hi)
    nu = solve_increasing(outer, nu_lo, nu_hi, nu0)
    t = inner(nu)
    return xp.exp(t - logsumexp(t)[..., None])


def _shift(value_slope_size: tuple[Any, Any, Any], w: Any) -> tuple[Any, Any, Any]:
    value, slope, size = value_slope_size
    return value - w, slope, size + abs(w)
