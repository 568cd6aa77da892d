"""examples/seed_weights.py: the weights of seed experiments 2 and 3, written where the specs
look, with the declared shapes and names, and fits good enough to invert.

The script runs once with ``--quick`` (400 Adam steps for seed 3) into a temporary repository
layout (``specs/`` beside ``lbdsl-out/seed-weights/``), so the shipped specs load the files
through lbdsl's own IR exactly as they will after ``python examples/seed_weights.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lbdsl import pipeline
from lbdsl.cli import main as lbdsl_main
from example_helpers import load_example
from reference_forward import forward

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

#: Seed 2: piecewise-linear interpolation with knot spacing h = 0.06 errs by up to
#: h²·max|K''|/8 on a cell; K'' ≈ 22.5 at u = 1.5 gives ≈ 0.010 on the last cell [1.44, 1.5],
#: which least squares about halves (measured 5.9e-3).  The fit does not depend on --quick.
SHALLOW_TOL = 0.01
#: Seed 3 after the --quick 400 Adam steps: measured 1.1e-2 (1.0e-2 … 1.2e-2 over seeds 0-3);
#: 3x that leaves room for rounding differences between platforms and is still 30 times below
#: the error of an untrained (near-identity, |u³| ≤ 1) or collapsed network.  The full fit
#: (5000 steps) reaches 7.8e-4.
RESIDUAL_QUICK_TOL = 0.03


sw = load_example("seed_weights", register=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary repository: both seed specs in specs/, their weights (``--quick``) in
    lbdsl-out/seed-weights/, at the relative path the specs load from."""
    root = tmp_path_factory.mktemp("repo")
    (root / "specs").mkdir()
    for name in ("seed2_shallow.lbn", "seed3_residual.lbn"):
        shutil.copy(SPECS / name, root / "specs" / name)
    assert sw.main(["--out", str(root / "lbdsl-out" / "seed-weights"), "--quick"]) == 0
    return root


def _weights(repo: Path, name: str, folder: str = "lbdsl-out/seed-weights",
             ) -> dict[str, np.ndarray]:
    with np.load(repo / folder / name, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# --- files -----------------------------------------------------------------------------------

def test_default_folder_is_where_the_specs_load_from():
    for spec, file in (("seed2_shallow.lbn", sw.SHALLOW_FILE),
                       ("seed3_residual.lbn", sw.RESIDUAL_FILE)):
        paths = set(re.findall(r'load\("([^"]+)"', (SPECS / spec).read_text(encoding="utf-8")))
        assert len(paths) == 1
        assert (SPECS / paths.pop()).resolve() == (sw.DEFAULT_OUT / file).resolve()


def test_files_hold_exactly_the_declared_arrays(repo):
    shallow = _weights(repo, sw.SHALLOW_FILE)
    assert list(shallow) == ["c"] and shallow["c"].shape == (1, 25)
    residual = _weights(repo, sw.RESIDUAL_FILE)
    expected = {f"W_{k}": (16, 1) for k in range(1, 21)} | {f"b_{k}": (16,) for k in range(1, 21)}
    assert {k: v.shape for k, v in residual.items()} == expected
    for arrays in (shallow, residual):
        assert all(v.dtype == np.float64 and np.isfinite(v).all() for v in arrays.values())
    leftovers = [p.name for p in (repo / "lbdsl-out" / "seed-weights").iterdir()]
    assert sorted(leftovers) == [sw.SHALLOW_FILE, sw.RESIDUAL_FILE]  # no temporary files


def test_script_reports_the_fits(repo, capsys, tmp_path):
    assert sw.main(["--out", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.count("max error") == 2 and "400 Adam steps" in out
    for name in (sw.SHALLOW_FILE, sw.RESIDUAL_FILE):  # deterministic: the same arrays again
        new, old = _weights(tmp_path, name, folder="."), _weights(repo, name)
        assert list(new) == list(old)
        assert all(np.array_equal(new[k], old[k]) for k in new)


# --- seed 2 ----------------------------------------------------------------------------------

def test_shallow_target_is_the_seeds_and_increasing():
    u = np.linspace(0, 1.5, 3001)
    k = sw.shallow_target(u)
    assert k[0] == 0 and k[-1] == pytest.approx(1.5)
    assert sw.shallow_target(np.array([0.75]))[0] == pytest.approx(0.75 * 0.5**2.25)
    assert np.all(np.diff(k) > 0)


def test_shallow_network_is_increasing_and_fits(repo):
    c = _weights(repo, sw.SHALLOW_FILE)["c"]
    slopes = np.cumsum(c.ravel())             # slope of N on [t_k, t_{k+1}]
    assert slopes.min() >= sw.SHALLOW_S_MIN - 1e-12
    u = np.linspace(0, 1.5, 1501)
    n = sw.shallow_forward(c, u)
    assert np.all(np.diff(n) > 0)
    assert np.max(np.abs(n - sw.shallow_target(u))) < SHALLOW_TOL


def test_shallow_spec_computes_the_scripts_network(repo):
    program = pipeline.load(repo / "specs" / "seed2_shallow.lbn")
    net = program.networks["shallow"]
    np.testing.assert_allclose(net.params["b"].value, -sw.shallow_knots(), atol=1e-15)
    u = np.linspace(0, 1.5, 100)                   # the spec's truth grid
    n = forward(net, u[:, None])[net.output][:, 0]
    c = _weights(repo, sw.SHALLOW_FILE)["c"]
    np.testing.assert_allclose(n, sw.shallow_forward(c, u), rtol=1e-13, atol=1e-14)
    assert np.max(np.abs(n - sw.shallow_target(u))) < SHALLOW_TOL


# --- seed 3 ----------------------------------------------------------------------------------

def test_backpropagation_matches_finite_differences():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.2, (sw.RESIDUAL_LAYERS, sw.RESIDUAL_WIDTH))
    b = rng.normal(0, 0.2, w.shape)
    u = np.linspace(-1, 1, 31)
    target = sw.residual_target(u)
    _, grad_w, grad_b = sw.residual_loss_and_grad(w, b, u, target)
    eps = 1e-6
    for arr, grad in ((w, grad_w), (b, grad_b)):
        for index in [(0, 0), (7, 3), (19, 15), (12, 9)]:
            old = arr[index]
            arr[index] = old + eps
            up = sw.residual_loss_and_grad(w, b, u, target)[0]
            arr[index] = old - eps
            down = sw.residual_loss_and_grad(w, b, u, target)[0]
            arr[index] = old
            assert (up - down) / (2 * eps) == pytest.approx(grad[index], rel=1e-5, abs=1e-9)


@pytest.fixture(scope="module")
def residual_net(repo):
    return pipeline.load(repo / "specs" / "seed3_residual.lbn").networks["residual"]


def test_residual_spec_gives_each_layer_its_own_weights(repo, residual_net):
    stored = _weights(repo, sw.RESIDUAL_FILE)
    assert len(residual_net.params) == 40
    for name, param in residual_net.params.items():
        np.testing.assert_array_equal(param.value, stored[name])
    assert not np.array_equal(stored["W_1"], stored["W_2"])


def test_residual_network_approximates_the_target_and_is_monotone(repo, residual_net):
    for n in (201, 50, 2001):                     # the fit's grid, the spec's, a finer one
        u = np.linspace(-1, 1, n)
        out = forward(residual_net, u[:, None])[residual_net.output][:, 0]
        assert np.max(np.abs(out - sw.residual_target(u))) < RESIDUAL_QUICK_TOL
        # every layer has slope ≥ 1, so N(v) − N(u) ≥ v − u
        assert np.all(np.diff(out) >= np.diff(u) * (1 - 1e-9))
    stored = _weights(repo, sw.RESIDUAL_FILE)
    w = np.stack([stored[f"W_{k}"][:, 0] for k in range(1, 21)])
    b = np.stack([stored[f"b_{k}"] for k in range(1, 21)])
    np.testing.assert_allclose(sw.residual_forward(w, b, u)[0][-1], out, rtol=1e-13,
                               atol=1e-13)


def test_quick_fit_is_deterministic_and_learns():
    w1, b1, losses = sw.fit_residual(sw.QUICK)
    w2, b2, _ = sw.fit_residual(sw.QUICK)
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert len(losses) == sw.QUICK.steps + 1
    assert losses[-1] < 1e-3 * losses[0]


def test_check_certifies_the_tied_residual_chain(residual_net, repo, capsys):
    assert lbdsl_main(["check", str(repo / "specs" / "seed3_residual.lbn")]) == 0
    out = capsys.readouterr().out
    assert "network residual: certified convex" in out and "tied residual chain" in out
