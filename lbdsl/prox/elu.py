"""The exponential linear unit ``σ(z) = z`` (z ≥ 0), ``α(eᶻ − 1)`` (z < 0), for ``0 < α ≤ 1``.

σ is increasing with slope ``min(1, α eᶻ) ≤ 1``, so it is ``prox_Ψ`` of a convex Ψ (math.md §1);
for α > 1 its slope ``α eᶻ`` exceeds 1 just below 0 and it is no proximal map.  On
``y ∈ (−α, 0)``, ``σ⁻¹(y) = log(1 + y/α)`` and (writing ``w = y/α``, ``p = 1 + w``)::

    Φ(y) = (α + y) log(1 + y/α) − y                    = α g(w),   g(w) = p log p − w
    Ψ(y) = (α + y) log(1 + y/α) − y − ½y²              = α h(w) + ½α(1 − α) w²,  h = g − ½w²
    Φ*(z) = ½z² (z ≥ 0),   α(eᶻ − 1 − z) (z < 0)
    env(z) = 0 (z ≥ 0),    ½(1 − α) z² − α(eᶻ − 1 − z − ½z²) (z < 0)

and ``Ψ = 0``, ``Φ(y) = ½y²`` for y ≥ 0.  Ψ is convex (``Ψ'' = 1/(α + y) − 1 ≥ 0`` on
``(−α, 0)`` when α ≤ 1) and C¹ (``Ψ'(y) = log(1 + y/α) − y → 0`` at 0).  Its limit at ``−α`` is
finite, ``α − α²/2``, so the lower semicontinuous Ψ has the closed domain ``[−α, ∞)``, as tanh's
has ``[−1, 1]``; σ reaches ``−α`` only in the limit, so data are projected strictly inside
(``interior_data``).  Every quantity is a sum of terms of one sign: ``g``, ``h``, ``eᶻ − 1 − z``
and ``eᶻ − 1 − z − ½z²`` by their Taylor series near 0 (all of whose terms have one sign for
``w, z < 0``, or alternate with decreasing size), and the Bregman penalty by the sign of y
and z, never as ``Φ(y) + Φ*(z) − yz`` with large terms cancelling (see :class:`ELU`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..backend import array_namespace
from ..options import option
from .base import ElementwisePsi, check_margin, check_scale, indicator, xlogx
from .scalar import lambert_w_exp, solve_increasing

__all__ = ["ELU"]

INF = math.inf
#: where the Taylor series replace the direct formulas (|argument| at most this)
_SERIES = 0.5
#: terms of the series in ``x``, |x| ≤ 1/2: the first omitted is 2⁻⁵⁶/56² of the first kept
_LOG_TERMS = 56
#: where the exponential series replace ``expm1`` (|z| at most this), and their terms: the
#: first omitted is below 2³⁰/30! ≈ 4e-24 of the first kept
_EXP_SERIES = 2.0
_EXP_TERMS = 30


def _scale_array(c: Any, like: Any) -> Any:
    """``c`` (checked: finite and > 0) as an array of ``like``'s namespace and dtype."""
    c = check_scale(c)
    xp = array_namespace(like)
    return xp.asarray(c, dtype=like.dtype) if isinstance(c, float) else c


def _log_series(x: Any, start: int) -> Any:
    """``Σ_{k ≥ start} x^(k − start) / (k (k − 1))`` by Horner's rule (for ``|x| ≤ 1/2``)."""
    acc = 0.0 * x
    for k in range(start + _LOG_TERMS - 1, start - 1, -1):
        acc = 1.0 / (k * (k - 1)) + x * acc
    return acc


def _g(d: Any, p: Any) -> Any:
    """``g(d) = (1 + d) log(1 + d) − d ≥ 0`` for ``d ≥ −1``, given ``p = 1 + d`` as exactly as
    the caller knows it (``g(−1) = 1``).

    ``|d| ≤ 1/2``: ``g(d) = Σ_{k≥2} (−d)^k / (k(k − 1)) = d² Σ_{k≥2} (−d)^(k−2)/(k(k − 1))``
    (no cancellation); elsewhere ``p log p − d``, whose terms are at most ~8 times g.
    """
    xp = array_namespace(d)
    small = xp.abs(d) <= _SERIES
    x = xp.where(small, -d, 0.0)
    series = d * d * _log_series(x, 2)
    return xp.where(small, series, xlogx(xp.where(small, 1.0, p)) - d)


def _h(w: Any, p: Any) -> Any:
    """``h(w) = g(w) − ½w² = Σ_{k≥3} (−w)^k / (k(k − 1)) ≥ 0`` for ``w ∈ [−1, 0]``, ``p = 1 + w``.

    ``|w| ≤ 1/2``: the series, whose terms are all ≥ 0; elsewhere ``p log p − w − ½w²``
    (terms at most ~20 times h).
    """
    xp = array_namespace(w)
    small = xp.abs(w) <= _SERIES
    x = xp.where(small, -w, 0.0)
    series = x * x * x * _log_series(x, 3)
    direct = xlogx(xp.where(small, 1.0, p)) - w - 0.5 * w * w
    return xp.where(small, series, direct)


def _exp_tail(z: Any, k: int) -> Any:
    """``eᶻ − Σ_{j<k} zʲ/j!`` for ``z ≤ 0`` and ``k ∈ {2, 3}`` (``eᶻ − 1 − z`` ≥ 0,
    ``eᶻ − 1 − z − ½z²`` ≤ 0), without cancellation.

    ``|z| ≤ 2``: the series ``(zᵏ/k!)(1 + z/(k + 1)(1 + z/(k + 2)(1 + …)))`` (alternating
    terms, none more than twice the result); elsewhere ``expm1(z) − z (− ½z²)``, whose terms
    are at most ~3 times the result.  Positive ``z`` are read as 0 (callers mask them).
    """
    xp = array_namespace(z)
    zn = xp.minimum(z, 0.0)
    small = zn >= -_EXP_SERIES
    s = xp.where(small, zn, 0.0)
    acc = 1.0 + 0.0 * s
    for j in range(k + _EXP_TERMS, k, -1):
        acc = 1.0 + s * acc / j
    power = s * s if k == 2 else s * s * s
    series = power * acc / math.factorial(k)
    direct = xp.expm1(zn) - zn
    if k == 3:
        direct = direct - 0.5 * zn * zn
    return xp.where(small, series, direct)


@dataclass(frozen=True)
class ELU(ElementwisePsi):
    """``σ(z) = z`` (z ≥ 0), ``α(eᶻ − 1)`` (z < 0), ``0 < α ≤ 1`` (PyTorch's ``nn.ELU``).

    Formulas in the module docstring.  ``B(y, z)`` by the signs of y and z (every term ≥ 0):
    (+,+) ``½(y − z)²``; (−,+) ``Φ(y) + ½z² − yz``; (+,−) ``½y² + α(eᶻ − 1 − z) − yz``;
    (−,−) with ``p = 1 + y/α``, ``q = eᶻ = 1 + σ(z)/α`` it is ``α[p log(p/q) − p + q]``
    (a generalised Kullback–Leibler divergence), evaluated as ``α q g(p/q − 1)`` when
    ``p ≤ 8q`` and as ``α[p(log p − z − 1) + q]`` (then ``log p − z > 2``) otherwise.
    ``prox_{cΨ}(v) = v`` for v ≥ 0; for v < 0 it is ``α(eᵗ − 1)`` where t < 0 solves
    ``(1 − c) α (eᵗ − 1) + c t = v``, written ``α(eᵗ − 1) + c[(1 − α)t − α(eᵗ − 1 − t)]`` (all
    terms < 0, none cancels), increasing with slope ``α eᵗ + c(1 − α eᵗ)`` between
    ``min(c, c + α(1 − c))`` and ``max(…)``, which bracket the root.
    """

    alpha: float = option("number", 1.0, valid=lambda a: 0 < a <= 1,
                          requirement="0 < alpha <= 1 (for alpha > 1 its slope alpha·e^z "
                                      "exceeds 1 just below 0: not 1-Lipschitz, so not a "
                                      "proximal map)",
                          doc="the value −alpha that σ tends to as z → −∞")
    name: ClassVar[str] = "elu"
    summary: ClassVar[str] = "σ(z) = z (z ≥ 0), α(e^z − 1) (z < 0)"
    interior_data: ClassVar[bool] = True
    onnx_op: ClassVar[str | None] = "Elu"
    torch_module: ClassVar[str | None] = "ELU"

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": float(self.alpha)}

    def torch_arguments(self) -> tuple[Any, ...]:
        return (float(self.alpha),)

    def __post_init__(self) -> None:
        alpha = float(self.alpha)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"`elu` needs 0 < alpha <= 1, got alpha = {alpha:g} (for alpha "
                             "> 1 it is not 1-Lipschitz, so not a proximal map)")
        object.__setattr__(self, "alpha", alpha)

    def prox(self, z: Any) -> Any:
        xp = array_namespace(z)
        return xp.where(z >= 0, z, self.alpha * xp.expm1(xp.minimum(z, 0.0)))

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = g`` (z ≥ 0), ``α eᶻ g`` (z < 0)."""
        xp = array_namespace(z, g)
        return xp.where(z >= 0, g, self.alpha * xp.exp(xp.minimum(z, 0.0)) * g)

    def _negative_part(self, y: Any) -> tuple[Any, Any]:
        """``(w, p) = (y/α, (α + y)/α)`` of ``y`` clipped to ``[−α, 0]`` (``α + y`` is exact
        near ``−α``, so p keeps its relative accuracy where it is small)."""
        xp = array_namespace(y)
        yc = xp.clip(y, -self.alpha, 0.0)
        return yc / self.alpha, (self.alpha + yc) / self.alpha

    def _psi(self, y: Any) -> Any:
        a = self.alpha
        w, p = self._negative_part(y)       # w = 0 for y ≥ 0: Ψ = 0 there
        value = a * _h(w, p) + (0.5 * a * (1.0 - a)) * w * w
        return value + indicator(y >= -a, y)

    def _phi_conj(self, z: Any) -> Any:
        xp = array_namespace(z)
        return xp.where(z >= 0, 0.5 * z * z, self.alpha * _exp_tail(z, 2))

    def _envelope(self, z: Any) -> Any:
        xp = array_namespace(z)
        a = self.alpha
        zn = xp.minimum(z, 0.0)
        return (0.5 * (1.0 - a)) * zn * zn - a * _exp_tail(zn, 3)

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        a = self.alpha
        w, p = self._negative_part(y)
        zn = xp.minimum(z, 0.0)
        q, v = xp.exp(zn), xp.expm1(zn)
        both_pos = 0.5 * (y - z) ** 2
        y_neg_z_pos = a * _g(w, p) + 0.5 * z * z - y * z
        y_pos_z_neg = 0.5 * y * y + a * _exp_tail(zn, 2) - y * z
        # (−, −): p − q from p and q where both are small, else from w − v (both small then)
        near = (q > 0) & (p <= 8.0 * q)
        q_safe = xp.where(near, q, 1.0)
        diff = xp.where(q < 0.5, p - q, w - v)
        d = xp.where(near, diff / q_safe, 0.0)
        kl_near = a * q * _g(d, xp.where(near, p / q_safe, 1.0))
        positive = p > 0
        log_p = xp.log(xp.where(positive, p, 1.0))
        kl_far = a * (xp.where(positive, p * (log_p - zn - 1.0), 0.0) + q)
        both_neg = xp.where(near, kl_near, kl_far)
        value = xp.where(y >= 0, xp.where(z >= 0, both_pos, y_pos_z_neg),
                         xp.where(z >= 0, y_neg_z_pos, both_neg))
        return xp.where(y >= -a, value, INF)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        xp = array_namespace(v)
        c = _scale_array(c, v)
        a = self.alpha
        vn = xp.minimum(v, 0.0)                       # v ≥ 0: t = 0, and u = v below
        slope_a, slope_b = c, c + a * (1.0 - c)       # the slope's range: α eᵗ ∈ (0, α]
        lo = vn / xp.minimum(slope_a, slope_b)
        hi = vn / xp.maximum(slope_a, slope_b)

        def equation(t: Any) -> tuple[Any, Any, Any]:
            em1, tail = xp.expm1(t), _exp_tail(t, 2)
            linear = (1.0 - a) * t - a * tail        # t − α(eᵗ − 1): two terms ≤ 0
            slope = a * (em1 + 1.0) + c * ((1.0 - a) - a * em1)
            size = xp.abs(vn) + a * xp.abs(em1) + c * xp.abs(linear)
            return a * em1 + c * linear - vn, slope, size

        return xp.where(v >= 0, v, a * xp.expm1(solve_increasing(
            equation, lo, hi, self._guess(xp, vn, c, lo))))

    def _guess(self, xp: Any, vn: Any, c: Any, lo: Any) -> Any:
        """A start for ``(1 − c) α (eᵗ − 1) + c t = vn`` (it sets Newton's work, not the root).

        c < 1 (the equation convex in t): ``(1 − c)α eᵗ = c(t_a − t)`` with
        ``t_a = (vn + (1 − c)α)/c`` is solved by Lambert's W, ``t = t_a − W(((1 − c)α/c)e^{t_a})``
        (exact, but ``t_a − W`` cancels when the root is small: there ``log1p(vn/((1 − c)α))``,
        the root without ``c t``).  c ≥ 1 (concave): the largest of ``lo``,
        ``(vn − (c − 1)α)/c`` (the root without ``eᵗ``) and the negative root
        ``2vn/(m + √(m² − 2cα vn))``, ``m = α + c(1 − α)``, of the quadratic that
        ``eᵗ − 1 − t ≤ t²/2`` puts below the equation: all left of the root, from where Newton
        converges monotonically.
        """
        a = self.alpha
        eps = float(xp.finfo(vn.dtype).eps)
        small_c = c < 1.0
        gap = xp.where(small_c, (1.0 - c) * a, 1.0)
        t_a = (vn + gap) / c
        tail = t_a - lambert_w_exp(xp.log(gap / c) + t_a)
        middle = xp.log1p(xp.maximum(vn / gap, -1.0 + eps))
        m = a + c * (1.0 - a)
        quadratic = 2.0 * vn / (m + xp.sqrt(m * m - 2.0 * a * c * vn))
        concave = xp.maximum(xp.maximum(lo, (vn - (c - 1.0) * a) / c), quadratic)
        return xp.where(small_c, xp.where(tail < -1.0, tail, middle), concave)

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """``max(y, −α + margin)``: the nearest point of ``[−α + margin, ∞)``."""
        margin = check_margin(margin, INF, self.name)
        return array_namespace(y).maximum(y, -self.alpha + margin)
