"""The pairs a ``train`` task fits: ``digits(...)`` (a fixed split, seeded draws, noise on the
inputs only) and ``load(...)`` (safe, checked), and how their mistakes are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_run_helpers import TINY_AE, TINY_AE_NET, report

from lbdsl.cli import main
from lbdsl.errors import SpecError
from lbdsl.program import build_module
from lbdsl.ir.tasks.records import DigitsData
from lbdsl.syntax.parser import parse
from lbdsl.tasks.train.pairs import make_pairs


def _net():
    return build_module(parse(TINY_AE_NET, "<test>")).networks["ae"]


def _digits(net, **kw):
    return make_pairs(DigitsData(**kw), net, Path.cwd(), task_seed=0)


def test_digits_come_from_disjoint_splits_with_noise_on_the_inputs_only() -> None:
    net = _net()
    train = _digits(net, n=300, noise=0.2, seed=3)
    test = _digits(net, split="test", noise=0.2, seed=3)
    assert train.inputs.shape == (300, 8, 8) and train.targets.shape == (300, 64)
    assert test.n == 359  # the whole test split
    flat = {tuple(t) for t in train.targets}
    assert not flat & {tuple(t) for t in test.targets}  # no test digit is a training digit
    assert train.targets.min() >= 0 and train.targets.max() <= 1
    noise = train.inputs.reshape(300, -1) - train.targets
    assert 0.18 < noise.std() < 0.22
    again = _digits(net, n=300, noise=0.2, seed=3)
    np.testing.assert_array_equal(again.inputs, train.inputs)
    other = _digits(net, n=300, noise=0.2, seed=4)
    assert not np.array_equal(other.targets, train.targets)


def test_digits_mistakes_point_at_the_setting() -> None:
    net = _net()
    with pytest.raises(SpecError, match="holds 359 images"):
        _digits(net, split="test", n=400)
    with pytest.raises(SpecError, match='targets = "labels"|10 entries'):
        _digits(net, targets="labels")


def _pairs_spec(write_spec, arrays: dict[str, np.ndarray], data: str) -> Path:
    spec = write_spec(TINY_AE.replace('digits(n = 30, noise = 0.1, seed = 0)', data)
                      .replace('validation = digits(n = 10, split = "test", noise = 0.1, '
                               'seed = 1)', "figures = false"))
    np.savez(spec.parent / "pairs.npz", **arrays)
    return spec


def test_loaded_pairs_train_the_network(write_spec, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.random((20, 64))
    spec = _pairs_spec(write_spec, {"noisy": y + 0.1 * rng.standard_normal((20, 8, 8))
                                    .reshape(20, 64), "clean": y},
                       'load("pairs.npz", inputs = "noisy", targets = "clean")')
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    rep = report(tmp_path / "o" / "train-ae")
    assert rep["data"] == {"kind": "load", "path": "pairs.npz", "inputs": "noisy",
                           "targets": "clean", "n": 20}
    assert rep["validation"] is None and rep["validation_psnr"] is None


@pytest.mark.parametrize("arrays, data, status, message", [
    ({"X": np.zeros((5, 63)), "Y": np.zeros((5, 64))}, 'load("pairs.npz")', 2,
     "not a stack of samples of the input"),
    ({"X": np.zeros((5, 64)), "Y": np.zeros((4, 64))}, 'load("pairs.npz")', 2,
     "5 inputs (`X`) but 4 targets"),
    ({"X": np.zeros((5, 64)), "Y": np.zeros((5, 64))}, 'load("pairs.npz", "X", "Z")', 1,
     "has no array `Z`"),
    ({"X": np.full((5, 64), np.nan), "Y": np.zeros((5, 64))}, 'load("pairs.npz")', 1,
     "non-finite"),
    ({"X": np.zeros((5, 64)), "Y": np.zeros((5, 64))}, 'load("missing.npz")', 1,
     "no such file"),
])
def test_loaded_pairs_are_checked(arrays, data, status, message, write_spec, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = _pairs_spec(write_spec, arrays, data)
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "train-ae").exists()  # refused before any file is written


def test_a_pickle_is_never_loaded(write_spec, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = _pairs_spec(write_spec, {"X": np.zeros((2, 64))}, 'load("pairs.npz")')
    np.save(spec.parent / "pairs.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    (spec.parent / "pairs.npy").rename(spec.parent / "pairs.npz")
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("pickle" in err or "Python objects" in err)
