"""The activation registry: building by name, readable refusals, and every claim checked.

The reasons in ``NOT_PROXIMAL`` and ``PROXIMAL_NOT_IN_CATALOGUE`` are checked numerically from
independent NumPy definitions of the activations: "not monotone" by a pair z1 < z2 with
σ(z1) > σ(z2), "not 1-Lipschitz" / "not continuous" by a difference quotient above 1, the
quoted dips (e.g. "about −0.17 near z ≈ −0.75") by minimising on a fine grid; and conversely
every catalogue σ is nondecreasing and 1-Lipschitz on a grid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import scipy.special as sps

from lbdsl.backend import to_numpy
from lbdsl.prox.catalogue import Clip, Psi, Softmax
from lbdsl.prox.registry import (ACTIVATIONS, NOT_PROXIMAL, PROXIMAL_NOT_IN_CATALOGUE,
                                 activation_params, closest_name, explain_unknown,
                                 make_activation)

GRID = np.linspace(-8.0, 8.0, 160_001)  # spacing 1e-4

_SELU_SCALE, _SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def _elu(alpha: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda z: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


#: Independent definitions of the refused activations (PyTorch's conventions).
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": lambda z: 0.5 * z * (1.0 + sps.erf(z / math.sqrt(2.0))),
    "silu": lambda z: z * sps.expit(z),
    "swish": lambda z: z * sps.expit(z),
    "mish": lambda z: z * np.tanh(np.logaddexp(0.0, z)),
    "sin": np.sin,
    "cos": np.cos,
    "abs": np.abs,
    "square": np.square,
    "exp": np.exp,
    "selu": lambda z: _SELU_SCALE * _elu(_SELU_ALPHA)(z),
    "sign": np.sign,
    "step": lambda z: (z >= 0).astype(float),
    "heaviside": lambda z: np.heaviside(z, 0.5),
    # proximal ones that lbdsl does not implement; hardshrink is not one
    "relu6": lambda z: np.clip(z, 0.0, 6.0),
    "hardsigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "softsign": lambda z: z / (1.0 + np.abs(z)),
    "softshrink": lambda z: np.sign(z) * np.maximum(np.abs(z) - 0.5, 0.0),
    "celu": lambda z: np.where(z > 0, z, 2.0 * np.expm1(np.minimum(z, 0.0) / 2.0)),  # α = 2
    "hardshrink": lambda z: np.where(np.abs(z) > 0.5, z, 0.0),
    "threshold": lambda z: np.where(z > 0.5, z, 0.0),  # torch's Threshold(0.5, value = 0)
}
#: Entries that are not a scalar function of one pre-activation (nothing to evaluate).
NOT_SCALAR_FUNCTIONS = {"maxout"}


def decreasing_pair(values: np.ndarray) -> tuple[int, int] | None:
    """Indices i < j with values[i] > values[j] (beyond rounding), if any."""
    running_max = np.maximum.accumulate(values)
    drop = running_max - values
    j = int(np.argmax(drop))
    if drop[j] <= 1e-9:
        return None
    return int(np.argmax(values[: j + 1])), j


def max_slope(values: np.ndarray, grid: np.ndarray = GRID) -> float:
    return float(np.max(np.abs(np.diff(values)) / np.diff(grid)))


# ---------------------------------------------------------------- building by name

@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_make_activation_builds_every_name(name: str) -> None:
    psi = make_activation(name)
    assert isinstance(psi, Psi)
    expected = "clip" if name == "hardtanh" else name
    assert psi.name == expected
    assert psi.params() == {p.name: p.default for p in activation_params(name)}


def test_make_activation_passes_parameters() -> None:
    assert make_activation("leaky_relu", a=0.3).params() == {"a": 0.3}
    assert make_activation("soft", theta=0.7).params() == {"theta": 0.7}
    assert make_activation("elu").params() == {"alpha": 1.0}     # PyTorch's default
    assert make_activation("elu", alpha=0.5).params() == {"alpha": 0.5}
    assert make_activation("clip", lo=-0.5, hi=2.0) == Clip(-0.5, 2.0)
    assert make_activation("hardtanh") == Clip(-1.0, 1.0)


@pytest.mark.parametrize("name, kwargs, words", [
    ("leaky_relu", {"a": 0.0}, "0 < a <= 1"),
    ("leaky_relu", {"a": 1.5}, "0 < a <= 1"),
    ("soft", {"theta": -1.0}, "theta >= 0"),
    ("soft", {"theta": math.inf}, "theta >= 0"),
    ("clip", {"lo": 2.0, "hi": 1.0}, "lo < hi"),
    ("hardtanh", {"lo": 1.0}, "lo < hi"),
    ("clip", {"lo": math.nan}, "finite"),
    ("relu", {"a": 0.1}, "has no parameter `a`"),
    ("leaky_relu", {"alpha": 0.1}, "parameters: a"),
    ("elu", {"alpha": 1.5}, "0 < alpha <= 1 (for alpha > 1 its slope"),
    ("elu", {"alpha": 0.0}, "0 < alpha <= 1"),
])
def test_bad_parameters_are_readable_value_errors(name: str, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError) as info:
        make_activation(name, **kwargs)
    message = str(info.value)
    assert words in message and f"`{name}`" in message


def test_unknown_names() -> None:
    with pytest.raises(KeyError):
        make_activation("rleu")
    message, hint = explain_unknown("rleu")
    assert "unknown activation `rleu`" in message and hint is not None and "`relu`" in hint
    assert closest_name("sigmod") == "sigmoid"
    assert closest_name("zzzzzz") is None
    _, hint = explain_unknown("zzzzzz")
    assert hint is not None and "relu" in hint  # lists what is available
    message, hint = explain_unknown("gelu")
    assert "not a proximal map" in message and hint is not None and "nondecreasing" in hint
    message, hint = explain_unknown("relu6")
    assert "not in lbdsl's activation catalogue" in message and "clip" in (hint or "")


def test_tables_do_not_overlap() -> None:
    assert not set(NOT_PROXIMAL) & set(ACTIVATIONS)
    assert not set(PROXIMAL_NOT_IN_CATALOGUE) & set(ACTIVATIONS)
    assert not set(NOT_PROXIMAL) & set(PROXIMAL_NOT_IN_CATALOGUE)


# ---------------------------------------------------------------- the refusals, checked

@pytest.mark.parametrize("name", sorted(NOT_PROXIMAL))
def test_not_proximal_claims_hold(name: str) -> None:
    reason = NOT_PROXIMAL[name]
    if name in NOT_SCALAR_FUNCTIONS:
        assert "mixes units" in reason
        return
    values = FUNCTIONS[name](GRID)
    checked = False
    if "not monotone" in reason:
        pair = decreasing_pair(values)
        assert pair is not None, f"{name} is monotone on the grid"
        i, j = pair
        assert GRID[i] < GRID[j] and values[i] > values[j]
        checked = True
    if "not 1-Lipschitz" in reason or "not continuous" in reason:
        assert max_slope(values) > 1.0 + 1e-3, f"{name} is 1-Lipschitz on the grid"
        checked = True
    assert checked, f"no numerical check matches the reason for {name}: {reason}"


_DIP = re.compile(r"about ([−-]?[0-9.]+) near z ≈ ([−-]?[0-9.]+)")


@pytest.mark.parametrize("name", sorted(n for n in NOT_PROXIMAL if _DIP.search(NOT_PROXIMAL[n])))
def test_quoted_dips_are_right(name: str) -> None:
    match = _DIP.search(NOT_PROXIMAL[name])
    assert match is not None
    value, where = (float(g.replace("−", "-")) for g in match.groups())
    values = FUNCTIONS[name](GRID)
    k = int(np.argmin(values))
    # quoted to two decimals
    assert abs(values[k] - value) <= 0.005 + 1e-9 and abs(GRID[k] - where) <= 0.005 + 1e-4


@pytest.mark.parametrize("name", sorted(PROXIMAL_NOT_IN_CATALOGUE))
def test_proximal_not_in_catalogue_claims_hold(name: str) -> None:
    advice = PROXIMAL_NOT_IN_CATALOGUE[name]
    if name in NOT_SCALAR_FUNCTIONS:
        return
    values = FUNCTIONS[name](GRID)
    assert advice and decreasing_pair(values) is None and max_slope(values) <= 1.0 + 1e-9


# ---------------------------------------------------------------- the catalogue, conversely

@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_catalogue_sigma_is_nondecreasing_and_1_lipschitz(name: str) -> None:
    for kwargs in ({}, {"a": 0.3}, {"alpha": 0.3}, {"theta": 0.7}, {"lo": -0.5, "hi": 2.0}):
        known = {p.name for p in activation_params(name)}
        if set(kwargs) - known:
            continue
        psi = make_activation(name, **kwargs)
        if isinstance(psi, Softmax):  # a vector map: monotone operator, 1-Lipschitz
            rng = np.random.default_rng(0)
            a = rng.normal(size=(2000, 5)) * 3
            b = a + rng.normal(size=a.shape)
            pa, pb = (np.asarray(to_numpy(psi.prox(x))) for x in (a, b))
            assert np.all(np.sum((pa - pb) * (a - b), axis=-1) >= -1e-15)
            assert np.all(np.linalg.norm(pa - pb, axis=-1)
                          <= np.linalg.norm(a - b, axis=-1) * (1 + 1e-12))
            continue
        values = np.asarray(to_numpy(psi.prox(GRID[:, None])))[:, 0]
        assert decreasing_pair(values) is None
        assert max_slope(values) <= 1.0 + 1e-9
