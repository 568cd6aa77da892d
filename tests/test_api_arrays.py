"""Arrays in and out of the Python API (#28): ``data = given`` / ``truth = given`` take the
arrays passed to ``spec.solve(...)``, ``spec.invert(f, ...)`` writes the task itself, results
carry their figures, and ``verbose=False`` prints nothing.  The reference for every array path
is the same solve through files (``load(...)``): it must give the same numbers bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import LbdslError
from lbdsl.tasks.data import image

NET = """network p {
    input  u : 8x8
    param  W : 96x64 = normal(std = 1, seed = 0)
    param  b : 96    = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}
"""


def _task(truth: str, data: str) -> str:
    return NET + f"""invert p {{
    truth       = {truth}
    data        = {data}
    regulariser = 0.05 * tv
    solver      = pdhg(max_iter = 3000, tol = 1e-8)
}}
"""


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    u = image("shepp_logan", (8, 8))
    f = lbdsl.loads(NET).forward(u) + 0.01 * np.random.default_rng(4).standard_normal(96)
    return u, f


def test_given_arrays_solve_exactly_as_the_same_arrays_loaded_from_files(arrays, tmp_path,
                                                                          monkeypatch):
    u, f = arrays
    [given] = lbdsl.loads(_task("given", "given")).solve(verbose=False, data=f, truth=u)
    np.save(tmp_path / "f.npy", f)
    np.save(tmp_path / "u.npy", u)
    monkeypatch.chdir(tmp_path)           # a spec from text loads relative to the cwd
    [loaded] = lbdsl.loads(_task('load("u.npy")', 'load("f.npy")')).solve(verbose=False)
    assert given.status == loaded.status == "ok"
    np.testing.assert_array_equal(given.u, loaded.u)
    np.testing.assert_array_equal(given.arrays["f_solver"], loaded.arrays["f_solver"])
    assert given.report["psnr"] == loaded.report["psnr"]


def test_a_given_truth_feeds_forward_truth_like_a_spec_image(arrays):
    u, _ = arrays
    noisy = "forward(truth) + gaussian(sigma = 0.01, seed = 2)"
    [given] = lbdsl.loads(_task("given", noisy)).solve(verbose=False, truth=u)
    [spec] = lbdsl.loads(_task('image("shepp_logan", size = 8x8)', noisy)).solve(verbose=False)
    np.testing.assert_array_equal(given.u, spec.u)
    np.testing.assert_array_equal(given.arrays["f"], spec.arrays["f"])


def test_spec_invert_writes_the_task_and_runs_only_it(arrays):
    u, f = arrays
    spec = lbdsl.loads(_task('image("camera", size = 8x8)', "forward(truth)"))
    result = spec.invert(f, truth=u, regulariser="0.05 * tv",
                         solver="pdhg(max_iter = 3000, tol = 1e-8)")
    [reference] = lbdsl.loads(_task("given", "given")).solve(verbose=False, data=f, truth=u)
    np.testing.assert_array_equal(result.u, reference.u)
    assert result.path is None and "reconstruction.png" in result.figures
    assert result.report["settings"]["written"]["data"] == "given"
    assert spec.invert(f, alpha=0.05).u.shape == (8, 8)      # no truth: no PSNR, still a u


@pytest.mark.parametrize("value", ["tv }", "tv\n", "", object()])
def test_spec_invert_refuses_values_that_are_not_one_setting(arrays, value):
    with pytest.raises(LbdslError, match="`regulariser` must be"):
        lbdsl.loads(NET).invert(arrays[1], regulariser=value)


def test_given_arrays_are_checked(arrays):
    u, f = arrays
    text = _task("given", "given")
    [missing] = lbdsl.loads(text).solve(verbose=False, data=f)
    assert missing.status == "spec_error" and "`truth = given` takes an array" in missing.error
    [shape] = lbdsl.loads(text).solve(verbose=False, data=f[:90], truth=u)
    assert shape.status == "spec_error" and "the given data has shape 90" in shape.error
    [nan] = lbdsl.loads(text).solve(verbose=False, data=np.full(96, np.nan), truth=u)
    assert nan.status == "failed" and "the data passed as `data`" in nan.error
    [text_data] = lbdsl.loads(text).solve(verbose=False, data=np.array(["a"] * 96), truth=u)
    assert text_data.status == "failed" and "not real numbers" in text_data.error


def test_arrays_with_a_dask_client_are_refused(arrays):
    with pytest.raises(LbdslError, match="stay in this process"):
        lbdsl.loads(_task("given", "given")).solve(data=arrays[1], truth=arrays[0],
                                                   client=object())


def test_in_memory_results_keep_their_figures_and_show_them(arrays):
    u, f = arrays
    [result] = lbdsl.loads(_task("given", "given")).solve(verbose=False, data=f, truth=u)
    assert result.path is None
    assert result.figures["reconstruction.png"][:8] == b"\x89PNG\r\n\x1a\n"
    html = result._repr_html_()
    assert f"{result.report['psnr']:.2f} dB" in html and "data:image/png;base64," in html
    assert str(result.report["psnr"]) not in html          # rounded, with its unit


def test_quiet_is_quiet_where_rich_thinks_it_is_in_jupyter(arrays, monkeypatch, capsys):
    """rich displays through IPython whatever a console's file when it detects Jupyter; the
    quiet console must not (the detection and IPython's display are faked)."""
    import sys
    import types

    import rich.console

    shown: list[object] = []
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    ipython = types.ModuleType("IPython")      # what rich imports to display, recorded
    display = types.ModuleType("IPython.display")
    display.display = lambda *a, **k: shown.append(a)      # type: ignore[attr-defined]
    ipython.display = display                               # type: ignore[attr-defined]
    ipython.version_info = (9, 0)     # matplotlib asks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    u, f = arrays
    lbdsl.loads(_task("given", "given")).solve(verbose=False, data=f, truth=u)
    lbdsl.loads(NET).invert(f, alpha=0.05)
    out = capsys.readouterr()
    assert shown == [] and out.out == "" and out.err == ""


@pytest.mark.parametrize("settings, says", [
    ({"regulariser": "0.05 * tv; fidelity = l2"}, "one line of spec text"),
    ({"regulariser": "0.05 * tv  fidelity = l2"}, "wrote more than one setting"),
    ({"fidelity = l2\n    alpha": 0.5}, "is not a setting of an invert task"),
    ({"nonsense": 1}, "is not a setting of an invert task"),
])
def test_spec_invert_writes_exactly_the_settings_it_is_given(arrays, settings, says):
    with pytest.raises(LbdslError, match=re.escape(says)):
        lbdsl.loads(NET).invert(arrays[1], **settings)


def test_an_array_no_task_takes_is_refused_not_ignored(arrays):
    spec = lbdsl.loads(_task('image("shepp_logan", size = 8x8)', "forward(truth)"))
    with pytest.raises(LbdslError, match="no task of the spec takes it"):
        spec.solve(verbose=False, data=arrays[1])


@pytest.mark.parametrize("threads", [0, -1, 2.5, "2", True, 10**6])
def test_threads_must_be_a_sensible_count(arrays, threads):
    with pytest.raises(LbdslError, match="threads must be an integer"):
        lbdsl.loads(NET).solve(verbose=False, threads=threads)


def test_invert_finds_a_spec_loaded_by_a_relative_path_after_a_chdir(arrays, tmp_path,
                                                                    monkeypatch):
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "W.npy", np.random.default_rng(0).standard_normal((96, 64)))
    (tmp_path / "sub" / "net.lbn").write_text(NET.replace("normal(std = 1, seed = 0)",
                                                          'load("W.npy")'))
    monkeypatch.chdir(tmp_path)
    spec = lbdsl.load("sub/net.lbn")
    monkeypatch.chdir("/")
    assert spec.invert(arrays[1], alpha=0.05).ok


def test_array_likes_are_read_and_other_objects_refused_in_one_line(arrays):
    pd = pytest.importorskip("pandas")
    u, f = arrays
    text = _task("given", "given")
    [series] = lbdsl.loads(text).solve(verbose=False, data=pd.Series(f), truth=u)
    [plain] = lbdsl.loads(text).solve(verbose=False, data=f, truth=u)
    np.testing.assert_array_equal(series.u, plain.u)
    [ragged] = lbdsl.loads(text).solve(verbose=False, data=[[1.0, 2.0], [3.0]], truth=u)
    assert ragged.status == "failed" and "is not an array of numbers" in ragged.error


def test_a_diverging_in_memory_solve_is_one_line_about_no_deleted_folder():
    """pdhg without a regulariser on a 1-unknown problem diverges: its figures once made
    matplotlib's log ticks overflow (a traceback), and the message named the temporary
    folder the in-memory solve had already removed."""
    spec = lbdsl.loads("network net { input u : 1  param W : 40x1 = normal(std = 1, seed = 0)"
                       "  param b : 40 = normal(std = 1, seed = 1)  h = relu(W @ u + b)"
                       "  output h }")
    result = spec.invert(spec.forward(np.array([0.5])), regulariser=None)
    assert result.status == "failed" and "diverged" in result.error
    assert "/tmp" not in result.error and "lbdsl-" not in result.error
    assert "reconstruction.png" in result.figures
