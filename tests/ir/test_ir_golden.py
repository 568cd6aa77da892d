"""The IR of the canonical networks, pinned: variables, parameters, layers and the graph.

The golden files under ``golden/`` are JSON written by :func:`describe`; after an intended change
regenerate them with ``LBDSL_UPDATE_GOLDEN=1 pytest tests/ir/test_ir_golden.py`` and review the
diff.  Targeted assertions below pin the facts the lifting pass relies on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ir_helpers import build_net
from lbdsl.ir.nodes import Layer, NetworkIR, Residual

GOLDEN = Path(__file__).parent / "golden"

CANONICAL = {
    "perceptron": """
network perceptron {
    input  u : 64x64
    param  W : 512x4096 = normal(std = 1, seed = 0)
    param  b : 512      = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}
""",
    "mlp": """
network mlp {
    input  x : 1x28x28
    h1 = relu(dense(x, 64))
    h2 = leaky_relu(dense(h1, 32), a = 0.1)
    y  = dense(h2, 10)
    output y
}
""",
    "tied_residual": """
network tied {
    input  x : 16
    repeat 5 {
        param W : 8x16 = normal(std = 0.1, seed = 7)
        param b : 8    = zeros
        x = x + W.T @ relu(W @ x + b)
    }
    output x
}
""",
    "minus_residual": """
network minus {
    input  x : 4x4
    param  W : 8x16 = uniform(-0.5, 0.5, seed = 2)
    param  V : 16x8 = eye
    x = x - V @ soft(W @ x, theta = 0.05)
    output x
}
""",
    "shallow_sum": """
network shallow {
    input  u : 3
    param  w : 20x3 = normal(seed = 0)
    param  b : 20   = linspace(-1, 1)
    param  c : 20   = normal(std = 0.1, seed = 1)
    y = c @ relu(w @ u + b)
    output y
}
""",
    "conv": """
network cnn {
    input  img : 28x28
    h = relu(conv2d(img, 4, kernel = 5, stride = 2, padding = 2))
    g = clip(conv2d(h, 8, kernel = 3, stride = 2), lo = 0, hi = 1)
    y = dense(g, 10)
    output y
}
""",
}


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def describe(net: NetworkIR) -> dict:
    """Everything structural about a network IR, as JSON data (no arrays, no spans)."""
    layers = []
    for step in net.layers:
        a, m = step.affine, step.affine.map   # every golden layer is one map: A x + b
        entry = {
            "type": type(step).__name__, "out": step.out, "psi": step.psi_name,
            "psi_params": step.psi_params, "line": step.span.line,
            "affine": {"kind": m.kind, "input": a.input, "weight": m.weight,
                       "transposed": m.transposed, "bias": a.bias, "in_shape": m.in_shape,
                       "out_shape": a.out_shape, "kernel": m.kernel, "stride": m.stride,
                       "padding": m.padding},
        }
        if isinstance(step, Layer):
            entry["linear"] = step.linear
        else:
            entry.update(base=step.base, sign=step.sign, v_weight=step.v_weight,
                         v_transposed=step.v_transposed, tied=step.tied)
        layers.append(entry)
    g = net.graph
    return _jsonable({
        "name": net.name, "input": net.input, "input_shape": net.input_shape,
        "output": net.output,
        "variables": {v.id: {"name": v.name, "shape": v.shape, "version": v.version,
                             "hidden": v.hidden} for v in net.variables.values()},
        "params": {p.name: {"shape": p.shape, "origin": p.origin, "created": p.created,
                            "declared_name": p.declared_name} for p in net.params.values()},
        "layers": layers,
        "nodes": {n: {"kind": d["kind"], "shape": d["shape"], "label": d["label"],
                      "line": d["line"]} for n, d in g.nodes(data=True)},
        "edges": [[u, v, d["kind"], d["var"], d["label"], _jsonable(d["shape"])]
                  for u, v, d in g.edges(data=True)],
    })


def _dump(data: dict) -> str:
    """JSON with one line per variable, parameter, layer, node and edge (readable diffs)."""
    out = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict):
            rows = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                    for k, v in value.items()]
            out.append(f" {json.dumps(key)}: {{\n" + ",\n".join(rows) + f"\n }}{comma}")
        elif isinstance(value, list) and value and isinstance(value[0], (dict, list)):
            rows = [f"  {json.dumps(v, ensure_ascii=False)}" for v in value]
            out.append(f" {json.dumps(key)}: [\n" + ",\n".join(rows) + f"\n ]{comma}")
        else:
            out.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    return "\n".join(out) + "\n}\n"


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_golden(name: str):
    got = json.loads(json.dumps(describe(build_net(CANONICAL[name]))))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("LBDSL_UPDATE_GOLDEN"):
        path.write_text(_dump(got), encoding="utf-8")
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want


def test_perceptron_facts():
    net = build_net(CANONICAL["perceptron"])
    (layer,) = net.layers
    assert isinstance(layer, Layer) and not layer.linear
    assert (layer.out, layer.psi_name) == ("h", "relu")
    assert layer.affine.map.kind == "matmul" and layer.affine.map.in_shape == (64, 64)
    assert layer.affine.out_shape == (512,) and layer.affine.bias == "b"
    assert net.shapes == {"u": (64, 64), "h": (512,)}
    W = net.params["W"].value
    assert W.dtype == np.float64 and W.shape == (512, 4096) and W.flags.c_contiguous
    np.testing.assert_array_equal(W, np.random.default_rng(0).normal(0.0, 1.0, (512, 4096)))
    kinds = sorted(d["kind"] for _, d in net.graph.nodes(data=True))
    assert kinds == ["activation", "affine", "input", "output", "param", "param"]


def test_tied_residual_facts():
    net = build_net(CANONICAL["tied_residual"])
    assert [s.out for s in net.layers] == ["x#2", "x#3", "x#4", "x#5", "x#6"]
    assert [s.base for s in net.layers] == ["x", "x#2", "x#3", "x#4", "x#5"]
    assert all(isinstance(s, Residual) and s.tied and s.sign == 1 for s in net.layers)
    assert list(net.params) == [f"{p}_{i}" for i in range(1, 6) for p in ("W", "b")]
    for i in range(1, 6):  # seed offset by the iteration index (0 for the first)
        np.testing.assert_array_equal(net.params[f"W_{i}"].value,
                                      np.random.default_rng(7 + i - 1).normal(0, 0.1, (8, 16)))
    assert net.output == "x#6"
    assert {v.name for v in net.variables.values()} == {"x"}


def test_minus_residual_is_untied():
    net = build_net(CANONICAL["minus_residual"])
    (step,) = net.layers
    assert isinstance(step, Residual)
    assert (step.sign, step.tied, step.v_weight, step.v_transposed) == (-1, False, "V", False)
    assert step.psi_params == {"theta": 0.05}
    assert net.shapes["x#2"] == (4, 4)


def test_shallow_sum_has_a_hidden_layer():
    net = build_net(CANONICAL["shallow_sum"])
    hidden, outer = net.layers
    assert hidden.out == "y.relu" and net.variables["y.relu"].hidden
    assert outer.linear and outer.affine.input == "y.relu" and outer.affine.map.weight == "c"
    assert net.shapes["y"] == (1,)  # c (20) is the row vector 1x20
    np.testing.assert_allclose(net.params["b"].value, np.linspace(-1, 1, 20))


def test_conv_shapes():
    net = build_net(CANONICAL["conv"])
    assert net.shapes == {"img": (28, 28), "h": (4, 14, 14), "g": (8, 6, 6), "y": (10,)}
    h, g, y = net.layers
    assert h.affine.map.in_shape == (1, 28, 28)  # HxW is one channel
    assert (h.affine.map.kernel, h.affine.map.stride, h.affine.map.padding) == ((5, 5), 2, 2)
    assert net.params["h_W"].shape == (4, 1, 5, 5) and net.params["g_W"].shape == (8, 4, 3, 3)
    assert net.params["y_W"].shape == (10, 288)
    bound = 1 / np.sqrt(4 * 3 * 3)  # PyTorch's default: U(±1/sqrt(fan_in))
    assert np.abs(net.params["g_W"].value).max() <= bound
    assert np.abs(net.params["g_b"].value).max() <= bound
    assert g.psi_params == {"lo": 0.0, "hi": 1.0}
