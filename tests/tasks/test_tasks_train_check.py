"""``train`` and ``check`` tasks: every key and value form; the documented defaults."""

from __future__ import annotations

import pytest

from lbdsl.ir.tasks import (
    SGD, Adam, CheckTask, DigitsData, ImplicitSGD, LoadPairs, PenaltyTerms, PenaltyTerm, TrainTask,
    build_task,
)
from task_helpers import FIRST, VARIABLES, task_tree, unspanned

DATA = 'data = digits(n = 100)\n'


def train(extra: str = "", base: str = DATA, variables=VARIABLES) -> TrainTask:
    task = build_task(task_tree(base + extra, "train"), variables)
    assert isinstance(task, TrainTask)
    return task


def check(body: str) -> CheckTask:
    task = build_task(task_tree(body, "check"))
    assert isinstance(task, CheckTask)
    return task


def test_train_defaults():
    t = train()
    assert t.kind == "train" and t.network == "net"
    assert t.validation is None and t.loss == "bregman" and t.penalty == PenaltyTerms()
    assert unspanned(t.optimizer) == ImplicitSGD()
    assert (ImplicitSGD().epochs, ImplicitSGD().batch, ImplicitSGD().tau,
            ImplicitSGD().inner) == (10, 32, 1.0, 10)
    assert (t.save, t.seed, t.dtype, t.figures) == (None, 0, "float64", True)
    assert t.given == {"data"}


def test_mse_defaults_to_adam():
    t = train("loss = mse")
    assert unspanned(t.optimizer) == Adam()
    assert (Adam().lr, Adam().epochs, Adam().batch, Adam().beta1, Adam().beta2,
            Adam().eps) == (1e-3, 10, 32, 0.9, 0.999, 1e-8)
    assert (SGD().lr, SGD().momentum) == (0.01, 0.0)


@pytest.mark.parametrize("text, expected", [
    ("digits", DigitsData()),
    ("digits(n = 1000)", DigitsData(n=1000)),
    ('digits(n = 1000, split = "test", noise = 0.1, seed = 3)',
     DigitsData(n=1000, split="test", noise=0.1, seed=3)),
    ('digits(split = "train", targets = "labels")', DigitsData(targets="labels")),
    ('load("pairs.npz")', LoadPairs(path="pairs.npz")),
    ('load("pairs.npz", inputs = "noisy", targets = "clean")',
     LoadPairs(path="pairs.npz", inputs="noisy", targets="clean")),
    ('load("pairs.npz", "a", "b")', LoadPairs(path="pairs.npz", inputs="a", targets="b")),
])
def test_train_data_forms(text, expected):
    assert unspanned(train(base=f"data = {text}\n").data) == expected
    assert unspanned(train(f"validation = {text}").validation) == expected


def test_digits_defaults():
    d = DigitsData()
    assert (d.n, d.split, d.noise, d.seed, d.targets) == (None, "train", 0.0, None, "images")
    assert (LoadPairs(path="p").inputs, LoadPairs(path="p").targets) == ("X", "Y")


@pytest.mark.parametrize("loss", ["bregman", "mse"])
def test_loss(loss):
    assert train(f"loss = {loss}").loss == loss


@pytest.mark.parametrize("text, terms", [
    ("0.01 * l1(z1)", [("l1", "z1", 0.01)]),
    ("l2sq(z3)", [("l2sq", "z3", 1.0)]),
    ("0.01 * l1(z1) + 1e-3 * l2sq(z1)", [("l1", "z1", 0.01), ("l2sq", "z1", 1e-3)]),
    ("l1(z1) * 0.5", [("l1", "z1", 0.5)]),
    ("none", []),
])
def test_penalty_sums(text, terms):
    p = train(f"penalty = {text}").penalty
    assert [(t.name, t.variable, t.weight) for t in p.terms] == terms


def test_penalty_keeps_variable_spans_and_works_without_variables():
    term = train("penalty = 0.01 * l1(zz)", variables=None).penalty.terms[0]
    assert unspanned(term) == PenaltyTerm(name="l1", variable="zz", weight=0.01)
    assert (term.variable_span.line, term.variable_span.column) == (FIRST + 1, 25)


@pytest.mark.parametrize("text, expected", [
    ("implicit_sgd", ImplicitSGD()),
    ("implicit_sgd(epochs = 5, batch = 64, tau = 0.5, inner = 20)",
     ImplicitSGD(epochs=5, batch=64, tau=0.5, inner=20)),
    ("sgd(lr = 0.1)", SGD(lr=0.1)),
    ("sgd(lr = 0.1, epochs = 3, batch = 8, momentum = 0.9)",
     SGD(lr=0.1, epochs=3, batch=8, momentum=0.9)),
    ("adam(lr = 1e-2, epochs = 100, batch = 1e2)", Adam(lr=1e-2, epochs=100, batch=100)),
    ("adam(beta1 = 0.8, beta2 = 0.99, eps = 1e-6)", Adam(beta1=0.8, beta2=0.99, eps=1e-6)),
])
def test_optimizer_forms(text, expected):
    loss = "loss = mse\n" if not text.startswith("implicit") else ""
    opt = train(f"{loss}optimizer = {text}").optimizer
    assert unspanned(opt) == expected
    assert opt.name == type(expected).name


def test_optimiser_spelling_and_option_spans():
    task = train("loss = mse\noptimiser = adam(lr = 0.5)")
    assert task.optimizer.lr == 0.5 and set(task.optimizer_spans) == {"lr"}


def test_train_shared_settings():
    t = train('save = "runs/dae"\nseed = 7\ndtype = "float32"\nfigures = no')
    assert (t.save, t.seed, t.dtype, t.figures) == ("runs/dae", 7, "float32", False)


def test_check_forms():
    t = check("lambda = 1, rho = 200")
    assert (t.lam, t.rho, t.kind) == (1.0, 200.0, "check")
    assert (t.spans["rho"].line, t.spans["rho"].column) == (FIRST, 23)
    t = check("lambda = 2")
    assert (t.lam, t.rho, t.given) == (2.0, None, {"lambda"})
    t = check("")
    assert (t.lam, t.rho, t.given) == (1.0, None, frozenset())
