"""Round trip: what a ``train`` task writes is what a second spec's ``load(...)`` reads back —
its network, built from ``weights.npz``, computes the trained network's forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from train_run_helpers import TINY_AE, weights

import lbdsl
from reference_forward import forward
from lbdsl.training import predict

LOADED = """
network ae {
    input  u  : 8x8
    param  W1 : 6x64 = load("../o/train-ae/weights.npz", "W1")
    param  b1 : 6    = load("../o/train-ae/weights.npz", "b1")
    param  W2 : 64x6 = load("../o/train-ae/weights.npz")         # keyless: its own name
    param  b2 : 64   = load("../o/train-ae/weights.npz")
    code = relu(W1 @ u + b1)
    y    = W2 @ code + b2
    output y
}
"""


def test_a_second_spec_loads_the_trained_weights_and_computes_the_same_outputs(
        write_spec, tmp_path: Path) -> None:
    first = lbdsl.load(write_spec(TINY_AE))
    (trained,) = first.solve(out=tmp_path / "o", overrides=["figures=false"], verbose=False)
    assert trained.ok
    second = lbdsl.load(write_spec(LOADED, name="decoder.lbn", folder="elsewhere"))
    net = second.networks["ae"]
    saved = weights(tmp_path / "o" / "train-ae")
    for name, value in saved.items():
        np.testing.assert_array_equal(net.params[name].value, value)
    u = np.random.default_rng(5).random((7, 8, 8))
    ours = forward(net, u)[net.output].reshape(7, -1)
    theirs = predict(first.networks["ae"], trained.weights, u)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-13)
    assert not np.allclose(theirs, predict(first.networks["ae"], {
        name: first.networks["ae"].params[name].value for name in saved}, u))  # it did train
