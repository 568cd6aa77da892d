"""Fuzz the whole front end: parse → IR → lift → certify.

Valid specs are mutated piece by piece (deletions, swaps, duplications, substitutions from a
vocabulary of the language's own tokens); whatever comes out, the only exceptions allowed are
lbdsl's own (:class:`~lbdsl.errors.LbdslError`). Bounded: a fixed number of examples on small
networks, so it runs in CI in a few seconds.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lbdsl.certify.certificate import certify
from lbdsl.errors import LbdslError
from lbdsl.program import build_module
from lbdsl.lift.compact import lift
from lbdsl.syntax.parser import parse

CORPUS = [
    """network res { input u : 3
    repeat 3 { param W : 4x3 = normal(std = 0.3, seed = 1)  param b : 4 = zeros
               u = u + W.T @ relu(W @ u + b) }
    output u }
check res { lambda = 1, rho = 100 }""",
    """network ff { input u : 2x3
    param A : 5x6 = uniform(-1, 1, seed = 2)  param c : 5 = [1, 2, 3, 4, 5]
    h = leaky_relu(A @ u + c, a = 0.2)  g = soft(dense(h, 4), theta = 0.1)
    y = tanh(dense(g, 3))  output y }
invert ff { data = forward(truth) + gaussian(sigma = 0.1, seed = 1)
    truth = load("t.npy")  regulariser = 0.1 * l1 + nonneg  solver = lifted(max_iter = 5) }""",
    """network conv { input u : 1x6x6
    h = relu(conv2d(u, 2, kernel = 3, stride = 1, padding = 1))
    z = sigmoid(conv2d(h, 1, kernel = 2, stride = 2))  w = c @ softmax(dense(z, 3))
    param c : 3 = ones  output w }""",
    """network shallow { input u : 1  param w : 5x1 = ones  param b : 5 = linspace(0, -1)
    param c : 1x5 = [1, 1, 1, 1, 1]  y = c @ relu(w @ u + b)  output y }
invert shallow { truth = linspace(0, 1, n = 4)  data = forward(truth)  regulariser = l2sq
    alpha = 1e-3  solver = coordinate }""",
]

PIECE = re.compile(r'\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9x.eE+-]*|"[^"\n]*"|#[^\n]*|.', re.S)
VOCABULARY = ["relu", "tanh", "gelu", "W", "W.T", "u", "h", "@", "+", "-", "*", "3", "4x3",
              "0", "-1", "1e9", "repeat 2 {", "}", "(", ")", "=", "dense(u, 2)", "output u",
              "input u : 3", "param Z : 3x3 = eye", "conv2d(u, 1, kernel = 9)", "x = x + W @ relu(W @ x)"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    pieces = PIECE.findall(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(pieces) - 1))
        action = draw(st.sampled_from(["delete", "swap", "duplicate", "substitute"]))
        if action == "delete":
            del pieces[i]
        elif action == "swap" and i + 1 < len(pieces):
            pieces[i], pieces[i + 1] = pieces[i + 1], pieces[i]
        elif action == "duplicate":
            pieces.insert(i, pieces[i])
        else:
            pieces[i] = draw(st.sampled_from(VOCABULARY))
        if not pieces:
            pieces = [" "]
    return "".join(pieces)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_front_end_raises_only_lbdsl_errors(source: str) -> None:
    try:
        module = build_module(parse(source, "<fuzz>"), max_param_bytes=8 * 2**20)
        for net in module.networks.values():
            lp = lift(net)
            assume(lp.u_size + lp.z_size <= 400)  # keep the dense certificate cheap
            certify(lp, 1.0, None)
    except LbdslError:
        pass
