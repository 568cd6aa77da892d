"""The contract of a Ψ (an activation ``σ = prox_Ψ``) and the stable scalar kernels Ψ's share.

A Ψ is a function on ℝⁿ; arrays are stacks of vectors along leading axes and the LAST axis is the
vector.  Value functions (``psi``, ``phi``, ``phi_conj``, ``envelope``, ``bregman``) return sums
over the last axis, shape ``z.shape[:-1]``; maps (``prox``, ``bregman_grad_z``, ``prox_scaled``,
``prox_phi``, ``project_domain``) return arrays of the input's shape.  Arrays may come from any
array-API namespace and keep their float dtype; no method branches on the backend.

With ``Φ = ½‖·‖² + Ψ`` (math.md §1)::

    σ(z)      = prox_Ψ(z) = argmin_u ½‖u − z‖² + Ψ(u) = ∇Φ*(z)
    env_Ψ(z)  = min_u ½‖u − z‖² + Ψ(u) = ½‖z‖² − Φ*(z)
    B_Ψ(y, z) = Φ(y) + Φ*(z) − ⟨y, z⟩ ≥ ½‖y − σ(z)‖²,      ∇_z B_Ψ(y, z) = σ(z) − y
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..backend import array_namespace
from ..errors import ExportRefused

__all__ = [
    "Psi", "ElementwisePsi", "softplus", "logcosh", "sigmoid", "xlogx", "xlog1px", "indicator",
    "check_scale", "check_margin",
]

LOG2 = math.log(2.0)


# ---------------------------------------------------------------- stable scalar kernels

def softplus(x: Any) -> Any:
    """``log(1 + eˣ) = max(x, 0) + log1p(e^−|x|)``: never overflows."""
    xp = array_namespace(x)
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def logcosh(x: Any) -> Any:
    """``log cosh x = |x| + log1p(e^−2|x|) − log 2``: never overflows."""
    xp = array_namespace(x)
    a = xp.abs(x)
    return a + xp.log1p(xp.exp(-2.0 * a)) - LOG2


def sigmoid(x: Any) -> Any:
    """``1/(1 + e^−x)``, evaluated through ``e^−|x|`` so that nothing overflows."""
    xp = array_namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def xlogx(x: Any) -> Any:
    """``x log x`` with ``0 log 0 = 0``."""
    xp = array_namespace(x)
    positive = x > 0
    return xp.where(positive, x * xp.log(xp.where(positive, x, 1.0)), 0.0)


def xlog1px(w: Any) -> Any:
    """``(1 + w) log(1 + w)`` through ``log1p`` (accurate for small w), 0 at ``w = −1``."""
    xp = array_namespace(w)
    positive = w > -1.0
    return xp.where(positive, (1.0 + w) * xp.log1p(xp.where(positive, w, 0.0)), 0.0)


def indicator(inside: Any, like: Any) -> Any:
    """``0`` where ``inside`` holds, ``+inf`` elsewhere, in the dtype of ``like``."""
    xp = array_namespace(like)
    zero = xp.zeros(inside.shape, dtype=like.dtype)
    return xp.where(inside, zero, zero + math.inf)


def check_scale(c: Any, what: str = "c") -> Any:
    """A scalar scale as a Python ``float`` (ValueError unless finite and > 0).

    Scalars become Python floats so that they never promote a float32 array (NumPy 2 would
    promote by a ``numpy.float64`` scalar).  Arrays (one scale per entry or per row) pass
    unchecked: checking them would synchronise a GPU on every call.
    """
    if hasattr(c, "shape") and getattr(c, "ndim", 0) > 0:
        return c
    c = float(c)
    if not (c > 0 and math.isfinite(c)):
        raise ValueError(f"the scale {what} of a scaled prox must be finite and > 0, got {c:g}")
    return c


def check_margin(margin: float, limit: float, name: str) -> float:
    """``margin`` as a float, ValueError unless ``0 <= margin < limit``."""
    margin = float(margin)
    if not 0.0 <= margin < limit:
        raise ValueError(
            f"`{name}`: project_domain needs 0 <= margin < {limit:g}, got {margin:g}")
    return margin


# ---------------------------------------------------------------- the contract

@dataclass(frozen=True)
class Psi(ABC):
    """A proper convex lsc Ψ on ℝⁿ with ``σ = prox_Ψ`` its activation (see the module docstring).

    Subclasses set ``name`` (the spec name) and ``elementwise`` and implement the abstract
    methods; ``phi``, ``bregman_grad_z`` and ``prox_phi`` are generic.
    """

    name: ClassVar[str]
    #: σ in one line, for listings and docs
    summary: ClassVar[str] = ""
    #: other spec names for the same Ψ (PyTorch's ``hardtanh`` for ``clip``)
    aliases: ClassVar[tuple[str, ...]] = ()
    elementwise: ClassVar[bool] = True
    #: whether data are projected strictly inside dom Ψ (where σ reaches the edge only in the
    #: limit and B_Ψ(f, ·) has no minimiser for f on it: tanh, sigmoid, softmax)
    interior_data: ClassVar[bool] = False

    @property
    def l1_weight(self) -> float:
        """``θ ≥ 0`` where ``Ψ = θ‖·‖₁`` (an ``l1`` penalty on the state then adds to θ), else 0."""
        return 0.0

    def params(self) -> dict[str, float]:
        """The parameters, for display (``{"a": 0.01}`` for ``leaky_relu``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        args = ", ".join(f"{k} = {v:g}" for k, v in self.params().items())
        return f"{self.name}({args})" if args else self.name

    @abstractmethod
    def prox(self, z: Any) -> Any:
        """``σ(z) = prox_Ψ(z)``."""

    @abstractmethod
    def prox_vjp(self, z: Any, g: Any) -> Any:
        """``σ'(z)ᵀ g``, the derivative of ``σ = prox_Ψ`` — needed only by the backpropagation
        baselines (lifted Bregman solvers never differentiate σ)."""

    @abstractmethod
    def psi(self, y: Any) -> Any:
        """``Ψ(y)``, ``+inf`` outside dom Ψ."""

    def phi(self, y: Any) -> Any:
        """``Φ(y) = ½‖y‖² + Ψ(y)``, ``+inf`` outside dom Ψ."""
        xp = array_namespace(y)
        return 0.5 * xp.sum(y * y, axis=-1) + self.psi(y)

    @abstractmethod
    def phi_conj(self, z: Any) -> Any:
        """``Φ*(z) = sup_u ⟨u, z⟩ − Φ(u)``."""

    @abstractmethod
    def envelope(self, z: Any) -> Any:
        """``env_Ψ(z) = min_u ½‖u − z‖² + Ψ(u) = ½‖z‖² − Φ*(z)``."""

    @abstractmethod
    def bregman(self, y: Any, z: Any) -> Any:
        """``B_Ψ(y, z) = Φ(y) + Φ*(z) − ⟨y, z⟩ ≥ 0``, ``+inf`` if ``y ∉ dom Ψ``."""

    def bregman_grad_z(self, y: Any, z: Any) -> Any:
        """``∇_z B_Ψ(y, z) = σ(z) − y`` (no derivative of σ is needed)."""
        return self.prox(z) - y

    @abstractmethod
    def prox_scaled(self, v: Any, c: Any) -> Any:
        """``prox_{cΨ}(v) = argmin_u ½‖u − v‖² + c Ψ(u)`` for ``c > 0``.

        ``c`` is a number or an array that broadcasts against ``v`` (one scale per entry for a
        separable Ψ; per vector, i.e. of size 1 along the last axis, for softmax).
        """

    def prox_phi(self, v: Any, mu: Any) -> Any:
        """``prox_{μΦ}(v) = prox_{(μ/(1+μ))Ψ}(v / (1 + μ))`` for ``μ > 0``.

        (From ``½‖u − v‖² + μ(½‖u‖² + Ψ(u)) = ((1+μ)/2)‖u − v/(1+μ)‖² + μΨ(u) + const``.)
        """
        mu = check_scale(mu, "mu")
        return self.prox_scaled(v / (1.0 + mu), mu / (1.0 + mu))

    def flat_values(self) -> tuple[float, ...]:
        """The values σ keeps on a whole interval of z (relu: 0 for z ≤ 0), empty where σ is
        injective.  A measurement ``value + ε`` of such a unit cannot be told from noise, and
        ``B_Ψ(value + ε, z)`` grows like ``|ε|·dist(z, interval)`` over the interval (the noise
        amplified by the pre-activation): :meth:`snap` sets such data to the value."""
        return ()

    def snap(self, y: Any, width: float) -> Any:
        """``y`` with each entry closer than ``width`` to a :meth:`flat_values` value set to
        the nearest such value."""
        xp = array_namespace(y)
        out, nearest = y, None
        for value in self.flat_values():
            d = xp.abs(y - value)
            closer = d < width if nearest is None else (d < width) & (d < nearest)
            out = xp.where(closer, xp.asarray(value, dtype=y.dtype), out)
            nearest = d if nearest is None else xp.minimum(nearest, d)
        return out

    @abstractmethod
    def project_domain(self, y: Any, margin: float = 0.0) -> Any:
        """The nearest point of dom Ψ shrunk by ``margin`` (``y`` itself where dom Ψ = ℝⁿ)."""

    # -- export: what σ is in other frameworks (``ExportRefused`` where it is nothing) --------
    #: the ONNX operator that is σ (its attributes: :meth:`onnx_attributes`), None: none
    onnx_op: ClassVar[str | None] = None
    #: the ``torch.nn`` module that is σ (its arguments: :meth:`torch_arguments`), None: none
    torch_module: ClassVar[str | None] = None

    def onnx_attributes(self) -> dict[str, Any]:
        return {}

    def torch_arguments(self) -> tuple[Any, ...]:
        return ()

    def onnx(self, g: Any, z: str, shape: tuple[int, ...], base: str) -> str:
        """σ of the tensor ``z`` (``(N, *shape)``) as ONNX nodes added to the graph ``g``
        (:mod:`lbdsl.exchange.onnx_export`: ``g.op(op, inputs, base, **attrs)``,
        ``g.const(base, array)``, ``g.reshape(x, shape, base)``); the output tensor's name.
        By default :attr:`onnx_op` applied entrywise."""
        if self.onnx_op is None:
            raise ExportRefused(f"the activation `{self.name}` has no ONNX counterpart in "
                                "lbdsl")
        return g.op(self.onnx_op, [z], f"{base}_{self.name}", **self.onnx_attributes())

    def torch(self, shape: tuple[int, ...]) -> list[tuple[str, tuple[Any, ...]]]:
        """σ on ``(N, *shape)`` tensors as ``torch.nn`` modules ``(class name, args)``, in
        order (empty for the identity).  By default :attr:`torch_module`."""
        if self.torch_module is None:
            raise ExportRefused(f"the activation `{self.name}` has no torch.nn module in lbdsl")
        return [(self.torch_module, self.torch_arguments())]


@dataclass(frozen=True)
class ElementwisePsi(Psi):
    """A separable Ψ, ``Ψ(y) = Σ_i ψ(y_i)``: subclasses give the entrywise terms.

    ``_psi``, ``_phi_conj``, ``_envelope`` and ``_bregman`` return one term per entry; the public
    value functions sum them over the last axis.
    """

    elementwise: ClassVar[bool] = True

    @abstractmethod
    def _psi(self, y: Any) -> Any: ...

    @abstractmethod
    def _phi_conj(self, z: Any) -> Any: ...

    @abstractmethod
    def _envelope(self, z: Any) -> Any: ...

    @abstractmethod
    def _bregman(self, y: Any, z: Any) -> Any: ...

    def psi(self, y: Any) -> Any:
        return array_namespace(y).sum(self._psi(y), axis=-1)

    def phi_conj(self, z: Any) -> Any:
        return array_namespace(z).sum(self._phi_conj(z), axis=-1)

    def envelope(self, z: Any) -> Any:
        return array_namespace(z).sum(self._envelope(z), axis=-1)

    def bregman(self, y: Any, z: Any) -> Any:
        xp = array_namespace(y, z)
        # Each entry's term is ≥ 0 in exact arithmetic; clamping removes rounding noise so that
        # B ≥ 0 holds exactly (solvers may take its square root or log).
        return xp.sum(xp.maximum(self._bregman(y, z), 0.0), axis=-1)
