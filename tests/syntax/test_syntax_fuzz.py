"""Mutated specs only ever raise SpecError: never another exception, never a hang."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbdsl.errors import SpecError
from lbdsl.syntax.parser import parse
from lbdsl.syntax.tree import Module

CORPUS = [
    """network perceptron {
    input  u : 64x64
    param  W : 512x4096 = normal(std = 1, seed = 0)
    param  b : 512      = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}

invert perceptron {
    truth       = image("shepp_logan", size = 64x64)     # known ground truth
    data        = forward(truth) + gaussian(sigma = 0.01, seed = 3)
    fidelity    = bregman
    regulariser = 0.015 * tv + nonneg
    alpha       = discrepancy(delta = auto, tau = 1.1)
    solver      = pdhg(max_iter = 5000, tol = 1e-6)
}
""",
    """network dae {
    input x : 1x28x28
    repeat 2 {
        param W : 784x784 = uniform(-1, 1, seed = 2)
        param b : 784 = [0, 1, [2]]
        x = x + W.T @ clip(W @ x + b, lo = -1, hi = 1)
    }
    z = soft(dense(x, 40), theta = 0.05); output z
}
train dae {
    data = digits(n = 500, split = "train", noise = 0.1, seed = 0)
    loss = bregman; penalty = 0.01 * l1(z)
    optimizer = implicit_sgd(epochs = 5, batch = 32, tau = 0.5, inner = 3)
    save = "out/dae" seed = 7
}
check dae { lambda = 1, rho = -0.5 }
""",
]

# Pieces: whitespace runs, words, numbers/shapes, strings, comments, single characters.
PIECE = re.compile(r'\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9x.eE+-]*|"[^"\n]*"|#[^\n]*|.', re.S)
VOCABULARY = [
    "network", "invert", "train", "check", "input", "param", "output", "repeat", "{", "}", "(",
    ")", "[", "]", "=", ":", ",", ";", ".", "+", "-", "*", "@", "x", "W", "3", "-3", "64x64",
    "0x2", "2.5", "1e-4", "1e999", ".5", '"s"', '"\\q"', "#", "\n", ":=", "==", "**", "$", '"',
    "'", "/", "\\", "\u00d7", "\x00", "\t", "\r", "\ufeff", "\u2028", "relu(", "f(a = 1, 2)",
]


@st.composite
def mutated_specs(draw) -> str:
    """A corpus spec after one to four character-, piece- or truncation-level mutations."""
    source = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        pieces = PIECE.findall(source)
        k = draw(st.integers(0, max(len(pieces) - 1, 0)))
        n = len(source)
        match draw(st.sampled_from(["delete_char", "insert_char", "delete_piece", "swap",
                                    "duplicate", "insert_piece", "truncate"])):
            case "delete_char":
                i = draw(st.integers(0, max(n - 1, 0)))
                source = source[:i] + source[i + 1:]
            case "insert_char":
                i = draw(st.integers(0, n))
                source = source[:i] + draw(st.characters()) + source[i:]
            case "delete_piece":
                source = "".join(pieces[:k] + pieces[k + 1:])
            case "swap":
                j = draw(st.integers(0, max(len(pieces) - 1, 0)))
                if pieces:
                    pieces[k], pieces[j] = pieces[j], pieces[k]
                source = "".join(pieces)
            case "duplicate":
                source = "".join(pieces[:k + 1] + pieces[k:])
            case "insert_piece":
                source = "".join(pieces[:k] + [draw(st.sampled_from(VOCABULARY))] + pieces[k:])
            case "truncate":
                source = source[:draw(st.integers(0, n))]
    return source


def check_outcome(source: str) -> None:
    try:
        module = parse(source, "fuzz.lbn")
    except SpecError as err:
        assert err.diagnostics and err.source == source
        lines = source.count("\n") + 1
        for diagnostic in err.diagnostics:
            assert diagnostic.span is not None
            assert diagnostic.span.line >= 1 and diagnostic.span.line <= lines
            assert diagnostic.span.column >= 1
            assert diagnostic.message and diagnostic.hint
        assert str(err).startswith("fuzz.lbn:")
    else:
        assert isinstance(module, Module)


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated_specs())
def test_mutated_specs_raise_only_spec_errors(source: str) -> None:
    check_outcome(source)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(VOCABULARY + [" ", " ", "a", "7"]), max_size=40).map("".join))
def test_token_soup_raises_only_spec_errors(source: str) -> None:
    check_outcome(source)


def test_corpus_is_valid() -> None:
    for source in CORPUS:
        assert isinstance(parse(source), Module)
