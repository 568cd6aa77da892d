"""The Python API without files: ``lbdsl.loads``, ``spec.forward``, ``spec.network``, repr,
solving in memory."""

from __future__ import annotations

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import LbdslError, SpecError

TWO = """
network a {
    input u : 2x2
    param W : 3x4 = normal(seed = 1)
    h = relu(W @ u)
    output h
}
network b {
    input u : 3
    y = tanh(dense(u, 2))
    output y
}
"""

INVERT = """
network n {
    input  u : 8x8
    param  W : 32x64 = normal(std = 1, seed = 0)
    param  b : 32    = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}
invert n {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    regulariser = 0.01 * tv
    solver      = pdhg(max_iter = 200)
    figures     = false
}
"""


def test_a_spec_error_in_a_string_points_into_it_with_a_caret():
    with pytest.raises(SpecError) as info:
        lbdsl.loads(TWO.replace("relu(W @ u)", "relu(V @ u)"))
    text = str(info.value)
    assert "<string>:5:14: error: unknown name `V`" in text
    assert "    5 |     h = relu(V @ u)" in text and "^" in text


def test_forward_is_the_network_on_a_batch():
    spec = lbdsl.loads(TWO)
    W = spec.network("a").params["W"].value
    x = np.random.default_rng(0).standard_normal((4, 5, 2, 2))
    expected = np.maximum(x.reshape(4, 5, 4) @ W.T, 0.0)
    assert np.allclose(spec.forward(x, "a"), expected, rtol=1e-14, atol=1e-15)
    assert spec.forward(np.ones(3), "b").shape == (2,)
    with pytest.raises(LbdslError, match=r"x has shape \(4,\); network `a` takes "
                                         r"\(\*batch, 2, 2\)"):
        spec.forward(np.ones(4), "a")
    with pytest.raises(LbdslError, match="the spec has 2 networks"):
        spec.network()
    with pytest.raises(LbdslError, match="no network `c`"):
        spec.forward(x, "c")


def test_repr_gives_shapes_and_counts_never_the_arrays():
    text = repr(lbdsl.loads(TWO))
    assert text == ("<lbdsl.Spec <string>: networks [a (2x2 → 3, 1 layers), "
                    "b (3 → 2, 1 layers)], tasks []>")


def test_loads_solves_bit_for_bit_as_the_file(tmp_path):
    path = tmp_path / "n.lbn"
    path.write_text(INVERT)
    (from_file,) = lbdsl.load(path).solve(out=tmp_path / "file", verbose=False)
    (from_text,) = lbdsl.loads(INVERT).solve(out=tmp_path / "text", verbose=False)
    assert from_file.ok and from_text.ok
    assert np.array_equal(from_file.u, from_text.u)
    assert from_file.report["objective"] == from_text.report["objective"]
    again = lbdsl.loads(INVERT).solve(out=tmp_path / "set", overrides=["alpha=2"],
                                      verbose=False)[0]
    assert again.report["alpha"] == 2.0 and not np.array_equal(again.u, from_text.u)


def test_a_string_spec_solves_in_memory_and_leaves_nothing_on_disk(tmp_path, monkeypatch):
    path = tmp_path / "n.lbn"
    path.write_text(INVERT)
    (from_file,) = lbdsl.load(path).solve(out=tmp_path / "file", verbose=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (mem,) = lbdsl.loads(INVERT).solve(verbose=False)           # out=None: in memory
    assert mem.ok and mem.path is None and list(work.iterdir()) == []
    assert np.array_equal(mem.u, from_file.u)
    assert mem.report["objective"] == from_file.report["objective"]
    (mem2,) = lbdsl.load(path).solve(in_memory=True, verbose=False)
    assert np.array_equal(mem2.u, from_file.u) and list(work.iterdir()) == []
    with pytest.raises(LbdslError, match="neither `out` nor `resume`"):
        lbdsl.loads(INVERT).solve(out=tmp_path, in_memory=True)


def test_network_param_certificate_and_result_reprs_are_short_and_html_escapes():
    spec = lbdsl.load("specs/perceptron.lbn")
    net = spec.network()
    assert repr(net) == ("<NetworkIR perceptron: 64x64 → 512, 1 layers, 2 params "
                         "(2097664 entries)>")
    assert repr(net.params["W"]) == "<Param W : 512x4096 = normal(mean=0, std=1, seed=0)>"
    (cert,) = spec.check().values()
    assert repr(cert) == "<Certificate perceptron: certified (symbolic; single layer)>"
    html = cert._repr_html_()
    assert html.startswith("<pre><b>network perceptron: certified convex") and "</b>" in html
    from lbdsl.tasks.result import TaskResult

    result = TaskResult("invert", "n", 3, "failed", error="a <b> tag",
                        report={"objective": 1.5, "psnr": None})
    assert "a &lt;b&gt; tag" in result._repr_html_() and "<td>objective</td>" in \
        result._repr_html_() and "psnr" not in result._repr_html_()
