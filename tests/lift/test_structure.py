"""The structural analysis of a lifted network, and the solver registry that reads it."""

from __future__ import annotations

import pytest

from lbdsl.lift.compact import lift
from lbdsl.lift.structure import structure
from lbdsl.prox.regularisers.composite import RegulariserForm
from lbdsl.prox.regularisers.registry import REGULARISERS
from lbdsl.solvers.registry import SOLVERS, candidates, choose
from spec_helpers import build_net

NETS = {
    "single": "network n { input u : 3  param W : 4x3 = normal()  h = relu(W @ u)  output h }",
    "shallow": """network n { input u : 1  param w : 5x1 = ones  param b : 5 = linspace(0, -1)
                    param c : 5 = normal()  y = c @ relu(w @ u + b)  output y }""",
    "tied": """network n { input u : 2  repeat 3 { param W : 4x2 = normal(seed = 1)
                 u = u + W.T @ relu(W @ u) }  output u }""",
    "deep": """network n { input u : 3  h = relu(dense(u, 4))  y = tanh(dense(h, 2))
                 output y }""",
    "residual_mlp": """network n { input u : 3  h = relu(dense(u, 4))
                         param A : 2x4 = normal()  param V : 4x2 = normal()
                         h = h + V @ relu(A @ h)  y = dense(h, 2)  output y }""",
}

#: which properties hold (all others must not)
HOLDS = {"single": {"single_layer", "plain_output"}, "shallow": {"shallow_sum", "plain_output"},
         "tied": {"tied_chain"}, "deep": {"plain_output"}, "residual_mlp": {"plain_output"}}
PROPS = ("single_layer", "shallow_sum", "tied_chain", "plain_output")


@pytest.mark.parametrize("name", NETS)
def test_each_property_holds_exactly_where_it_should_and_says_why_not(name):
    s = structure(lift(build_net(NETS[name])))
    for prop in PROPS:
        assert s.has(prop) == (prop in HOLDS[name]), prop
        if not s.has(prop):
            reason = getattr(s, prop)
            assert reason and "\n" not in reason


@pytest.mark.parametrize("name, fidelity, kinds, expected", [
    ("single", "bregman", {"tv"}, "pdhg"), ("single", "l2", {"tv"}, "lbfgs"),
    ("shallow", "bregman", {"l2sq"}, "coordinate"), ("shallow", "bregman", {"tv"}, "lifted"),
    ("tied", "bregman", set(), "lifted"), ("residual_mlp", "bregman", {"l1", "box"}, "lifted"),
])
def test_auto_takes_the_first_solver_of_the_table_that_accepts(name, fidelity, kinds, expected):
    s = structure(lift(build_net(NETS[name])))
    form = RegulariserForm.of(REGULARISERS[k] for k in kinds)
    picked, why = choose(fidelity, form, s)
    assert picked == expected and why.startswith("auto: ")
    order = candidates(fidelity)
    for earlier in order[:order.index(expected)]:
        assert SOLVERS[earlier].refuses(fidelity, form, s) is not None


def test_every_registered_solver_declares_a_solve_and_a_settings_dataclass():
    import dataclasses

    for name, info in SOLVERS.items():
        assert info.name == name and callable(info.solve)
        fields = {f.name for f in dataclasses.fields(info.settings)}
        assert "stopping" in fields, name          # every solver stops by the one rule
        info.settings()                            # its defaults are valid settings
