"""``lbdsl.Network``: a network built in Python is the spec a user would have written —
the same lifted blocks and the same weights as that spec loaded from its file."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import LbdslError
from lbdsl.lift.compact import lift
from lbdsl.lift.show import block_tables

rng = np.random.default_rng(0)
W1, b1 = rng.standard_normal((12, 16)), rng.standard_normal(12)
W2 = rng.standard_normal((6, 12))
A, c, V = rng.standard_normal((5, 6)), rng.standard_normal(5), rng.standard_normal((6, 5))
K, k = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)

BY_HAND = """network enc {
    input u : 4x4
    param W1 : 12x16 = load("w.npz", "W1")
    param b1 : 12 = load("w.npz", "b1")
    param W2 : 6x12 = load("w.npz", "W2")
    param A3 : 5x6 = load("w.npz", "A3")
    param b3 : 5 = load("w.npz", "b3")
    param V3 : 6x5 = load("w.npz", "V3")
    h1 = relu(W1 @ u + b1)
    h2 = leaky_relu(W2 @ h1, a = 0.1)
    h3 = h2 - V3 @ tanh(A3 @ h2 + b3)
    output h3
}
"""


def _built() -> lbdsl.Network:
    return (lbdsl.Network("enc", input=(4, 4)).dense(W1, b1, "relu")
            .dense(W2, None, "leaky_relu", a=0.1).residual(V, A, c, "tanh", sign=-1))


def test_the_built_network_is_the_hand_written_spec(tmp_path):
    np.savez(tmp_path / "w.npz", W1=W1, b1=b1, W2=W2, A3=A, b3=c, V3=V)
    (tmp_path / "enc.lbn").write_text(BY_HAND)
    by_hand = lbdsl.load(tmp_path / "enc.lbn").network()
    built = _built().spec().network()
    assert block_tables(lift(built)) == block_tables(lift(by_hand))
    assert list(built.params) == list(by_hand.params)
    for name, p in by_hand.params.items():
        assert np.array_equal(built.params[name].value, p.value)
    x = rng.standard_normal((3, 4, 4))
    assert np.array_equal(_built().spec().forward(x), lbdsl.load(tmp_path / "enc.lbn").forward(x))


def test_to_text_save_and_a_task_on_the_built_network(tmp_path):
    net = _built()
    spec_file, weights = net.save(tmp_path)
    loaded = lbdsl.load(spec_file)
    assert loaded.to_text() == net.to_text() == spec_file.read_text()
    x = rng.standard_normal((2, 4, 4))
    assert np.array_equal(loaded.forward(x), net.spec().forward(x))
    conv = lbdsl.Network("c", input=(6, 6)).conv2d(K, k, "relu", padding=1).dense(
        rng.standard_normal((3, 72)))
    task = ('\ninvert c {\n    truth = image("shepp_logan", size = 6x6)\n'
            '    data = forward(truth)\n    regulariser = 0.01 * tv\n    figures = false\n}\n')
    (result,) = conv.spec(task).solve(verbose=False)
    assert result.ok and result.u.shape == (6, 6) and result.path is None
    with pytest.raises(LbdslError, match="no layers yet"):
        lbdsl.Network("e", input=3).to_text()


@pytest.mark.parametrize("build, says", [
    (lambda n: n.dense(np.ones((3, 15)), activation="relu"), "W must be a matrix with 16 columns"),
    (lambda n: n.dense(np.ones((3, 16)), np.ones(4), "relu"), "b must have 3 entries"),
    (lambda n: n.dense(np.ones((3, 16)), activation="gelu"), "`gelu` is not a proximal map"),
    (lambda n: n.dense(np.ones((3, 16)), activation="relux"), "did you mean `relu`?"),
    (lambda n: n.dense(np.ones((3, 16)), activation="leaky_relu", a=2.0), "needs 0 < a <= 1"),
    (lambda n: n.dense(np.ones((3, 16)), activation="relu").dense(np.ones((2, 16))),
     "W must be a matrix with 3 columns (the entries of h1"),
    (lambda n: n.residual(np.ones((16, 4)), np.ones((5, 16))), "V must be 16x5"),
    (lambda n: n.conv2d(np.ones((2, 3, 3, 3))), "takes 3 channel(s)"),
])
def test_a_wrong_shape_or_activation_is_refused_at_the_call(build, says):
    """Not later, at spec(), with a caret into generated text the user never wrote."""
    net = lbdsl.Network("enc", input=(4, 4))
    with pytest.raises(LbdslError, match=re.escape(says)):
        build(net)
