"""The smooth (Legendre-type) activations tanh and sigmoid: Ψ is a negative entropy.

dom Ψ is the closed interval (``[−1, 1]`` / ``[0, 1]``): the entropies are finite at the ends
(``0 log 0 = 0``), so Ψ is lower semicontinuous there and a label ``y ∈ {0, 1}`` has a finite
penalty (the logistic loss).  σ never reaches the ends; ``project_domain`` with a margin maps data
strictly inside.  The Bregman penalty is a Kullback–Leibler divergence between Bernoulli laws,
computed from log-ratios, never as a difference of large terms; the scaled prox solves one increasing scalar
equation per entry in ``t = σ⁻¹(u)`` (``t = artanh u`` / ``logit u``), which keeps the distance
of ``u`` to the ends representable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..backend import array_namespace
from .base import (ElementwisePsi, check_margin, check_scale, indicator, logcosh, sigmoid,
                   softplus, xlog1px, xlogx)
from .scalar import lambert_w_exp, solve_increasing

__all__ = ["Tanh", "Sigmoid"]

INF = math.inf


def _kl_term(p: Any, log_ratio_shift: Any) -> Any:
    """``p (log p + s)`` with ``0 · (…) = 0``: one term of ``p log(p/q)`` when ``s = −log q``."""
    xp = array_namespace(p)
    positive = p > 0
    return xp.where(positive, p * (xp.log(xp.where(positive, p, 1.0)) + log_ratio_shift), 0.0)


def _scale_array(c: Any, like: Any) -> Any:
    """``c`` (checked) as an array of ``like``'s namespace and dtype."""
    c = check_scale(c)
    xp = array_namespace(like)
    return xp.asarray(c, dtype=like.dtype) if isinstance(c, float) else c


def _t_minus_tanh(t: Any) -> Any:
    """``t − tanh t`` without cancellation near 0 (≈ t³/3 there).

    For ``|t| < 1``: Lambert's continued fraction ``tanh t = t/(1 + K)``,
    ``K = t²/(3 + t²/(5 + t²/(7 + …)))``, gives ``t − tanh t = t K/(1 + K)``; nine levels are
    exact to 1 ulp on ``|t| ≤ 1``.  Elsewhere the direct difference loses at most two bits.
    """
    xp = array_namespace(t)
    t2 = t * t
    tail = 19.0 + 0.0 * t
    for k in range(8, 0, -1):
        tail = (2 * k + 1) + t2 / tail
    k_frac = t2 / tail
    series = t * k_frac / (1.0 + k_frac)
    return xp.where(xp.abs(t) < 1.0, series, t - xp.tanh(t))


def _sech2(t: Any) -> Any:
    """``sech² t = 4e^{−2|t|}/(1 + e^{−2|t|})²`` (not ``1 − tanh²``, which is 0 for |t| > 19)."""
    xp = array_namespace(t)
    e = xp.exp(-2.0 * xp.abs(t))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _tanh_guess(xp: Any, v: Any, c: Any) -> Any:
    """A start for ``(1 − c) tanh t + c t = v`` (it sets Newton's iteration count, not its result).

    c < 1: in the tail (``1 − tanh t ≈ 2e^{−2t}``) the equation is ``2(1 − c)e^{−2t} =
    c (t − t_a)``, ``t_a = (|v| − (1 − c))/c``, solved by Lambert's W; where that root is below
    1, ``artanh(v/(1 − c))`` (the root without ``c t``).  Newton started on the wrong side of an
    exponential tail advances by ½ per step.  c ≥ 1: the smallest of ``|v|``,
    ``(|v| + c − 1)/c`` and ``(3|v|/(c − 1))^{1/3}`` (from ``t − tanh t ≈ t³/3``); exact at c = 1.
    """
    a = xp.abs(v)
    eps = float(xp.finfo(v.dtype).eps)
    small_c = c < 1.0
    gap = xp.where(small_c, 1.0 - c, 1.0)
    ratio = xp.minimum(a / gap, 1.0 - eps)
    t_a = (a - gap) / c
    tail = t_a + 0.5 * lambert_w_exp(xp.log(4.0 * gap / c) - 2.0 * t_a)
    below_one = xp.where(tail > 1.0, tail, xp.atanh(ratio))
    excess = xp.where(c > 1.0, c - 1.0, 1.0)
    cubic = xp.pow(3.0 * a / excess, 1.0 / 3.0)
    above_one = xp.minimum(xp.minimum(a, (a + c - 1.0) / c), xp.where(c > 1.0, cubic, a))
    return xp.sign(v) * xp.where(small_c, below_one, above_one)


def _sigmoid_guess(xp: Any, v: Any, c: Any) -> Any:
    """A start for ``(1 − c) σ(t) + c t = v``.

    c < 1: in the upper tail (``1 − σ(t) ≈ e^{−t}``) ``(1 − c)e^{−t} = c (t − t_a)`` with
    ``t_a = (v − (1 − c))/c``; in the lower tail (``σ(t) ≈ eᵗ``) ``(1 − c)eᵗ = c (t_b − t)``,
    ``t_b = v/c``: both by Lambert's W, used where their root is beyond ±1; between,
    ``logit(v/(1 − c))``.  c ≥ 1: the root with ``σ(t) ≈ ½``, exact for c = 1.
    """
    eps = float(xp.finfo(v.dtype).eps)
    small_c = c < 1.0
    gap = xp.where(small_c, 1.0 - c, 1.0)
    r = xp.clip(v / gap, eps, 1.0 - eps)
    logit = xp.log(r) - xp.log1p(-r)
    log_ratio = xp.log(gap / c)
    t_a, t_b = (v - gap) / c, v / c
    upper = t_a + lambert_w_exp(log_ratio - t_a)
    lower = t_b - lambert_w_exp(log_ratio + t_b)
    middle = xp.where(lower < -1.0, lower, xp.where(upper > 1.0, upper, logit))
    return xp.where(small_c, middle, (v + 0.5 * (c - 1.0)) / c)


@dataclass(frozen=True)
class LegendrePsi(ElementwisePsi):
    """A Ψ whose ``Φ*`` is a smooth log-partition function ``A`` (``σ = A'``): ``Φ* = A`` and
    ``env_Ψ(z) = ½z² − A(z)``; subclasses set ``log_partition``."""

    interior_data: ClassVar[bool] = True

    log_partition: ClassVar[Any]

    def _phi_conj(self, z: Any) -> Any:
        return self.log_partition(z)

    def _envelope(self, z: Any) -> Any:
        return 0.5 * z * z - self.log_partition(z)


@dataclass(frozen=True)
class Tanh(LegendrePsi):
    """``σ = tanh``; ``Ψ(u) = u artanh u + ½log(1 − u²) − ½u²`` on ``[−1, 1]``.

    ``Φ(y) = ½[(1 + y) log(1 + y) + (1 − y) log(1 − y)]``, ``Φ*(z) = log cosh z``,
    ``env(z) = ½z² − log cosh z``.  With ``p = (1 + y)/2``:
    ``B(y, z) = p log p + (1 − p) log(1 − p) + p·softplus(−2z) + (1 − p)·softplus(2z)``
    (= KL(Bernoulli p ‖ Bernoulli sigmoid(2z))).  ``prox_{cΨ}(v) = tanh t`` where
    ``(1 − c) tanh t + c t = v`` (strictly increasing in t, root in ``(v ∓ |1 − c|)/c``).
    """

    name: ClassVar[str] = "tanh"
    summary: ClassVar[str] = "σ(z) = tanh z"
    onnx_op: ClassVar[str | None] = "Tanh"
    torch_module: ClassVar[str | None] = "Tanh"

    def prox(self, z: Any) -> Any:
        return array_namespace(z).tanh(z)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = (1 − tanh² z)·g``."""
        s = self.prox(z)
        return (1.0 - s * s) * g

    @staticmethod
    def _inside(y: Any) -> Any:
        return array_namespace(y).abs(y) <= 1.0

    def _psi(self, y: Any) -> Any:
        xp = array_namespace(y)
        w = xp.clip(y, -1.0, 1.0)  # keeps log1p's argument valid; outside is +inf below
        value = 0.5 * (xlog1px(w) + xlog1px(-w)) - 0.5 * w * w
        return value + indicator(self._inside(y), y)

    log_partition = staticmethod(logcosh)

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        w = xp.clip(y, -1.0, 1.0)
        # (1 + w)/2 and (1 − w)/2 separately, never 1 − p: each is exact near its own end.
        p, q = 0.5 * (1.0 + w), 0.5 * (1.0 - w)
        kl = _kl_term(p, softplus(-2.0 * z)) + _kl_term(q, softplus(2.0 * z))
        return xp.where(self._inside(y), kl, INF)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        xp = array_namespace(v)
        c = _scale_array(c, v)
        gap = xp.abs(1.0 - c)
        lo, hi = (v - gap) / c, (v + gap) / c
        big_c = c > 1.0

        def equation(t: Any) -> tuple[Any, Any, Any]:
            # For c > 1 write (1 − c) tanh t + c t as t + (c − 1)(t − tanh t): two terms of size
            # c|t| would otherwise cancel to |t| when the root is near 0 (Ψ''(0) = 0 there).
            th, d = xp.tanh(t), _t_minus_tanh(t)
            small_form = (1.0 - c) * th + c * t
            big_form = t + (c - 1.0) * d
            s2 = _sech2(t)
            slope = xp.where(big_c, 1.0 + (c - 1.0) * (1.0 - s2), c + (1.0 - c) * s2)
            size = xp.abs(v) + xp.where(big_c, xp.abs(t) + (c - 1.0) * xp.abs(d),
                                        (1.0 - c) * xp.abs(th) + c * xp.abs(t))
            return xp.where(big_c, big_form, small_form) - v, slope, size

        t0 = _tanh_guess(xp, v, c)
        return xp.tanh(solve_increasing(equation, lo, hi, t0))

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """``clip(y, −1 + margin, 1 − margin)``."""
        margin = check_margin(margin, 1.0, self.name)
        return array_namespace(y).clip(y, -1.0 + margin, 1.0 - margin)


@dataclass(frozen=True)
class Sigmoid(LegendrePsi):
    """``σ(z) = 1/(1 + e^−z)``; ``Ψ(u) = u log u + (1 − u) log(1 − u) − ½u²`` on ``[0, 1]``.

    ``Φ(y) = y log y + (1 − y) log(1 − y)``, ``Φ*(z) = softplus(z) = log(1 + e^z)``,
    ``env(z) = ½z² − softplus(z)``;
    ``B(y, z) = y log y + (1 − y) log(1 − y) + y·softplus(−z) + (1 − y)·softplus(z)``
    (= KL(Bernoulli y ‖ Bernoulli σ(z)), the logistic loss minus the entropy of y).
    ``prox_{cΨ}(v) = σ(t)`` where ``(1 − c) σ(t) + c t = v`` (increasing in t).
    """

    name: ClassVar[str] = "sigmoid"
    summary: ClassVar[str] = "σ(z) = 1/(1 + e^−z)"
    onnx_op: ClassVar[str | None] = "Sigmoid"
    torch_module: ClassVar[str | None] = "Sigmoid"

    def prox(self, z: Any) -> Any:
        return sigmoid(z)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = σ(z)(1 − σ(z))·g``."""
        s = self.prox(z)
        return s * (1.0 - s) * g

    @staticmethod
    def _inside(y: Any) -> Any:
        return (y >= 0.0) & (y <= 1.0)

    def _psi(self, y: Any) -> Any:
        xp = array_namespace(y)
        w = xp.clip(y, 0.0, 1.0)
        value = xlogx(w) + xlog1px(-w) - 0.5 * w * w
        return value + indicator(self._inside(y), y)

    log_partition = staticmethod(softplus)

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        w = xp.clip(y, 0.0, 1.0)
        kl = _kl_term(w, softplus(-z)) + _kl_term(1.0 - w, softplus(z))
        return xp.where(self._inside(y), kl, INF)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        xp = array_namespace(v)
        c = _scale_array(c, v)
        lo = (v - xp.maximum(1.0 - c, 0.0)) / c
        hi = (v + xp.maximum(c - 1.0, 0.0)) / c

        def equation(t: Any) -> tuple[Any, Any, Any]:
            # σ'(t) = e^{−|t|}/(1 + e^{−|t|})²; the slope is ≥ min(c, (1 + 3c)/4) > 0.
            e = xp.exp(-xp.abs(t))
            ds = e / ((1.0 + e) * (1.0 + e))
            s = sigmoid(t)
            size = xp.abs(1.0 - c) * s + c * xp.abs(t) + xp.abs(v)
            return (1.0 - c) * s + c * t - v, c + (1.0 - c) * ds, size

        t0 = _sigmoid_guess(xp, v, c)
        return sigmoid(solve_increasing(equation, lo, hi, t0))

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """``clip(y, margin, 1 − margin)``."""
        margin = check_margin(margin, 0.5, self.name)
        return array_namespace(y).clip(y, margin, 1.0 - margin)
