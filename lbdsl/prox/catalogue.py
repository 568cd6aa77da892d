"""The Ψ catalogue: every activation lbdsl supports, as ``σ = prox_Ψ`` (math.md §1).

| name             | σ(z)                  | Φ(y) = ½‖y‖² + Ψ(y)                  | Φ*(z)           |
|------------------|-----------------------|--------------------------------------|-----------------|
| identity         | z                     | ½y²                                  | ½z²             |
| relu             | max(z, 0)             | ½y², y ≥ 0                           | ½max(z, 0)²     |
| leaky_relu(a)    | z (z ≥ 0), a z        | ½y² (y ≥ 0), y²/(2a)                 | ½z², ½az² (z<0) |
| elu(α), α ≤ 1    | z (z ≥ 0), α(e^z − 1) | ½y² (y ≥ 0), (α+y)log(1+y/α) − y     | ½z², α(e^z−1−z) |
| soft(θ)          | sign z·max(|z|−θ, 0)  | ½y² + θ|y|                           | ½max(|z|−θ, 0)² |
| clip(lo, hi)     | min(max(z, lo), hi)   | ½y², lo ≤ y ≤ hi                     | ½z² − ½dist²    |
| tanh             | tanh z                | y artanh y + ½log(1 − y²), |y| ≤ 1   | log cosh z      |
| sigmoid          | 1/(1 + e^−z)          | y log y + (1−y)log(1−y), 0 ≤ y ≤ 1   | log(1 + e^z)    |
| softmax (vector) | e^z / Σ e^z           | Σ y_i log y_i on the simplex         | logsumexp z     |

(``dist`` is the distance of z to [lo, hi].)  The domains of elu, tanh, sigmoid and softmax are
the closed half-line ``[−α, ∞)`` / interval / simplex: Φ is finite (0 log 0 = 0) and lower
semicontinuous at the ends, which is what makes a 0/1 label's penalty the logistic or
cross-entropy loss.

Each class documents its own formulas; :mod:`.base` holds the contract, :mod:`.piecewise`,
:mod:`.legendre` and :mod:`.softmax` the three families, :mod:`.elu` the exponential unit,
:mod:`.scalar` the Newton solver that the scaled proxes without closed form share.
"""

from __future__ import annotations

from .base import ElementwisePsi, Psi
from .elu import ELU
from .legendre import Sigmoid, Tanh
from .piecewise import Clip, Identity, LeakyReLU, ReLU, SoftThreshold
from .registry import ACTIVATIONS, make_activation
from .softmax import Softmax

__all__ = [
    "Psi", "ElementwisePsi", "Identity", "ReLU", "LeakyReLU", "ELU", "SoftThreshold", "Clip",
    "Tanh", "Sigmoid", "Softmax", "DEFAULTS",
]

#: One instance of every Ψ with its default parameters (what a bare name in a spec builds);
#: a new Ψ is its class and its entry in :data:`~.registry.ACTIVATIONS`.
DEFAULTS: tuple[Psi, ...] = tuple(dict.fromkeys(
    make_activation(name) for name in ACTIVATIONS))
