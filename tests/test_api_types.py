"""The Python API refuses what it cannot mean: a spec that is not text, overrides that are not
a list of strings, and complex (or text) arrays — with the data loader's wording, never a
silent cast to real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import DataError, LbdslError
from lbdsl.training import train

SPEC = """network p {
    input u : 4
    param W : 3x4 = normal(std = 1, seed = 0)
    h = relu(W @ u)
    output h
}
"""


@pytest.mark.parametrize("value, advice", [
    (None, "lbdsl.load() is the built-in demo"),
    (Path("spec.lbn"), "lbdsl.load(path)"),
    (SPEC.encode(), "decode it first"),
    (123, "not int"),
])
def test_loads_takes_text_only(value: object, advice: str) -> None:
    with pytest.raises(TypeError, match="lbdsl.loads takes the spec's text") as info:
        lbdsl.loads(value)  # type: ignore[arg-type]
    assert advice in str(info.value)


def test_load_refuses_bytes_and_overrides_given_as_one_string() -> None:
    with pytest.raises(TypeError, match="lbdsl.loads"):
        lbdsl.load(b"spec.lbn")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of 'KEY=VALUE' strings"):
        lbdsl.loads(SPEC, "alpha=2")  # type: ignore[arg-type]


def test_loads_still_reads_text() -> None:
    assert lbdsl.loads(SPEC).forward(np.ones(4)).shape == (3,)


@pytest.mark.parametrize("x", [np.ones(4) * (1 + 1j), [1j, 0, 0, 0], np.array(["a"] * 4)])
def test_forward_refuses_what_is_not_real(x: object) -> None:
    with pytest.raises(DataError, match="not real numbers"):
        lbdsl.loads(SPEC).forward(x)


def test_forward_refuses_complex_arrays_of_other_backends() -> None:
    xp = pytest.importorskip("array_api_strict")
    with pytest.raises(DataError, match="complex128 data, not real numbers"):
        lbdsl.loads(SPEC).forward(xp.ones(4, dtype=xp.complex128))


def test_the_builder_refuses_complex_weights() -> None:
    with pytest.raises(LbdslError, match="complex128 data, not real numbers"):
        lbdsl.Network("n", input=4).dense(np.ones((3, 4), dtype=complex), activation="relu")


def test_training_refuses_complex_data_and_initial_weights() -> None:
    net = lbdsl.loads(SPEC).network()
    x, y = np.ones((5, 4)), np.ones((5, 3))
    with pytest.raises(DataError, match="the inputs array holds complex128"):
        train(net, x.astype(complex), y)
    with pytest.raises(DataError, match="parameter `W` holds complex128"):
        train(net, x, y, initial={"W": np.ones((3, 4), dtype=complex)})
