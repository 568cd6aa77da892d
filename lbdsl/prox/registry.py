"""Which activation names a spec may use, their parameters, and why other names are refused.

A scalar map is ``prox_Ψ`` for a proper convex lsc Ψ iff it is nondecreasing and 1-Lipschitz
(math.md §1).  :data:`ACTIVATIONS` is the catalogue: each entry a :class:`~.base.Psi` class that
declares everything about itself — its spec name and aliases, its parameters (its
:func:`~lbdsl.options.option` fields, with their conditions), its maths and its export.  A new
Ψ is its class and one line here (or ``ACTIVATIONS.register(MyPsi)`` from anywhere).
``NOT_PROXIMAL`` holds the common activations that fail the test (with the reason);
``PROXIMAL_NOT_IN_CATALOGUE`` those that pass it but whose Ψ lbdsl does not implement (with
what to use instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..options import Option, options
from ..registry import Registry
from .base import Psi
from .elu import ELU
from .legendre import Sigmoid, Tanh
from .piecewise import Clip, Identity, LeakyReLU, ReLU, SoftThreshold
from .softmax import Softmax

__all__ = [
    "ACTIVATIONS", "NOT_PROXIMAL", "PROXIMAL_NOT_IN_CATALOGUE", "make_activation",
    "activation_params", "closest_name", "explain_unknown",
]

ACTIVATIONS: Registry[type[Psi]] = Registry(
    "activation",
    (Identity, ReLU, LeakyReLU, ELU, SoftThreshold, Clip, Tanh, Sigmoid, Softmax),
    aliases=lambda cls: cls.aliases)


def activation_params(name: str) -> tuple[Option, ...]:
    """The parameters of the activation ``name`` (its option fields), in order."""
    return options(ACTIVATIONS[name])


#: Common activations that are not proximal maps, with the reason.
NOT_PROXIMAL: Mapping[str, str] = MappingProxyType({
    "gelu": "it is not monotone (it dips below zero, to about −0.17 near z ≈ −0.75)",
    "silu": "it is not monotone (it dips to about −0.28 near z ≈ −1.28)",
    "swish": "it is not monotone (it dips to about −0.28 near z ≈ −1.28)",
    "mish": "it is not monotone (it dips to about −0.31 near z ≈ −1.19)",
    "sin": "it is not monotone",
    "cos": "it is not monotone",
    "abs": "it is not monotone",
    "square": "it is not monotone and not 1-Lipschitz",
    "exp": "it is not 1-Lipschitz (its slope e^z exceeds 1 for z > 0)",
    "selu": "it is not 1-Lipschitz (its slope is 1.0507 for z > 0)",
    "sign": "it is not continuous, so not 1-Lipschitz",
    "step": "it is not continuous, so not 1-Lipschitz",
    "heaviside": "it is not continuous, so not 1-Lipschitz",
    "maxout": "it is not a map of one layer's pre-activation (it mixes units)",
    "hardshrink": "it is not continuous (it jumps at ±λ), so not 1-Lipschitz; "
                  "soft(..., theta = ...) is its proximal cousin",
    "threshold": "it is not continuous unless value = threshold, so not 1-Lipschitz; "
                 "use relu or soft(..., theta = ...)",
})

#: Monotone 1-Lipschitz activations that are proxes but not in the catalogue, with advice.
PROXIMAL_NOT_IN_CATALOGUE: Mapping[str, str] = MappingProxyType({
    "relu6": "use clip(..., lo = 0, hi = 6)",
    "hardsigmoid": "it is a proximal map, but its Ψ is not in lbdsl's catalogue; "
                   "clip or sigmoid may serve",
    "softplus": "it is a proximal map, but its Ψ is not in lbdsl's catalogue; "
                "sigmoid or relu may serve",
    "softsign": "it is a proximal map, but its Ψ is not in lbdsl's catalogue; tanh may serve",
    "softshrink": "use soft(..., theta = ...)",
    "celu": "it is a proximal map (its slope e^(z/alpha) is at most 1), but its Ψ is in lbdsl's "
            "catalogue only at alpha = 1, where it is elu",
})


def make_activation(name: str, **kwargs: float) -> Psi:
    """Build the Ψ called ``name`` with keyword parameters; ``ValueError`` with a readable reason.

    ``KeyError`` if the name is not in :data:`ACTIVATIONS` (use :func:`explain_unknown`).
    """
    cls = ACTIVATIONS[name]
    known = {o.name: o for o in options(cls)}
    for key in kwargs:
        if key not in known:
            allowed = ", ".join(known) or "none"
            raise ValueError(f"`{name}` has no parameter `{key}` (parameters: {allowed})")
    values = {key: float(kwargs.get(key, o.default)) for key, o in known.items()}
    for key, value in values.items():
        if not known[key].admits(value):
            raise ValueError(f"`{name}` needs {known[key].need}, got {key} = {value:g}")
    try:
        return cls(**values)
    except ValueError as exc:     # a joint condition (clip's lo < hi), said under this name
        raise ValueError(str(exc).replace(f"`{cls.name}`", f"`{name}`", 1)) from None


def closest_name(name: str) -> str | None:
    """The closest catalogue name to ``name``, or None if nothing is close."""
    return ACTIVATIONS.closest(name)


def explain_unknown(name: str) -> tuple[str, str | None]:
    """(message, hint) for an activation name that is not in the catalogue."""
    if name in NOT_PROXIMAL:
        return (f"`{name}` is not a proximal map: {NOT_PROXIMAL[name]}",
                "lifted Bregman networks need activations σ = prox_Ψ "
                f"(nondecreasing and 1-Lipschitz); available: {', '.join(ACTIVATIONS)}")
    if name in PROXIMAL_NOT_IN_CATALOGUE:
        return (f"`{name}` is not in lbdsl's activation catalogue",
                PROXIMAL_NOT_IN_CATALOGUE[name])
    guess = closest_name(name)
    hint = f"did you mean `{guess}`?" if guess else f"available: {', '.join(ACTIVATIONS)}"
    return f"unknown activation `{name}`", hint
