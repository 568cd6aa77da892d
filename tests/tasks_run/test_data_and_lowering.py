"""Truth and data (images, linspace, files, noise, seeds), the projection onto dom Ψ, the
regulariser weights, the solver choice and the mapping of solver options."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from run_helpers import TINY_INVERT, TINY_NET
from sklearn.datasets import load_digits

from lbdsl import pipeline
from lbdsl.cli import main
from lbdsl.errors import SpecError
from lbdsl.lift.compact import lift
from lbdsl.solvers.base import Stopping
from lbdsl.tasks import data
from lbdsl.tasks.invert import lower


def _task(path: Path, index: int = 0):
    program = pipeline.load(path)
    task = program.tasks[index]
    return program, task, program.networks[task.network]


# --- truth -----------------------------------------------------------------------------------

def test_images_are_resized_into_unit_range() -> None:
    for name in ("shepp_logan", "camera", "digit"):
        img = data.image(name, (12, 10))
        assert img.shape == (12, 10) and img.min() == 0.0 and img.max() == 1.0


def test_digit_truth_is_from_the_test_split() -> None:
    train, test = data.digits_split("train"), data.digits_split("test")
    assert len(set(train) & set(test)) == 0 and len(train) + len(test) == 1797
    raw = load_digits().images[test[5]]
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(data.image("digit", (8, 8), index=5), expected)


def test_digit_index_out_of_range_points_at_index(write_spec) -> None:
    spec = write_spec(TINY_INVERT.replace('image("shepp_logan", size = 8x8)',
                                          'image("digit", size = 8x8, index = 999)'))
    program, task, net = _task(spec)
    with pytest.raises(SpecError) as info:
        data.make_truth(task.truth, net, spec.parent)
    (d,) = info.value.diagnostics
    assert "index" in d.message and d.span.line == 11 and d.span.column > 30


def test_linspace_with_n_on_a_scalar_input_is_a_batch(write_spec) -> None:
    spec = write_spec("""
network s { input u : 1
  param w : 3x1 = ones
  param c : 1x3 = ones
  y = c @ relu(w @ u) output y }
invert s { truth = linspace(-1, 1, n = 5)  data = forward(truth) }
""")
    _, task, net = _task(spec)
    truth = data.make_truth(task.truth, net, spec.parent)
    assert truth.shape == (5, 1)
    obs = data.make_data(task, net, truth, spec.parent)
    assert obs.batch == (5,) and obs.f.shape == (5, 1)
    np.testing.assert_allclose(obs.f[:, 0], 3 * np.maximum(np.linspace(-1, 1, 5), 0))


def test_loaded_truth_of_the_wrong_shape_is_a_spec_error(write_spec,
                                                         capsys: pytest.CaptureFixture) -> None:
    spec = write_spec(TINY_INVERT.replace('image("shepp_logan", size = 8x8)', 'load("t.npy")'))
    np.save(spec.parent / "t.npy", np.zeros((7, 7)))
    assert main(["solve", str(spec), "--out", str(spec.parent / "o")]) == 2
    err = capsys.readouterr().err
    assert "spec.lbn:11:19: error: the loaded truth has shape 7x7" in err and "^" in err


def test_missing_or_corrupt_data_files_are_one_line_errors(write_spec, standins,
                                                           capsys: pytest.CaptureFixture) -> None:
    spec = write_spec(TINY_INVERT.replace("forward(truth) + gaussian(sigma = 0.5, seed = 3)",
                                          'load("f.npy")'))
    assert main(["solve", str(spec), "--out", str(spec.parent / "o")]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and err.count("\n") == 1
    (spec.parent / "f.npy").write_bytes(b"\x80\x04 not a pickle we would load")
    assert main(["solve", str(spec), "--out", str(spec.parent / "o")]) == 1
    assert "pickle" in capsys.readouterr().err
    np.save(spec.parent / "f.npy", np.full(32, np.nan))
    assert main(["solve", str(spec), "--out", str(spec.parent / "o")]) == 1
    assert "32 non-finite" in capsys.readouterr().err


# --- noise and seeds -------------------------------------------------------------------------

def test_relative_noise_has_the_requested_norm(write_spec) -> None:
    spec = write_spec(TINY_INVERT.replace("sigma = 0.5", "relative = 0.05"))
    _, task, net = _task(spec)
    truth = data.make_truth(task.truth, net, spec.parent)
    obs = data.make_data(task, net, truth, spec.parent)
    assert np.linalg.norm(obs.f - obs.clean) == pytest.approx(0.05 * np.linalg.norm(obs.clean))
    assert obs.noise_norm == pytest.approx(np.linalg.norm(obs.f - obs.clean))


def test_noise_seed_falls_back_to_the_task_seed(write_spec) -> None:
    explicit = write_spec(TINY_INVERT, name="a.lbn")
    fallback = write_spec(TINY_INVERT.replace(", seed = 3", "").replace(
        "solver ", "seed = 3\n    solver "), name="b.lbn")
    other = write_spec(TINY_INVERT.replace(", seed = 3", ""), name="c.lbn")
    obs = []
    for spec in (explicit, fallback, other):
        _, task, net = _task(spec)
        obs.append(data.make_data(task, net, data.make_truth(task.truth, net, spec.parent),
                                  spec.parent))
    np.testing.assert_array_equal(obs[0].f, obs[1].f)
    assert obs[1].noise_seed == 3 and obs[2].noise_seed == 0
    assert not np.array_equal(obs[0].f, obs[2].f)


# --- the projection onto dom Ψ ---------------------------------------------------------------

def _single(act: str) -> str:
    return f"""
network n {{ input u : 6
  param W : 6x6 = eye
  h = {act}(W @ u)
  output h }}
invert n {{ data = load("f.npy") }}
"""


def test_relu_data_projection_counts_the_negative_entries(write_spec, standins,
                                                          tmp_path: Path) -> None:
    spec = write_spec(_single("relu"))
    f = np.array([1.0, -2.0, 0.5, -0.1, 0.0, 3.0])
    np.save(spec.parent / "f.npy", f)
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "invert-n" / "report.json").read_text())
    assert report["domain_projection"] == {"psi": "relu", "margin": 0.0, "moved": 2,
                                           "entries": 6}
    (problem, _, _), = standins["pdhg"].calls
    np.testing.assert_array_equal(np.asarray(problem.f), np.maximum(f, 0))


def test_sigmoid_data_is_projected_strictly_inside(write_spec) -> None:
    spec = write_spec(_single("sigmoid"))
    _, task, net = _task(spec)
    f = np.array([[0.5, 1.2, -0.3, 1.0, 0.0, 0.25]])
    projected, proj = lower.project_data(lift(net), f)
    assert proj.moved == 4 and proj.margin > 0
    assert np.all(projected > 0) and np.all(projected < 1)
    assert projected[0, 0] == 0.5 and projected[0, 5] == 0.25
    lp = lift(net)
    assert np.all(np.isfinite(lp.layers[0].psi.bregman(projected, np.zeros_like(projected))))


def test_a_residual_output_has_no_domain() -> None:
    program = pipeline.load(Path(__file__).parents[2] / "specs" / "residual_tied_2.lbn")
    lp = lift(next(iter(program.networks.values())))
    f = np.array([[-5.0] * lp.K.shape_out[0]])
    projected, proj = lower.project_data(lp, f)
    assert proj.psi == "none" and proj.moved == 0 and projected is f


# --- weights, solver choice, settings --------------------------------------------------------

def test_set_alpha_reaches_the_solver_as_alpha_times_weight(write_spec, standins,
                                                            tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("0.01 * tv", "0.5 * tv + 2 * l1"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o"), "--set", "alpha=0.02"]) == 0
    (problem, settings, _), = standins["pdhg"].calls
    assert [(t.reg.name, t.weight) for t in problem.terms] == [("tv", 0.01), ("l1", 0.04)]
    assert [c.name for c in problem.constraints] == ["nonneg"]
    report = json.loads((tmp_path / "o" / "invert-tiny" / "report.json").read_text())
    assert report["alpha"] == 0.02
    assert [w["effective"] for w in report["weights"]] == [0.01, 0.04, None]
    assert report["settings"]["written"]["alpha"] == "0.02"
    assert report["settings"]["overrides"] == ["alpha=0.02"]


def test_set_solver_option_reaches_the_settings(write_spec, standins, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT)
    assert main(["solve", str(spec), "--out", str(tmp_path / "o"),
                 "--set", "solver.max_iter=7", "--set", "solver.tau=0.25"]) == 0
    (_, settings, _), = standins["pdhg"].calls
    assert settings.stopping == Stopping(max_iter=7, tol=1e-6) and settings.tau == 0.25


@pytest.mark.parametrize("body, expected", [
    ("h = relu(W @ u + b)", "pdhg"),
    ("h = relu(W @ u + b)\n h = relu(V @ h)", "lifted"),
])
def test_auto_solver_choice(write_spec, body: str, expected: str) -> None:
    spec = write_spec(f"""
network n {{ input u : 4
  param W : 4x4 = eye
  param V : 4x4 = eye
  param b : 4 = zeros
  {body}
  output h }}
invert n {{ truth = linspace(0, 1) data = forward(truth) }}
invert n {{ truth = linspace(0, 1) data = forward(truth) fidelity = l2 }}
""")
    program = pipeline.load(spec)
    lp = lift(program.networks["n"])
    assert lower.choose_solver(program.tasks[0], lp)[0] == expected
    assert lower.choose_solver(program.tasks[1], lp)[0] == "lbfgs"
    assert lower.choose_solver(program.tasks[0], lp, fidelity="l2")[0] == "lbfgs"


def test_auto_picks_coordinate_for_a_shallow_sum_with_l2sq(write_spec) -> None:
    spec = write_spec("""
network s { input u : 1
  param w : 3x1 = ones
  param c : 1x3 = ones
  y = c @ relu(w @ u) output y }
invert s { truth = linspace(0, 1, n = 4)  data = forward(truth)  regulariser = l2sq }
invert s { truth = linspace(0, 1, n = 4)  data = forward(truth)  regulariser = l1 }
""")
    program = pipeline.load(spec)
    lp = lift(program.networks["s"])
    assert lower.choose_solver(program.tasks[0], lp)[0] == "coordinate"
    assert lower.choose_solver(program.tasks[1], lp)[0] == "lifted"


@dataclass(frozen=True)
class _OnlyTau:
    stopping: Stopping = field(default_factory=Stopping)
    tau: float | None = None


def test_an_option_the_solver_lacks_is_a_spec_error_at_the_option(write_spec) -> None:
    spec = write_spec(TINY_INVERT.replace("pdhg(max_iter = 40)",
                                          "pdhg(max_iter = 40, sigma = 0.1)"))
    program, task, _ = _task(spec)
    with pytest.raises(SpecError) as info:
        lower.solver_settings("pdhg", task.solver, _OnlyTau, task.solver.spans)
    (d,) = info.value.diagnostics
    line = spec.read_text().split("\n")[d.span.line - 1]
    assert "has no option `sigma`" in d.message and line[d.span.column - 1:].startswith("0.1")
    assert "tau" in d.hint and "max_iter" in d.hint
    ok = lower.solver_settings("pdhg", task.solver, _OnlyTau, task.solver.spans,
                               common_only=True)
    assert ok == _OnlyTau(Stopping(max_iter=40))


def test_the_language_documents_exactly_the_options_each_solver_declares() -> None:
    """docs/language.md's table of solver-specific options against the option fields of each
    registered solver's settings (the one place options are declared)."""
    from lbdsl.options import options
    from lbdsl.solvers.registry import SOLVERS

    text = (Path(__file__).parents[2] / "docs" / "language.md").read_text(encoding="utf-8")
    table = text.split("Solver-specific options")[1].split("###")[0]
    documented: dict[str, set[str]] = {name: set() for name in SOLVERS}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        for solver in cells[0].replace("`", "").split(", "):
            documented[solver] |= set(cells[1].replace("`", "").split(", "))
    declared = {name: {o.name for o in options(info.settings)} for name, info in SOLVERS.items()}
    assert documented == declared


def test_dtype_float32_reaches_the_problem(write_spec, standins, tmp_path: Path) -> None:
    spec = write_spec(TINY_INVERT.replace("solver ", 'dtype = "float32"\n    solver '))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    (problem, _, _), = standins["pdhg"].calls
    assert problem.f.dtype == np.float32 and problem.lifted.dtype == np.float32


def test_loaded_data_plus_noise_without_a_truth(write_spec, standins, tmp_path: Path) -> None:
    spec = write_spec(TINY_NET + 'invert tiny { data = load("f.npz", "y") + '
                                 'gaussian(relative = 0.1)  seed = 7 }')
    clean = np.linspace(0.5, 2.0, 32)
    np.savez(spec.parent / "f.npz", y=clean.reshape(4, 8), other=np.zeros(3))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "invert-tiny" / "report.json").read_text())
    assert "psnr" not in report and report["data"]["noise_seed"] == 7
    assert report["data"]["noise_norm"] == pytest.approx(0.1 * np.linalg.norm(clean))
    with np.load(tmp_path / "o" / "invert-tiny" / "result.npz") as npz:
        np.testing.assert_array_equal(npz["f_clean"], clean)
        assert "truth" not in npz.files
