"""Every spec in specs/ parses, names its purpose and how to run it, and every task in it builds
— with the network IR's variables, after writing stand-in files for the specs that load some."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lbdsl.ir.tasks import CheckTask, InvertTask, TrainTask, build_tasks
from lbdsl.syntax.parser import parse_file

SPECS = Path(__file__).resolve().parents[2] / "specs"
FILES = sorted(SPECS.glob("*.lbn"))

#: Files a spec loads that an example script (or another spec) writes, with the arrays in them.
NEEDS = {
    "seed2_shallow.lbn": {"../lbdsl-out/seed-weights/seed2_shallow.npz": {"c": (1, 25)}},
    "seed3_residual.lbn": {"../lbdsl-out/seed-weights/seed3_residual.npz":
                           {f"{p}_{k}": (16, 1) if p == "W" else (16,)
                            for k in range(1, 21) for p in "Wb"}},
    "seed5_decode.lbn": {"../lbdsl-out/seed5/train-ae/weights.npz":
                         {"W1": (32, 64), "b1": (32,), "W2": (64, 32), "b2": (64,)}},
    "seed5_conv_decode.lbn": {"../lbdsl-out/seed5-conv/train-cae/weights.npz":
                              {"z1_W": (8, 1, 3, 3), "z1_b": (8,), "z2_W": (16, 8, 3, 3),
                               "z2_b": (16,), "c_W": (300, 784), "c_b": (300,)}},
}

#: What each spec holds: task kinds in order.
KINDS = {
    "perceptron.lbn": ["invert", "invert"],
    "dae.lbn": ["train"],
    "seed2_shallow.lbn": ["invert"],
    "seed3_residual.lbn": ["invert"],
    "seed4_sparse_dae.lbn": ["train"] * 4,
    "seed4_sparse_dae_784.lbn": ["train"] * 6,
    "seed5_train_autoencoder.lbn": ["train"],
    "seed5_decode.lbn": ["invert"],
    "seed5_conv_autoencoder.lbn": ["train"],
    "seed5_conv_decode.lbn": ["invert"],
    "residual_tied_1.lbn": ["check"],
    "residual_tied_2.lbn": ["check"],
    "residual_tied_5.lbn": ["check"],
    "residual_tied_20.lbn": ["check"],
    "residual_tied_minus.lbn": ["check"] * 4,
}


def test_the_expected_specs_exist():
    assert sorted(p.name for p in FILES) == sorted(KINDS)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_spec_parses_and_its_tasks_build(path):
    module = parse_file(path)
    tasks = build_tasks(module)  # without the networks' variables
    assert [t.kind for t in tasks] == KINDS[path.name]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_spec_header_says_what_and_how(path):
    head = path.read_text(encoding="utf-8").split("\n\n")[0]
    assert head.startswith("# ")
    assert "Run:" in head and "lbdsl " in head and "Needs:" in head
    for needed in NEEDS.get(path.name, {}):
        assert Path(needed).name in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_spec_builds_with_the_network_ir(path, tmp_path):
    from lbdsl.program import build_module

    copy = tmp_path / "specs" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    rng = np.random.default_rng(0)
    for file, arrays in NEEDS.get(path.name, {}).items():
        target = (copy.parent / file).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, **{k: rng.standard_normal(s) for k, s in arrays.items()})
    program = build_module(parse_file(copy))
    kinds = [type(t) for t in program.tasks]
    expected = {"invert": InvertTask, "train": TrainTask, "check": CheckTask}
    assert kinds == [expected[k] for k in KINDS[path.name]]
    for task in program.tasks:
        if isinstance(task, TrainTask):
            for term in task.penalty.terms:
                assert term.variable_id in program.networks[task.network].variables


def test_the_seed_parameters_are_the_documented_ones():
    perceptron = build_tasks(parse_file(SPECS / "perceptron.lbn"))
    assert [t.fidelity for t in perceptron] == ["bregman", "l2"]
    assert all(t.regulariser.term("tv").weight == 0.015 for t in perceptron)
    shallow, = build_tasks(parse_file(SPECS / "seed2_shallow.lbn"))
    assert (shallow.alpha.value, shallow.solver.name) == (1e-4, "lifted")
    for name in ("seed5_decode.lbn", "seed5_conv_decode.lbn"):
        decode, = build_tasks(parse_file(SPECS / name))
        assert decode.alpha.value == 9e-3 and decode.regulariser.term("tv") is not None
    dae = build_tasks(parse_file(SPECS / "seed4_sparse_dae.lbn"))
    assert [(t.loss, t.data.n) for t in dae] == [("bregman", 300), ("bregman", 1000),
                                                ("mse", 300), ("mse", 1000)]
    assert all(t.penalty.terms[0].variable == "z3" for t in dae)
    checks = build_tasks(parse_file(SPECS / "residual_tied_20.lbn"))
    assert [(t.lam, t.rho) for t in checks] == [(1.0, None)]
