"""A 2-D image recovered through a flat input with TV: the run says the differences run along
the flattened vector (#28), and says nothing when the input is declared as the image."""

from __future__ import annotations

import pytest

from lbdsl.cli import main

SPEC = """network p {{
    input  u : {shape}
    param  W : 96x64 = normal(std = 1, seed = 0)
    param  b : 96 = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}}
invert p {{
    truth       = image("digit", size = 8x8)
    data        = forward(truth)
    regulariser = {reg}
    solver      = pdhg(max_iter = 50)
    figures     = false
}}
"""


@pytest.mark.parametrize("shape, reg, noted", [
    ("64", "0.05 * tv", True), ("8x8", "0.05 * tv", False), ("64", "0.05 * l1", False),
])
def test_a_flat_input_with_tv_is_noted(tmp_path, capsys, shape, reg, noted):
    spec = tmp_path / "flat.lbn"
    spec.write_text(SPEC.format(shape=shape, reg=reg))
    assert main(["solve", str(spec), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert ("tv takes differences along the flattened vector" in out) == noted
    if noted:
        assert "declare `input u : 8x8`" in out
