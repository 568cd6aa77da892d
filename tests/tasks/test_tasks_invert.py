"""``invert`` tasks: every key and value form builds the typed object; defaults as documented."""

from __future__ import annotations

import pytest

from lbdsl.ir.tasks import (
    DEFAULT_MAX_ITER, DEFAULT_RHO, DEFAULT_TOL, AprioriAlpha, DiscrepancyAlpha, FixedAlpha,
    ForwardData, GaussianNoise, ImageTruth, InvertTask, LinspaceTruth, LoadData, LoadTruth,
    RegulariserTerms, RegTerm, Solver, build_task,
)
from task_helpers import FIRST, task_tree, unspanned

BASE = 'truth = image("shepp_logan", size = 8x8)\ndata = forward(truth)\n'


def invert(extra: str = "", base: str = BASE) -> InvertTask:
    task = build_task(task_tree(base + extra))
    assert isinstance(task, InvertTask)
    return task


def test_defaults_are_the_documented_ones():
    t = invert()
    assert t.network == "net" and t.kind == "invert"
    assert t.fidelity == "bregman"
    assert t.regulariser == RegulariserTerms() and t.regulariser.terms == ()
    assert t.alpha == FixedAlpha(value=1.0)
    assert (t.lam, t.rho) == (1.0, DEFAULT_RHO) == (1.0, 1e3)
    assert t.solver.name == "auto"
    assert (t.solver.max_iter, t.solver.tol) == (DEFAULT_MAX_ITER, DEFAULT_TOL) == (5000, 1e-6)
    assert dict(t.solver.options) == {}
    assert (t.baseline, t.save, t.seed, t.dtype, t.figures) == (False, None, 0, "float64", True)
    assert t.given == {"truth", "data"}


def test_spans_locate_each_setting_and_the_task():
    t = invert("alpha = 0.5")
    assert (t.spans["truth"].line, t.spans["truth"].column) == (FIRST, 13)
    assert (t.spans["alpha"].line, t.spans["alpha"].column) == (FIRST + 2, 13)
    assert t.alpha.span == t.spans["alpha"]
    assert (t.span.line, t.span.column) == (FIRST - 1, 1)
    assert (t.network_span.line, t.network_span.column) == (FIRST - 1, 8)


# --- truth -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('image("shepp_logan", size = 8x8)', ImageTruth(name="shepp_logan", size=(8, 8))),
    ('image("camera", 8x8)', ImageTruth(name="camera", size=(8, 8))),
    ('image(camera, size = 1x8x8)', ImageTruth(name="camera", size=(1, 8, 8))),
    ('image("digit")', ImageTruth(name="digit")),
    ('image("digit", size = 8x8, index = 7)', ImageTruth(name="digit", size=(8, 8), index=7)),
    ('load("u.npy")', LoadTruth(path="u.npy")),
    ('load("u.npz", "u0")', LoadTruth(path="u.npz", key="u0")),
    ('load("u.npz", key = "u0")', LoadTruth(path="u.npz", key="u0")),
    ("linspace(0, 1.5)", LinspaceTruth(start=0.0, stop=1.5)),
    ("linspace(-1, 1, n = 50)", LinspaceTruth(start=-1.0, stop=1.0, n=50)),
    ("linspace(-1, 1, 50)", LinspaceTruth(start=-1.0, stop=1.0, n=50)),
])
def test_truth_forms(text, expected):
    truth = invert(base=f"truth = {text}\ndata = forward(truth)\n").truth
    assert unspanned(truth) == expected


# --- data ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("forward(truth)", ForwardData()),
    ("forward(truth) + gaussian(sigma = 0.01, seed = 3)",
     ForwardData(noise=GaussianNoise(kind="sigma", value=0.01, seed=3))),
    ("forward(truth) + gaussian(relative = 0.05)",
     ForwardData(noise=GaussianNoise(kind="relative", value=0.05))),
    ("gaussian(sigma = 0.1) + forward(truth)",
     ForwardData(noise=GaussianNoise(kind="sigma", value=0.1))),
    ('load("f.npy")', LoadData(path="f.npy")),
    ('load("f.npz", "y")', LoadData(path="f.npz", key="y")),
    ('load("f.npz", "y") + gaussian(sigma = 0.2, seed = 1)',
     LoadData(path="f.npz", key="y", noise=GaussianNoise(kind="sigma", value=0.2, seed=1))),
])
def test_data_forms(text, expected):
    data = invert(base=f'truth = image("camera", size = 8x8)\ndata = {text}\n').data
    assert unspanned(data) == expected


def test_loaded_data_needs_no_truth():
    t = invert(base='data = load("f.npy")\n')
    assert t.truth is None and isinstance(t.data, LoadData)


# --- fidelity, regulariser, alpha, lambda, rho -----------------------------------------------

@pytest.mark.parametrize("name", ["bregman", "l2"])
def test_fidelity(name):
    assert invert(f"fidelity = {name}").fidelity == name


@pytest.mark.parametrize("text, terms", [
    ("0.015 * tv", [("tv", 0.015, {})]),
    ("tv * 0.015", [("tv", 0.015, {})]),
    ("0.01 * tv + nonneg", [("tv", 0.01, {}), ("nonneg", 1.0, {})]),
    ("2 * 0.5 * l1", [("l1", 1.0, {})]),
    ("l2sq", [("l2sq", 1.0, {})]),
    ("1e-3 * l2sq + 0.1 * l1 + box(0, 1)",
     [("l2sq", 1e-3, {}), ("l1", 0.1, {}), ("box", 1.0, {"lo": 0.0, "hi": 1.0})]),
    ("tv + box(lo = -1, hi = 2)", [("tv", 1.0, {}), ("box", 1.0, {"lo": -1.0, "hi": 2.0})]),
    ("none", []),
])
def test_regulariser_sums(text, terms):
    reg = invert(f"regulariser = {text}").regulariser
    assert [(t.name, t.weight, dict(t.args)) for t in reg.terms] == terms


def test_regulariser_helpers_and_spelling():
    reg = invert("regularizer = 0.1 * tv + nonneg").regulariser
    assert [t.name for t in reg.weighted] == ["tv"]
    assert reg.term("nonneg").is_indicator and not reg.term("tv").is_indicator
    assert reg.term("l1") is None
    assert (reg.terms[0].span.line, reg.terms[0].span.column) == (FIRST + 2, 19)


def test_every_registered_regulariser_is_read_by_its_name():
    """The reader knows the regularisers only through the registry: each registered name
    reads, with its parameters (``box``'s from its example), and builds."""
    from lbdsl.prox.regularisers import REGULARISERS, make_regulariser

    written = " + ".join(cls.example or name for name, cls in REGULARISERS.items())
    terms = invert(f"regulariser = {written}").regulariser.terms
    assert [t.name for t in terms] == list(REGULARISERS)
    for term in terms:
        make_regulariser(term.name, **term.args, shape=(8, 8))  # the args fit the constructors


@pytest.mark.parametrize("text, expected", [
    ("0.015", FixedAlpha(value=0.015)),
    ("0", FixedAlpha(value=0.0)),
    ("apriori(delta = 0.05)", AprioriAlpha(delta=0.05)),
    ("apriori(0.05, scale = 2)", AprioriAlpha(delta=0.05, scale=2.0)),
    ("apriori(delta = auto)", AprioriAlpha(delta="auto")),
    ("discrepancy(delta = 0.05)", DiscrepancyAlpha(delta=0.05)),
    ("discrepancy(delta = auto, tau = 1.5, alpha0 = 10, q = 0.7, max_tries = 8)",
     DiscrepancyAlpha(delta="auto", tau=1.5, alpha0=10.0, q=0.7, max_tries=8)),
])
def test_alpha_forms(text, expected):
    base = ('truth = image("camera", size = 8x8)\n'
            "data = forward(truth) + gaussian(sigma = 0.01)\nregulariser = tv\n")
    assert unspanned(invert(f"alpha = {text}", base=base).alpha) == expected


def test_discrepancy_defaults():
    d = DiscrepancyAlpha(delta=1.0)
    assert (d.tau, d.alpha0, d.q, d.max_tries) == (1.1, 1.0, 0.5, 30)


def test_lambda_and_rho():
    t = invert("lambda = 2\nrho = 200")
    assert (t.lam, t.rho) == (2.0, 200.0) and {"lambda", "rho"} <= t.given


# --- solver ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name, max_iter, tol, options", [
    ("pdhg", "pdhg", 5000, 1e-6, {}),
    ("pdhg(max_iter = 5000, tol = 1e-6)", "pdhg", 5000, 1e-6, {}),
    ("pdhg(max_iter = 1e4, tau = 0.1, sigma = 0.2)", "pdhg", 10000, 1e-6,
     {"tau": 0.1, "sigma": 0.2}),
    ("lifted(tol = 1e-8, warm_start = true, check_every = 10)", "lifted", 5000, 1e-8,
     {"warm_start": True, "check_every": 10}),
    ("coordinate(max_iter = 100)", "coordinate", 100, 1e-6, {}),
    ("gradient(lr = 0.01, momentum = 0.9)", "gradient", 5000, 1e-6,
     {"lr": 0.01, "momentum": 0.9}),
    ("auto(max_iter = 7)", "auto", 7, 1e-6, {}),
])
def test_solver_forms(text, name, max_iter, tol, options):
    reg = "regulariser = l2sq\n" if name == "coordinate" else ""
    s = invert(f"{reg}solver = {text}").solver
    assert isinstance(s, Solver)
    assert (s.name, s.max_iter, s.tol, dict(s.options)) == (name, max_iter, tol, options)
    assert set(s.spans) == {k for k in ("max_iter", "tol", *options) if k in text}


# --- the rest --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("l2", True),
                                         ("yes", True), ("off", False), ("1", True)])
def test_baseline(text, value):
    assert invert(f"baseline = {text}").baseline is value


def test_save_seed_dtype_figures():
    t = invert('save = "out/run1"\nseed = 42\ndtype = float32\nfigures = false')
    assert (t.save, t.seed, t.dtype, t.figures) == ("out/run1", 42, "float32", False)
    assert invert('dtype = "float64"').dtype == "float64"


def test_separators_and_order_do_not_matter():
    a = invert("alpha = 0.5; rho = 10, lambda = 3")
    assert (a.alpha.value, a.rho, a.lam) == (0.5, 10.0, 3.0)


def test_tasks_are_frozen():
    t = invert()
    with pytest.raises(AttributeError):
        t.rho = 3  # type: ignore[misc]


def test_reg_term_defaults():
    assert RegTerm(name="tv").weight == 1.0 and dict(RegTerm(name="tv").args) == {}
