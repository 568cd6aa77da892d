"""First-order updates of a parameter dict: SGD with heavy-ball momentum, Adam, and implicit
SGD with backpropagated gradients (the seed's ISGD-BP baseline).

SGD and Adam are the textbook (and PyTorch) forms, applied entry-wise to every parameter::

    SGD    v ← m·v + g;          Θ ← Θ − lr·v
    Adam   m ← β₁m + (1 − β₁)g;  s ← β₂s + (1 − β₂)g²;
           Θ ← Θ − lr·m̂ / (√ŝ + ε),  m̂ = m/(1 − β₁ᵗ), ŝ = s/(1 − β₂ᵗ)

ISGD-BP takes the proximal (implicit) step of the batch loss ℓ_S (Toulis & Airoldi 2017),
``Θ^{k+1} = argmin_Θ ℓ_S(Θ) + (1/2τ)‖Θ − Θ^k‖²``, solved inexactly by ``inner`` gradient steps
from ``Θ^k``, each with a gradient backpropagated at the current iterate::

    Θ ← Θ − lr·(∇ℓ_S(Θ) + (Θ − Θ^k)/τ)

(on a quadratic loss with ``lr < 2/(L + 1/τ)`` the steps converge to the exact implicit step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

__all__ = ["SGDUpdate", "AdamUpdate", "ImplicitUpdate"]


class SGDUpdate:
    """Stochastic gradient descent with heavy-ball momentum ``m`` (0: plain SGD)."""

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.velocity: dict[str, Any] = {}

    def __call__(self, params: dict[str, Any], grads: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        for name, g in grads.items():
            if self.momentum:
                v = self.velocity.get(name)
                g = g if v is None else self.momentum * v + g
                self.velocity[name] = g
            out[name] = params[name] - self.lr * g
        return out

    def state(self) -> dict[str, Any]:
        """What the next step depends on (a snapshot: the update never mutates an array)."""
        return {"velocity": dict(self.velocity)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.velocity = dict(state.get("velocity", {}))


class AdamUpdate:
    """Adam (Kingma & Ba) with bias correction."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.lr, self.beta1, self.beta2 = float(lr), float(beta1), float(beta2)
        self.eps = float(eps)
        self.t = 0
        self.m: dict[str, Any] = {}
        self.s: dict[str, Any] = {}

    def __call__(self, params: dict[str, Any], grads: dict[str, Any]) -> dict[str, Any]:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step = self.lr * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        eps_hat = self.eps * math.sqrt(1.0 - b2 ** self.t)
        out = dict(params)
        for name, g in grads.items():
            xp = array_namespace(g)
            m = self.m.get(name)
            s = self.s.get(name)
            m = (1.0 - b1) * g if m is None else b1 * m + (1.0 - b1) * g
            s = (1.0 - b2) * (g * g) if s is None else b2 * s + (1.0 - b2) * (g * g)
            self.m[name], self.s[name] = m, s
            # lr·m̂/(√ŝ + ε) with the two bias corrections folded into one scalar
            out[name] = params[name] - step * m / (xp.sqrt(s) + eps_hat)
        return out

    def state(self) -> dict[str, Any]:
        """What the next step depends on (a snapshot: the update never mutates an array)."""
        return {"t": self.t, "m": dict(self.m), "s": dict(self.s)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.t = int(state.get("t", 0))
        self.m, self.s = dict(state.get("m", {})), dict(state.get("s", {}))


class ImplicitUpdate:
    """ISGD-BP's step (module docstring): ``inner`` gradient steps of size ``lr`` on
    ``ℓ_S(Θ) + (1/2τ)‖Θ − Θ^k‖²`` from the batch's ``Θ^k``; it keeps no state between
    batches."""

    def __init__(self, lr: float, tau: float, inner: int) -> None:
        self.lr, self.inv_tau, self.inner = float(lr), 1.0 / float(tau), int(inner)

    def proximal(self, params: dict[str, Any],
                 gradient: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """The inexact implicit step from ``params``, ``gradient(Θ)`` backpropagated at each
        inner iterate."""
        anchor, out = params, dict(params)
        for _ in range(self.inner):
            grads = gradient(out)
            out = {**out, **{name: out[name] - self.lr * (g + self.inv_tau
                                                           * (out[name] - anchor[name]))
                             for name, g in grads.items()}}
        return out

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None
