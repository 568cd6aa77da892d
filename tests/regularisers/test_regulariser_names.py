"""The names a spec may use and the regularisers they build."""

from __future__ import annotations

import math

import pytest

from lbdsl.prox.regularisers import (REGULARISERS, TV, L1, Box, L2Squared, NonNeg, Regulariser,
                                     closest_regulariser, make_regulariser)
from lbdsl.prox.regularisers.registry import regulariser_params


def test_names_and_types():
    assert set(REGULARISERS) == {"tv", "l1", "l2sq", "nonneg", "box"}
    built = {"tv": REGULARISERS["tv"](shape=(4, 5)), "l1": REGULARISERS["l1"](),
             "l2sq": REGULARISERS["l2sq"](), "nonneg": REGULARISERS["nonneg"](),
             "box": REGULARISERS["box"](0, 1)}
    for name, kind in [("tv", TV), ("l1", L1), ("l2sq", L2Squared), ("nonneg", NonNeg),
                       ("box", Box)]:
        assert isinstance(built[name], kind) and isinstance(built[name], Regulariser)
        assert built[name].name == name
    assert built["tv"].shape == (4, 5)


def test_parameters_positional_keyword_and_shape():
    assert make_regulariser("box", -1, 2) == Box(-1.0, 2.0)
    assert make_regulariser("box", lo=-1, hi=2, shape=(3,)) == Box(-1.0, 2.0)
    assert make_regulariser("box", 0, math.inf) == Box(0.0, math.inf)
    assert make_regulariser("l1", shape=(7,)) == L1()  # shape is accepted and ignored
    assert regulariser_params(REGULARISERS["box"]) == ("lo", "hi")
    assert regulariser_params(REGULARISERS["tv"]) == ()       # its shape is not a parameter


@pytest.mark.parametrize("call, message", [
    (lambda: make_regulariser("tv"), "declared shape"),
    (lambda: make_regulariser("box", 1), "needs parameter"),
    (lambda: make_regulariser("box", 1, 0), "lo < hi"),
    (lambda: make_regulariser("box", 0, 1, 2), "takes 2 parameter"),
    (lambda: make_regulariser("box", 0, lo=1), "twice"),
    (lambda: make_regulariser("l1", theta=1), "no parameter `theta`"),
    (lambda: make_regulariser("box", math.nan, 1), "a number"),
])
def test_bad_parameters_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_names():
    with pytest.raises(KeyError):
        make_regulariser("tikhonov")
    assert closest_regulariser("l2") == "l2sq"
    assert closest_regulariser("tvv") == "tv"
    assert closest_regulariser("banana") is None
