"""The piecewise-linear activations: identity, relu, leaky_relu, soft(θ), clip(lo, hi).

Each Ψ is piecewise quadratic, so every quantity has a closed form.  The Bregman penalty is
evaluated as ``B = ½(y − s)² + [Ψ(y) − Ψ(s) − p (y − s)]`` with ``s = σ(z)`` and
``p = z − s ∈ ∂Ψ(s)``: both parts are ≥ 0 term by term, so no large terms cancel for large |z|
(the textbook ``Φ(y) + Φ*(z) − yz`` loses every digit when z ≈ 1e8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..backend import array_namespace
from ..options import option
from .base import ElementwisePsi, check_margin, check_scale, indicator

__all__ = ["Identity", "ReLU", "LeakyReLU", "SoftThreshold", "Clip"]

INF = math.inf


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    """``min(max(x, lo), hi)``; array-api-compat's ``clip`` is ~6× slower than this on NumPy."""
    xp = array_namespace(x)
    return xp.minimum(xp.maximum(x, lo), hi)


@dataclass(frozen=True)
class Identity(ElementwisePsi):
    """``Ψ = 0``: ``σ(z) = z``, ``Φ(y) = ½y²``, ``Φ*(z) = ½z²``, ``env = 0``, ``B = ½(y − z)²``."""

    name: ClassVar[str] = "identity"
    summary: ClassVar[str] = "σ(z) = z"

    def onnx(self, g: Any, z: str, shape: tuple[int, ...], base: str) -> str:
        return z

    def torch(self, shape: tuple[int, ...]) -> list[tuple[str, tuple[Any, ...]]]:
        return []

    def prox(self, z: Any) -> Any:
        return z

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = g``."""
        return g

    def _psi(self, y: Any) -> Any:
        return array_namespace(y).zeros_like(y)

    def _phi_conj(self, z: Any) -> Any:
        return 0.5 * z * z

    def _envelope(self, z: Any) -> Any:
        return array_namespace(z).zeros_like(z)

    def _bregman(self, y: Any, z: Any) -> Any:
        return 0.5 * (y - z) ** 2

    def prox_scaled(self, v: Any, c: Any) -> Any:
        """``prox_{c·0}(v) = v``."""
        check_scale(c)
        return v

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """dom Ψ = ℝⁿ: ``y``."""
        check_margin(margin, INF, self.name)
        return y


@dataclass(frozen=True)
class ReLU(ElementwisePsi):
    """``Ψ = χ_{[0,∞)}``: ``σ(z) = max(z, 0)``.

    ``Φ(y) = ½y²`` (y ≥ 0), ``Φ*(z) = ½max(z, 0)²``, ``env(z) = ½min(z, 0)²``;
    ``B(y, z) = ½(y − z)²`` (z ≥ 0), ``½y² − z y`` (z < 0), ``+∞`` for y < 0.
    """

    name: ClassVar[str] = "relu"
    summary: ClassVar[str] = "σ(z) = max(z, 0)"
    onnx_op: ClassVar[str | None] = "Relu"
    torch_module: ClassVar[str | None] = "ReLU"

    def prox(self, z: Any) -> Any:
        return array_namespace(z).maximum(z, 0.0)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = [z > 0]·g`` (0 at the kink)."""
        xp = array_namespace(z, g)
        return xp.where(z > 0, g, xp.zeros_like(g))

    def _psi(self, y: Any) -> Any:
        return indicator(y >= 0, y)

    def _phi_conj(self, z: Any) -> Any:
        s = array_namespace(z).maximum(z, 0.0)
        return 0.5 * s * s

    def _envelope(self, z: Any) -> Any:
        p = array_namespace(z).minimum(z, 0.0)
        return 0.5 * p * p

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        s, p = xp.maximum(z, 0.0), xp.minimum(z, 0.0)
        return xp.where(y >= 0, 0.5 * (y - s) ** 2 - p * (y - s), INF)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        """``prox_{cχ} = projection onto [0, ∞)`` for every ``c > 0``."""
        check_scale(c)
        return self.prox(v)

    def flat_values(self) -> tuple[float, ...]:
        """σ = 0 on z ≤ 0."""
        return (0.0,)

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """``max(y, margin)``: the nearest point of ``[margin, ∞)``."""
        margin = check_margin(margin, INF, self.name)
        return array_namespace(y).maximum(y, margin)


@dataclass(frozen=True)
class LeakyReLU(ElementwisePsi):
    """``Ψ(y) = ½(1/a − 1) y²`` for y < 0, 0 for y ≥ 0 (``0 < a ≤ 1``): ``σ(z) = z`` or ``a z``.

    ``Φ(y) = ½y²`` (y ≥ 0), ``y²/(2a)`` (y < 0); ``Φ*(z) = ½z²`` (z ≥ 0), ``½ a z²`` (z < 0);
    ``env(z) = ½(1 − a) z²`` (z < 0), 0;  ``B(y, z)`` by sign: (+,+) ``½(y − z)²``,
    (−,−) ``(y − a z)²/(2a)``, (+,−) ``½y² + ½az² − yz``, (−,+) ``y²/(2a) + ½z² − yz``,
    every term of the mixed cases ≥ 0.  ``prox_{cΨ}(v) = v`` (v ≥ 0), ``v/(1 + c(1/a − 1))``.
    """

    a: float = option("number", 0.01, valid=lambda a: 0 < a <= 1, requirement="0 < a <= 1",
                      doc="the slope for z < 0")
    name: ClassVar[str] = "leaky_relu"
    summary: ClassVar[str] = "σ(z) = z (z ≥ 0), a·z (z < 0)"
    onnx_op: ClassVar[str | None] = "LeakyRelu"
    torch_module: ClassVar[str | None] = "LeakyReLU"

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": float(self.a)}

    def torch_arguments(self) -> tuple[Any, ...]:
        return (float(self.a),)

    def __post_init__(self) -> None:
        a = float(self.a)
        if not 0.0 < a <= 1.0:
            raise ValueError(f"`leaky_relu` needs 0 < a <= 1, got a = {a:g}")
        object.__setattr__(self, "a", a)

    def prox(self, z: Any) -> Any:
        return array_namespace(z).where(z >= 0, z, self.a * z)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = g`` (z ≥ 0), ``a·g`` (z < 0)."""
        return array_namespace(z, g).where(z >= 0, g, self.a * g)

    def _psi(self, y: Any) -> Any:
        xp = array_namespace(y)
        return xp.where(y >= 0, 0.0, (0.5 * (1.0 / self.a - 1.0)) * y * y)

    def _phi_conj(self, z: Any) -> Any:
        xp = array_namespace(z)
        return xp.where(z >= 0, 0.5 * z * z, (0.5 * self.a) * z * z)

    def _envelope(self, z: Any) -> Any:
        xp = array_namespace(z)
        return xp.where(z >= 0, 0.0, (0.5 * (1.0 - self.a)) * z * z)

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        a = self.a
        both_pos = 0.5 * (y - z) ** 2
        both_neg = (y - a * z) ** 2 / (2.0 * a)
        y_pos_z_neg = 0.5 * y * y + (0.5 * a) * z * z - y * z
        y_neg_z_pos = y * y / (2.0 * a) + 0.5 * z * z - y * z
        return xp.where(y >= 0, xp.where(z >= 0, both_pos, y_pos_z_neg),
                        xp.where(z >= 0, y_neg_z_pos, both_neg))

    def prox_scaled(self, v: Any, c: Any) -> Any:
        c = check_scale(c)
        xp = array_namespace(v)
        return xp.where(v >= 0, v, v / (1.0 + c * (1.0 / self.a - 1.0)))

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """dom Ψ = ℝⁿ: ``y``."""
        check_margin(margin, INF, self.name)
        return y


@dataclass(frozen=True)
class SoftThreshold(ElementwisePsi):
    """``Ψ(y) = θ|y|`` (θ ≥ 0): ``σ(z) = sign(z) max(|z| − θ, 0) = z − clip(z, −θ, θ)``.

    ``Φ*(z) = ½max(|z| − θ, 0)²``; ``env(z) = ½z²`` (|z| ≤ θ), ``θ|z| − ½θ²`` (Huber);
    ``B(y, z) = ½(y − s)² + θ|y| − p y`` with ``p = clip(z, −θ, θ)``, ``s = z − p``;
    ``prox_{cΨ}`` thresholds at ``cθ``.
    """

    theta: float = option("number", 0.5, valid=lambda t: math.isfinite(t) and t >= 0,
                          requirement="theta >= 0", doc="the threshold")
    name: ClassVar[str] = "soft"
    summary: ClassVar[str] = "σ(z) = sign(z)·max(|z| − θ, 0)"
    onnx_op: ClassVar[str | None] = "Shrink"
    torch_module: ClassVar[str | None] = "Softshrink"

    def onnx_attributes(self) -> dict[str, Any]:
        theta = float(self.theta)       # ONNX's soft threshold: Shrink with bias = lambd
        return {"lambd": theta, "bias": theta}

    def torch_arguments(self) -> tuple[Any, ...]:
        return (float(self.theta),)

    @property
    def l1_weight(self) -> float:
        return self.theta

    def __post_init__(self) -> None:
        theta = float(self.theta)
        if not (math.isfinite(theta) and theta >= 0.0):
            raise ValueError(f"`soft` needs theta >= 0, got theta = {theta:g}")
        object.__setattr__(self, "theta", theta)

    def prox(self, z: Any) -> Any:
        return z - _clip(z, -self.theta, self.theta)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = [|z| > θ]·g`` (0 at the kinks)."""
        xp = array_namespace(z, g)
        return xp.where(xp.abs(z) > self.theta, g, xp.zeros_like(g))

    def _psi(self, y: Any) -> Any:
        return self.theta * array_namespace(y).abs(y)

    def _phi_conj(self, z: Any) -> Any:
        s = array_namespace(z).maximum(array_namespace(z).abs(z) - self.theta, 0.0)
        return 0.5 * s * s

    def _envelope(self, z: Any) -> Any:
        xp = array_namespace(z)
        a, t = xp.abs(z), self.theta
        return xp.where(a <= t, 0.5 * z * z, t * a - 0.5 * t * t)

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        # p is the subgradient clip(z, −θ, θ) itself, not z − s: then |p| ≤ θ holds exactly and
        # θ|y| − p y ≥ 0 survives rounding.
        p = _clip(z, -self.theta, self.theta)
        s = z - p
        return 0.5 * (y - s) ** 2 + (self.theta * xp.abs(y) - p * y)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        t = check_scale(c) * self.theta
        return v - _clip(v, -t, t)

    def flat_values(self) -> tuple[float, ...]:
        """σ = 0 on |z| ≤ θ (none for θ = 0, the identity)."""
        return (0.0,) if self.theta > 0 else ()

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """dom Ψ = ℝⁿ: ``y``."""
        check_margin(margin, INF, self.name)
        return y


@dataclass(frozen=True)
class Clip(ElementwisePsi):
    """``Ψ = χ_{[lo, hi]}`` (hardtanh for lo = −1, hi = 1): ``σ(z) = min(max(z, lo), hi)``.

    ``Φ*(z) = ½z² − ½dist(z, [lo, hi])² = s z − ½s²`` with ``s = σ(z)``;
    ``env(z) = ½dist(z, [lo, hi])²``; ``B(y, z) = ½(y − s)² − (z − s)(y − s)``, ``+∞`` off
    ``[lo, hi]``; ``prox_{cΨ} = σ`` for every ``c > 0``.
    """

    lo: float = option("number", -1.0, valid=math.isfinite, requirement="a finite number",
                       doc="the lower end")
    hi: float = option("number", 1.0, valid=math.isfinite, requirement="a finite number",
                       doc="the upper end")
    name: ClassVar[str] = "clip"
    summary: ClassVar[str] = "σ(z) = min(max(z, lo), hi) (hardtanh: lo = −1, hi = 1)"
    aliases: ClassVar[tuple[str, ...]] = ("hardtanh",)

    torch_module: ClassVar[str | None] = "Hardtanh"

    def onnx(self, g: Any, z: str, shape: tuple[int, ...], base: str) -> str:
        """``Clip`` with its ends as inputs (ONNX opset 11 on)."""
        lo = g.const(f"{base}_lo", np.array(self.lo))
        hi = g.const(f"{base}_hi", np.array(self.hi))
        return g.op("Clip", [z, lo, hi], f"{base}_clip")

    def torch_arguments(self) -> tuple[Any, ...]:
        return (float(self.lo), float(self.hi))

    def __post_init__(self) -> None:
        lo, hi = float(self.lo), float(self.hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"`clip` needs lo < hi (both finite), got lo = {lo:g}, hi = {hi:g}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def prox(self, z: Any) -> Any:
        return _clip(z, self.lo, self.hi)

    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g = [lo < z < hi]·g`` (0 at the kinks)."""
        xp = array_namespace(z, g)
        return xp.where((z > self.lo) & (z < self.hi), g, xp.zeros_like(g))

    def _inside(self, y: Any) -> Any:
        return (y >= self.lo) & (y <= self.hi)

    def _psi(self, y: Any) -> Any:
        return indicator(self._inside(y), y)

    def _phi_conj(self, z: Any) -> Any:
        s = self.prox(z)
        return s * z - 0.5 * s * s

    def _envelope(self, z: Any) -> Any:
        d = z - self.prox(z)
        return 0.5 * d * d

    def _bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        s = self.prox(z)
        p = z - s
        return xp.where(self._inside(y), 0.5 * (y - s) ** 2 - p * (y - s), INF)

    def prox_scaled(self, v: Any, c: Any) -> Any:
        check_scale(c)
        return self.prox(v)

    def flat_values(self) -> tuple[float, ...]:
        """σ = lo on z ≤ lo and hi on z ≥ hi."""
        return (self.lo, self.hi)

    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """``clip(y, lo + margin, hi − margin)``."""
        margin = check_margin(margin, 0.5 * (self.hi - self.lo), self.name)
        return array_namespace(y).clip(y, self.lo + margin, self.hi - margin)
