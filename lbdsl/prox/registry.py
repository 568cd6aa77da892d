"""Which activation names a spec may use, their parameters, and why other names are refused.

A scalar map is ``prox_Ψ`` for a proper convex lsc Ψ iff it is nondecreasing and 1-Lipschitz
(math.md §1).  ``ACTIVATIONS`` holds the catalogue; ``NOT_PROXIMAL`` the common activations that
fail that test (with the reason); ``PROXIMAL_NOT_IN_CATALOGUE`` those that pass it but whose Ψ
lbdsl does not implement (with what to use instead).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .base import Psi
from .legendre import Sigmoid, Tanh
from .piecewise import Clip, Identity, LeakyReLU, ReLU, SoftThreshold
from .softmax import Softmax

__all__ = [
    "ActivationParam", "ActivationSpec", "ACTIVATIONS", "NOT_PROXIMAL",
    "PROXIMAL_NOT_IN_CATALOGUE", "make_activation", "closest_name", "explain_unknown",
]


@dataclass(frozen=True, slots=True)
class ActivationParam:
    """A keyword parameter of an activation: its default and the condition it must satisfy."""

    name: str
    default: float
    valid: Callable[[float], bool]
    requirement: str  # the condition in words, for error messages ("0 < a <= 1")


@dataclass(frozen=True, slots=True)
class ActivationSpec:
    """A catalogue entry: the spec name, its parameters, and how to build the Ψ."""

    name: str
    params: tuple[ActivationParam, ...]
    build: Callable[..., "Psi"]
    summary: str


def _finite(x: float) -> bool:
    return math.isfinite(x)


_A = ActivationParam("a", 0.01, lambda a: 0 < a <= 1, "0 < a <= 1")
_THETA = ActivationParam("theta", 0.5, lambda t: _finite(t) and t >= 0, "theta >= 0")
_LO = ActivationParam("lo", -1.0, _finite, "a finite number")
_HI = ActivationParam("hi", 1.0, _finite, "a finite number")

ACTIVATIONS: Mapping[str, ActivationSpec] = MappingProxyType({
    "identity": ActivationSpec("identity", (), lambda: Identity(), "σ(z) = z"),
    "relu": ActivationSpec("relu", (), lambda: ReLU(), "σ(z) = max(z, 0)"),
    "leaky_relu": ActivationSpec("leaky_relu", (_A,), lambda a: LeakyReLU(a),
                                 "σ(z) = z (z ≥ 0), a·z (z < 0)"),
    "soft": ActivationSpec("soft", (_THETA,), lambda theta: SoftThreshold(theta),
                           "σ(z) = sign(z)·max(|z| − θ, 0)"),
    "clip": ActivationSpec("clip", (_LO, _HI), lambda lo, hi: Clip(lo, hi),
                           "σ(z) = min(max(z, lo), hi)"),
    "hardtanh": ActivationSpec("hardtanh", (_LO, _HI), lambda lo, hi: Clip(lo, hi),
                               "σ(z) = min(max(z, lo), hi), lo = −1, hi = 1 by default"),
    "tanh": ActivationSpec("tanh", (), lambda: Tanh(), "σ(z) = tanh z"),
    "sigmoid": ActivationSpec("sigmoid", (), lambda: Sigmoid(), "σ(z) = 1/(1 + e^−z)"),
    "softmax": ActivationSpec("softmax", (), lambda: Softmax(),
                              "σ(z) = e^z / Σ e^z over the whole layer"),
})

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
    "elu": "it is 1-Lipschitz only for alpha <= 1 (its slope alpha·e^z reaches alpha near 0); "
           "lbdsl does not implement its Ψ",
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
})


def make_activation(name: str, **kwargs: float) -> "Psi":
    """Build the Ψ called ``name`` with keyword parameters; ``ValueError`` with a readable reason.

    ``KeyError`` if the name is not in :data:`ACTIVATIONS` (use :func:`explain_unknown`).
    """
    spec = ACTIVATIONS[name]
    known = {p.name: p for p in spec.params}
    for key in kwargs:
        if key not in known:
            allowed = ", ".join(known) or "none"
            raise ValueError(f"`{name}` has no parameter `{key}` (parameters: {allowed})")
    values = {p.name: float(kwargs.get(p.name, p.default)) for p in spec.params}
    for key, value in values.items():
        if not known[key].valid(value):
            raise ValueError(f"`{name}` needs {known[key].requirement}, got {key} = {value:g}")
    if name in ("clip", "hardtanh") and not values["lo"] < values["hi"]:
        raise ValueError(f"`{name}` needs lo < hi, got lo = {values['lo']:g}, hi = {values['hi']:g}")
    return spec.build(**values)


def closest_name(name: str, candidates: list[str] | None = None) -> str | None:
    """The closest catalogue name to ``name`` (difflib), or None if nothing is close."""
    pool = list(ACTIVATIONS) if candidates is None else candidates
    match = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return match[0] if match else None


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
