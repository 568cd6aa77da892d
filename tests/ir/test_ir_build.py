"""Structure of the IR: SSA versions, layer forms, tying, the graph, modules, big repeats."""

from __future__ import annotations

import networkx as nx
import pytest

from ir_helpers import build, build_net
from lbdsl.errors import SpecError
from lbdsl.ir.graph import to_dot
from lbdsl.ir.nodes import Layer, Residual
from lbdsl.ir.show import summary


def test_ssa_versions_keep_the_user_name():
    net = build_net("""
network s {
    input  u : 4
    param  W : 4x4 = eye
    u = u + W.T @ relu(W @ u)
    h = tanh(W @ u)
    h = relu(W @ h)
    u = u - W @ sigmoid(W.T @ h)
    output u
}""")
    assert list(net.variables) == ["u", "u#2", "h", "h#2", "u#3"]
    assert [v.name for v in net.variables.values()] == ["u", "u", "h", "h", "u"]
    assert [v.version for v in net.variables.values()] == [1, 2, 1, 2, 3]
    assert net.input == "u" and net.output == "u#3"
    assert net.layers[1].affine.input == "u#2"  # later statements see the new value
    last = net.layers[3]
    assert isinstance(last, Residual) and last.base == "u#2" and last.affine.input == "h#2"
    assert last.tied  # V = W with the affine's W.T: still the transpose of the affine matrix


def test_layer_forms():
    net = build_net("""
network f {
    input  x : 6
    param  A : 3x6 = normal(seed = 0)
    param  b : 3 = zeros
    param  V : 6x3 = normal(seed = 1)
    l1 = A @ x + b
    l2 = b + A @ x
    l3 = identity(A @ x)
    l4 = leaky_relu(A @ x, a = 0.5)
    x = V @ relu(A @ x) + x
    output x
}""")
    l1, l2, l3, l4, res = net.layers
    assert l1.linear and l1.psi_name == "identity" and l1.affine.bias == "b"
    assert l2.affine.bias == "b" and l2.affine.map.weight == "A"
    assert l3.linear
    assert not l4.linear and l4.psi_params == {"a": 0.5}
    assert isinstance(res, Residual) and res.base == "x" and res.sign == 1 and not res.tied
    clip = build_net("network c {\n input x : 2\n param A : 2x2 = eye\n"
                     " y = clip(A @ x)\n output y\n}").layers[0]
    assert clip.psi_params == {"lo": -1.0, "hi": 1.0}  # defaults filled in


def test_graph_is_a_dag_with_the_documented_nodes():
    net = build_net("""
network g {
    input  x : 8
    param  W : 4x8 = normal(seed = 0)
    param  b : 4 = zeros
    x = x + W.T @ relu(W @ x + b)
    y = dense(x, 3)
    output y
}""")
    g = net.graph
    assert nx.is_directed_acyclic_graph(g)
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    assert kinds == {
        "input:x": "input", "param:W": "param", "param:b": "param", "param:y_W": "param",
        "param:y_b": "param", "L1:affine": "affine", "L1:act": "activation",
        "L1:V": "linear", "L1:add": "add", "L2:affine": "affine", "output": "output"}
    assert g.nodes["L1:add"]["tied"] and g.nodes["L1:add"]["sign"] == 1
    assert set(g.predecessors("L1:add")) == {"input:x", "L1:V"}
    assert g.edges["L1:add", "L2:affine"]["var"] == "x#2"
    assert g.edges["param:W", "L1:V"]["kind"] == "weight"
    assert g.edges["param:b", "L1:affine"]["kind"] == "bias"
    assert g.nodes["output"]["shape"] == (3,) and g.nodes["output"]["line"] == 8
    for _, _, data in g.edges(data=True):
        assert {"kind", "shape", "var", "label", "line"} <= set(data)
    dot = to_dot(net)
    assert dot.startswith('digraph "g" {') and dot.rstrip().endswith("}")
    assert '"L1:add" -> "L2:affine"' in dot and "x#2" not in dot.split("->")[0]


def test_summary_lists_layers_residuals_and_totals():
    net = build_net("""
network s {
    input  u : 2x2
    param  W : 3x4 = normal(seed = 0)
    u = u - W.T @ soft(W @ u, theta = 0.1)
    y = dense(u, 2)
    output y
}""")
    text = summary(net)
    assert "network s" in text and "input   u : 2x2" in text
    assert "u - W.T @ soft(W @ u, theta = 0.1)" in text
    assert "dense(u#2, 2)" in text
    assert "tied" in text and "sign -" in text
    assert "output  y : 2" in text
    assert "parameters (3 tensors, 22 entries" in text


def test_output_is_the_version_at_the_output_statement():
    net = build_net("""
network o {
    input x : 2
    param W : 2x2 = eye
    x = relu(W @ x)
    output x
    x = tanh(W @ x)
}""")
    assert net.output == "x#2" and len(net.layers) == 2


def test_thousand_layer_repeat_builds():
    net = build_net("""
network deep {
    input x : 4
    repeat 1000 {
        param W : 4x4 = normal(std = 0.1)
        param b : 4 = zeros
        x = x + W.T @ relu(W @ x + b)
    }
    output x
}""")
    assert len(net.layers) == 1000 and net.output == "x#1001"
    assert len(net.params) == 2000 and "W_1000" in net.params
    assert net.graph.number_of_nodes() == 1 + 2000 + 4 * 1000 + 1


def test_unroll_limit():
    with pytest.raises(SpecError) as info:
        build_net("network d {\n input x : 2\n param W : 2x2 = eye\n"
                  " repeat 1000 { repeat 1000 { x = relu(W @ x) } }\n output x\n}")
    assert "1,000,000 statements" in info.value.diagnostics[0].message


def test_module_reports_errors_of_all_networks_and_keeps_tasks():
    with pytest.raises(SpecError) as info:
        build("""
network a {
    input u : 2
    param W : 2x2 = eye
    h = rleu(W @ u)
    output h
}
network b {
    input u : 2
    output v
}""")
    assert [d.span.line for d in info.value.diagnostics] == [5, 10]
    module = build("network a {\n input u : 2\n output u\n}\ncheck a { lambda = 1 }\n")
    assert list(module.networks) == ["a"] and len(module.tasks) == 1
    assert type(module.tasks[0]).__name__ == "CheckTask"


def test_task_errors_come_with_network_errors():
    with pytest.raises(SpecError) as info:
        build("""
network a {
    input u : 2
    output v
}
check a { lambda = 1, bogus_key = 3 }
check nope { }
""")
    lines = [d.span.line for d in info.value.diagnostics]
    assert lines[0] == 4 and 6 in lines and lines[-1] == 7


def test_hidden_variable_of_a_shallow_sum_on_rebinding():
    net = build_net("""
network s {
    input u : 3
    param w : 5x3 = normal(seed = 0)
    param c : 5 = ones
    param D : 3x1 = ones
    y = c @ relu(w @ u)
    y = D @ y
    y = c @ tanh(w @ y)
    output y
}""")
    assert list(net.variables) == ["u", "y.relu", "y", "y#2", "y#3.tanh", "y#3"]
    assert all(isinstance(s, Layer) for s in net.layers)
