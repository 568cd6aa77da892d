"""The figures that compare: ``reconstruction.png`` (PSNR / SSIM in the titles, colour bars,
error maps), ``convergence.png`` without empty panels, and the spec's comparison figures
``compare-NET.png`` (invert tasks on the same data) and ``compare-train-NET.png`` (train tasks
on the same validation set).  What a figure shows is read from its matplotlib ``Figure``: each
builder returns one, and the task saves it through ``png`` (recorded here)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from run_helpers import TINY_INVERT
from train_run_helpers import TINY_AE

from lbdsl.cli import main
from lbdsl.pipeline import solve
from lbdsl.program import load
from lbdsl.solvers.base import History, SolveResult
from lbdsl.tasks import compare
from lbdsl.tasks.figures import png
from lbdsl.tasks.invert import figures as fg
from lbdsl.tasks.invert import save as invert_save
from lbdsl.tasks.train import figures as tf
from lbdsl.terminal import plain_console

PNG = b"\x89PNG\r\n\x1a\n"

#: The invert task of TINY_INVERT as written there (so that copies of it share the data).
TASK = TINY_INVERT[TINY_INVERT.index("invert tiny"):]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every figure an invert task saves, in order (the matplotlib ``Figure`` objects)."""
    figures: list[Any] = []

    def record(fig: Any) -> bytes:
        figures.append(fig)
        return png(fig)
    monkeypatch.setattr(invert_save, "png", record)
    return figures


def _titles(fig: Any) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def _colour_bars(fig: Any) -> int:
    return sum(1 for ax in fig.axes if hasattr(ax, "_colorbar"))


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())


def _solve(spec: Path, out: Path) -> tuple[Any, list[Any]]:
    program = load(str(spec))
    return program, solve(program, out=out)


def _line(results: list[Any], k: int) -> str:
    return f"line {results[k].line}"


# --- reconstruction.png ----------------------------------------------------------------------

def test_reconstruction_titles_hold_the_reports_psnr_and_ssim_with_colour_bars_and_errors(
        standins, write_spec, tmp_path: Path, drawn: list[Any]) -> None:
    spec = write_spec(TINY_INVERT.replace("solver", "baseline = true\n    solver"))
    _solve(spec, tmp_path / "o")
    rep = _report(tmp_path / "o" / "invert-tiny")
    fig = next(f for f in drawn if "truth u†" in _titles(f))
    titles = _titles(fig)
    main = f"Bregman–TV\n{rep['psnr']:.2f} dB / SSIM {rep['ssim']:.3f}"
    base = rep["baseline"]
    baseline = (f"baseline (quadratic fidelity)\n{base['psnr']:.2f} dB / "
                f"SSIM {base['ssim']:.3f}")
    assert titles[:3] == ["truth u†", main, baseline]
    assert titles.count("error |u − u†|") == 2 and "data f" in titles
    assert _colour_bars(fig) == 2          # truth and reconstructions; the error maps
    errors = [ax for ax in fig.axes if ax.get_title() == "error |u − u†|"]
    with np.load(tmp_path / "o" / "invert-tiny" / "result.npz") as npz:
        expected = np.abs(npz["u"] - npz["truth"])
    np.testing.assert_allclose(errors[0].images[0].get_array(), expected)
    assert (tmp_path / "o" / "invert-tiny" / "reconstruction.png").read_bytes().startswith(PNG)


def test_reconstruction_of_a_vector_names_its_scores_in_the_legend_and_draws_the_errors(
        standins, write_spec, tmp_path: Path, drawn: list[Any]) -> None:
    spec = write_spec("""
network v {
    input  u : 12
    param  W : 20x12 = normal(std = 1, seed = 0)
    h = relu(W @ u)
    output h
}
invert v {
    truth       = linspace(0, 1, n = 12)
    data        = forward(truth)
    fidelity    = l2
    regulariser = 0.01 * l2sq
    solver      = lbfgs(max_iter = 20)
}
""")
    _solve(spec, tmp_path / "o")
    rep = _report(tmp_path / "o" / "invert-v")
    fig = next(f for f in drawn if "data f" in _titles(f))
    assert _titles(fig) == ["input", "data f", "error |u − u†|"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["truth u†", f"quadratic–l2sq ({rep['psnr']:.2f} dB)"]


def test_a_batch_of_scalar_problems_still_draws_function_png(standins, write_spec,
                                                             tmp_path: Path,
                                                             drawn: list[Any]) -> None:
    spec = write_spec("""
network shallow {
    input  u : 1
    param  w : 6x1 = ones
    param  b : 6   = linspace(0, -1)
    param  c : 1x6 = ones
    y = c @ relu(w @ u + b)
    output y
}
invert shallow {
    truth       = linspace(0, 1.5, n = 12)
    data        = forward(truth)
    regulariser = l2sq
    alpha       = 1e-4
    solver      = coordinate(max_iter = 20)
}
""")
    _solve(spec, tmp_path / "o")
    folder = tmp_path / "o" / "invert-shallow"
    assert (folder / "function.png").read_bytes().startswith(PNG)
    assert not (folder / "reconstruction.png").exists()
    fig = next(f for f in drawn if "its inverse" in _titles(f))
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels[1].startswith("Bregman–l2sq (") and labels[1].endswith(" dB)")


# --- convergence.png -------------------------------------------------------------------------

def _result(**metrics: list[float]) -> SolveResult:
    n = len(next(iter(metrics.values())))
    history = History(list(range(10, 10 * n + 1, 10)), {k: list(v) for k, v in metrics.items()})
    return SolveResult(np.zeros(2), 10 * n, "tol", 1.0, 0.0, history)


def test_convergence_leaves_out_a_panel_with_nothing_to_draw() -> None:
    # the lifted solver on a single layer: the constraint holds by construction (residual 0)
    lifted = _result(objective=[3.0, 2.0, 1.5, 1.4], residual=[0.0, 0.0, 0.0, 0.0],
                     optimality=[1e-1, 1e-3, 1e-5, 1e-7])
    fig = fg.convergence(lifted, None)
    assert _titles(fig) == ["objective: (F − min F) / |min F|", "optimality measure"]
    nan = _result(objective=[3.0, 2.0, 1.0], residual=[math.nan] * 3)
    assert _titles(fg.convergence(nan, None)) == ["objective: (F − min F) / |min F|"]
    # a baseline (lbfgs) brings its own measure; pdhg's residual is drawn
    pdhg = _result(objective=[3.0, 2.0, 1.0], residual=[1e-1, 1e-2, 1e-3])
    lbfgs = _result(objective=[5.0, 4.0, 3.9], gradient=[1.0, 0.1, 0.01])
    assert _titles(fg.convergence(pdhg, lbfgs)) == [
        "objective: (F − min F) / |min F|", "residual", "stationarity (relative to the start)"]
    assert fg.convergence(_result(objective=[math.nan] * 2), None) is None
    assert all(ax.get_lines() for ax in fg.convergence(pdhg, lbfgs).axes)


def test_the_lifted_solvers_convergence_png_has_no_empty_panel(write_spec, tmp_path: Path,
                                                               drawn: list[Any]) -> None:
    spec = write_spec(TINY_INVERT.replace("pdhg(max_iter = 40)", "lifted(max_iter = 60)"))
    _solve(spec, tmp_path / "o")
    fig = next(f for f in drawn if "iteration" in f.axes[0].get_xlabel())
    assert fig.axes and all(ax.get_lines() for ax in fig.axes)


# --- compare-NET.png -------------------------------------------------------------------------

def _three_tasks() -> str:
    """Bregman (with a baseline) and quadratic on the same data; quadratic on other data."""
    return (TINY_INVERT.replace("solver", "baseline = true\n    solver")
            + TASK.replace("regulariser", "fidelity = l2\n    regulariser")
                  .replace("pdhg(max_iter = 40)", "lbfgs(max_iter = 40)")
            + TASK.replace("seed = 3", "seed = 4"))


def test_one_figure_compares_the_tasks_that_invert_the_same_data(standins, write_spec,
                                                                 tmp_path: Path) -> None:
    program, results = _solve(write_spec(_three_tasks()), tmp_path / "o")
    made = compare.comparisons(program.tasks, results)
    assert [(c.name, c.tasks) for c in made] == [
        ("compare-tiny.png", [results[0].label, results[1].label])]
    titles = _titles(made[0].figure)
    first, second = (_report(tmp_path / "o" / f) for f in ("invert-tiny", "invert-tiny-2"))
    one, two = _line(results, 0), _line(results, 1)
    assert titles[:4] == [
        "truth u†",
        f"Bregman–TV ({one})\n{first['psnr']:.2f} dB / SSIM {first['ssim']:.3f}",
        f"quadratic–TV (baseline, {one})\n{first['baseline']['psnr']:.2f} dB / "
        f"SSIM {first['baseline']['ssim']:.3f}",
        f"quadratic–TV ({two})\n{second['psnr']:.2f} dB / SSIM {second['ssim']:.3f}"]
    assert titles.count("error |u − u†|") == 3 and _colour_bars(made[0].figure) == 2
    lines: list[str] = []
    console = plain_console(soft_wrap=True)
    console.print = lambda text, **_: lines.append(text)  # type: ignore[method-assign]
    written = compare.write_comparisons(program.tasks, results, console, console)
    assert written == [tmp_path / "o" / "compare-tiny.png"]
    assert written[0].read_bytes().startswith(PNG)
    assert lines == [f"wrote {written[0]} (2 tasks compared)"]


def test_comparison_uses_the_results_arrays_not_the_files(standins, write_spec,
                                                          tmp_path: Path) -> None:
    """As after a Dask run, where the results come back with their arrays: the task folders
    are not read again."""
    program, results = _solve(write_spec(_three_tasks()), tmp_path / "o")
    for folder in ("invert-tiny", "invert-tiny-2", "invert-tiny-3"):
        for file in (tmp_path / "o" / folder).iterdir():
            file.unlink()
    written = compare.write_comparisons(program.tasks, results, plain_console(),
                                        plain_console())
    assert [p.name for p in written] == ["compare-tiny.png"]


def test_no_comparison_for_a_single_task_or_figures_false(standins, write_spec,
                                                          tmp_path: Path) -> None:
    program, results = _solve(write_spec(TINY_INVERT.replace("solver", "baseline = true\n"
                                                             "    solver")), tmp_path / "a")
    assert compare.comparisons(program.tasks, results) == []
    off = _three_tasks().replace("fidelity = l2", "fidelity = l2\n    figures = false")
    program, results = _solve(write_spec(off, name="off.lbn"), tmp_path / "b")
    assert compare.comparisons(program.tasks, results) == []


def test_a_link_planted_at_the_comparison_is_refused_and_nothing_written_through_it(
        standins, write_spec, tmp_path: Path) -> None:
    out = tmp_path / "o"
    program, results = _solve(write_spec(_three_tasks()), out)
    # the run itself wrote the comparison (pipeline.solve), atomically
    assert (out / "compare-tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "compare-tiny.png").unlink()
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"mine")
    os.symlink(outside, out / "compare-tiny.png")
    said: list[str] = []
    errors = plain_console(stderr=True)
    errors.print = lambda text, **_: said.append(text)  # type: ignore[method-assign]
    assert compare.write_comparisons(program.tasks, results, plain_console(), errors) == []
    assert outside.read_bytes() == b"mine" and (out / "compare-tiny.png").is_symlink()
    assert len(said) == 1 and said[0].startswith("error: comparison figure: refusing to write")


# --- compare-train-NET.png and the training time per epoch ------------------------------------

def test_train_tasks_on_the_same_validation_set_are_compared_per_epoch_and_time(
        write_spec, tmp_path: Path) -> None:
    task = TINY_AE[TINY_AE.index("train ae"):]
    backprop = (task.replace("penalty", "loss = mse\n    penalty")
                .replace("implicit_sgd(epochs = 2, batch = 8, inner = 2)",
                         "adam(lr = 0.01, epochs = 2, batch = 8)"))
    program, results = _solve(write_spec(TINY_AE + backprop), tmp_path / "o")
    reports = [_report(tmp_path / "o" / f) for f in ("train-ae", "train-ae-2")]
    for rep in reports:
        times = rep["epoch_time_s"]
        assert len(times) == len(rep["history"]["epoch"]) == 3
        assert all(t is not None for t in times) and times == sorted(times) and times[0] >= 0
        assert times[-1] <= rep["time_s_total"]
    made = compare.comparisons(program.tasks, results)
    assert [c.name for c in made] == ["compare-train-ae.png"]
    fig = made[0].figure
    assert _titles(fig) == ["validation PSNR against epoch",
                            "validation PSNR against training time"]
    by_epoch, by_time = fig.axes
    labels = [t.get_text() for t in by_epoch.get_legend().get_texts()]
    assert labels == [f"lifted implicit_sgd ({_line(results, 0)})",
                      f"backprop adam ({_line(results, 1)})"]
    for line, rep in zip(by_epoch.get_lines(), reports):
        assert list(line.get_ydata()) == rep["history"]["validation_psnr"]
    for line, rep in zip(by_time.get_lines(), reports):
        assert list(line.get_xdata()) == rep["epoch_time_s"]
    compare.write_comparisons(program.tasks, results, plain_console(), plain_console())
    assert (tmp_path / "o" / "compare-train-ae.png").read_bytes().startswith(PNG)


def test_the_comparison_labels_say_how_the_training_data_differ() -> None:
    curves = [tf.Curve("lifted implicit_sgd", [0, 1], [10.0, 12.0], None),
              tf.Curve("backprop sgd", [0, 1], [9.0, None], None)]
    fig = tf.comparison(curves, "t")
    assert _titles(fig) == ["validation PSNR against epoch"]   # no times: no time panel
    assert list(fig.axes[0].get_lines()[1].get_xdata()) == [0.0]
    assert tf.comparison([tf.Curve("x", [], [], None)], "t") is None


def test_the_epoch_times_survive_a_resume(write_spec, tmp_path: Path) -> None:
    from lbdsl.tasks.train import checkpoint as ck

    spec = write_spec(TINY_AE)
    out = tmp_path / "o"
    assert main(["solve", str(spec), "--out", str(out), "--set",
                 "optimizer=implicit_sgd(epochs = 1, batch = 8, inner = 2)"]) == 0
    _, _, _, times = ck.read_with_times(out / "train-ae" / ck.FILE)
    first = _report(out / "train-ae")["epoch_time_s"]
    assert [times[0], times[1]] == first and sorted(times) == [0, 1]
    assert main(["solve", str(spec), "--out", str(out), "--resume"]) == 0
    rep = _report(out / "train-ae")
    assert rep["history"]["epoch"] == [0, 1, 2] and rep["epoch_time_s"][:2] == first
    assert rep["epoch_time_s"][2] > first[1]


def test_a_dask_run_compares_the_results_its_workers_sent_back(write_spec,
                                                               tmp_path: Path) -> None:
    """The tasks solved on Dask workers (real solvers: a worker does not see this process's
    stand-ins): the comparison equals the serial run's, made from the results' arrays."""
    pytest.importorskip("dask.distributed")
    from lbdsl.distributed import DaskExecutor, cluster

    spec = write_spec(_three_tasks())
    program, serial = _solve(spec, tmp_path / "serial")
    with cluster(workers=2) as client:
        results = solve(program, out=tmp_path / "dask", executor=DaskExecutor(client))
    assert all(r.arrays and r.path.parent == tmp_path / "dask" for r in results)
    here, there = (compare.comparisons(program.tasks, rs) for rs in (serial, results))
    assert [c.name for c in there] == ["compare-tiny.png"]
    assert _titles(there[0].figure) == _titles(here[0].figure)
    written = compare.write_comparisons(program.tasks, results, plain_console(),
                                        plain_console())
    assert written == [tmp_path / "dask" / "compare-tiny.png"]


def test_a_comparison_shows_at_most_eight_tasks_and_names_the_rest(monkeypatch):
    from lbdsl.tasks import compare as cmp

    class R:      # the fields _invert_figure reads
        def __init__(self, line):
            self.line, self.label, self.network = line, f"invert p (line {line})", "p"
            self.report = {"fidelity": "bregman", "psnr": 20.0, "ssim": 0.5}
            self.arrays = {"u": np.zeros((4, 4)), "f": np.zeros(8), "truth": np.ones((4, 4))}

    seen = {}

    def fake(truth, f, shown, shape, title):
        seen.update(panels=len(shown), title=title)
        return "figure"
    monkeypatch.setattr("lbdsl.tasks.invert.figures.reconstruction", fake)
    assert cmp._invert_figure([R(k) for k in range(1, 13)]) == "figure"
    assert seen["panels"] == cmp.MAX_COMPARED == 8
    assert "12 tasks" in seen["title"] and "line 9, line 10, line 11, line 12" in seen["title"]
