"""Data-parallel lifted training (:mod:`lbdsl.training.shards`) in one process: the shards'
reduction takes the serial run's steps, so parameters, states and history agree with the
serial run to rounding (float64, 1e-10 asked; ~1e-15 seen), for feed-forward and residual
networks, implicit SGD and an explicit optimizer; resumed across serial and sharded runs."""

from __future__ import annotations

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import SolveError, SpecError
from lbdsl.training.settings import SGD, Adam, ImplicitSGD
from lbdsl.ops.norm import gram_factor, gram_lambda_max
from lbdsl.training import state_penalty, train
from lbdsl.training.lifted import LiftedTrainer
from lbdsl.training.shards import LocalPool, combine, finish, reduce_tree, split
from test_train_residual import NETS
from train_helpers import build_net

MLP = """network m { input u : 4
  h = relu(dense(u, 7))  g = soft(dense(h, 6), theta = 0.05)
  y = dense(g, 3) output y }"""
CONV = """network c { input u : 6x6
  h = relu(conv2d(u, 2, kernel = 3))
  y = dense(h, 5) output y }"""


def local(k: int):
    return lambda t: LocalPool(k, lambda: LiftedTrainer(t.roles, t.penalties, t.xp, t.dtype))


def _close(a, b, tol: float = 1e-10) -> None:
    for key in a.params:
        np.testing.assert_allclose(a.params[key], b.params[key], rtol=0, atol=tol)
    for key in a.lifted_states:
        np.testing.assert_allclose(a.lifted_states[key], b.lifted_states[key], rtol=0, atol=tol)
    assert a.history.iteration == b.history.iteration
    for key, values in a.history.metrics.items():
        np.testing.assert_allclose(values, b.history.metrics[key], rtol=1e-10, atol=1e-12)


def _data(n: int = 23, shape=(4,)):
    rng = np.random.default_rng(8)
    return rng.random((n, *shape)), rng.standard_normal((n, 3 if shape == (4,) else 5))


@pytest.mark.parametrize("name", ["mlp", "conv", *NETS])
@pytest.mark.parametrize("shards", [1, 3, 7])
def test_sharded_implicit_sgd_is_the_serial_run_to_rounding(name, shards):
    net = build_net({"mlp": MLP, "conv": CONV, **NETS}[name])
    x, y = _data(shape=(6, 6) if name == "conv" else (4,))
    settings = ImplicitSGD(epochs=4, batch=6, tau=1.0, inner=3)
    serial = train(net, x, y, settings, seed=3)
    sharded = train(net, x, y, settings, seed=3, shards=local(shards))
    _close(sharded, serial)
    # the run moved (the comparison is not of two starting points)
    assert serial.history.metrics["objective"][-1] < 0.9 * serial.history.metrics["objective"][0]


@pytest.mark.parametrize("settings", [Adam(epochs=3, batch=5, lr=0.01),
                                      SGD(epochs=3, batch=5, lr=0.05, momentum=0.5)])
def test_sharded_explicit_steps_on_the_lifted_loss_are_the_serial_run(settings):
    net = build_net(NETS["untied"])
    x, y = _data()
    serial = train(net, x, y, settings, seed=1, loss="bregman")
    _close(train(net, x, y, settings, seed=1, loss="bregman", shards=local(4)), serial)


def test_a_state_penalty_is_applied_per_shard_as_serially():
    net = build_net(MLP)
    x, y = _data()
    pens = {"h": state_penalty(l1=0.05)}
    settings = ImplicitSGD(epochs=3, batch=8, inner=2)
    serial = train(net, x, y, settings, seed=2, penalties=pens)
    _close(train(net, x, y, settings, seed=2, penalties=pens, shards=local(2)), serial)


def test_resuming_across_serial_and_sharded_runs():
    net = build_net(NETS["tied"])
    x, y = _data()
    whole = train(net, x, y, ImplicitSGD(epochs=4, batch=6, inner=2), seed=3)
    half = ImplicitSGD(epochs=2, batch=6, inner=2)
    serial_half = train(net, x, y, half, seed=3)
    sharded_half = train(net, x, y, half, seed=3, shards=local(3))
    settings = ImplicitSGD(epochs=4, batch=6, inner=2)
    _close(train(net, x, y, settings, seed=3, resume=serial_half.state, shards=local(2)), whole)
    _close(train(net, x, y, settings, seed=3, resume=sharded_half.state), whole)


def test_stacked_gram_factors_give_the_whole_batchs_lambda_max():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((11, 5))
    parts = [rows[:2], rows[2:9], rows[9:]]           # fewer and more rows than columns
    stacked = np.concatenate([gram_factor(p) for p in parts])
    np.testing.assert_allclose(stacked.T @ stacked, rows.T @ rows, atol=1e-12)
    assert gram_lambda_max(stacked) == pytest.approx(np.linalg.eigvalsh(rows.T @ rows)[-1],
                                                     rel=1e-12)


@pytest.mark.parametrize("k, tree", [(1, "0"), (2, "[0 1]"), (3, "[(0 1) 2]"),
                                     (5, "[((0 1) (2 3)) 4]"), (6, "[((0 1) (2 3)) (4 5)]")])
def test_the_reduction_tree_pairs_neighbours_level_by_level(k, tree):
    nodes: list[str] = []

    def pair(a: str, b: str) -> str:
        nodes.append(f"({a} {b})")
        return nodes[-1]

    def root(a: str, b: str) -> str:
        nodes.append(f"[{a} {b}]")
        return nodes[-1]

    parts = [str(i) for i in range(k)]
    assert reduce_tree(parts, pair, root=root) == tree
    assert len(nodes) == k - 1                         # K − 1 nodes, each of two parts
    assert reduce_tree(parts, pair) == tree.replace("[", "(").replace("]", ")")
    with pytest.raises(ValueError):
        reduce_tree([], pair)


def test_combined_parts_are_the_whole_batchs_gradient_gram_and_trace():
    rng = np.random.default_rng(4)
    rows = {0: rng.standard_normal((13, 4)), 1: rng.standard_normal((13, 9))}
    cuts = [0, 2, 3, 8, 13]                            # parts of 2, 1, 5 and 5 rows
    grads = [{"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)} for _ in cuts[1:]]
    parts = [{"grads": g, "gram": {k: gram_factor(r[a:b]) for k, r in rows.items()},
              "trace": {0: float(a)}, "resid": {1: gram_factor(rows[1][a:b])}}
             for g, a, b in zip(grads, cuts, cuts[1:])]
    whole = finish(reduce_tree([parts[0], None, *parts[1:], None], combine))
    for name in ("W", "b"):
        np.testing.assert_allclose(whole["grads"][name], sum(g[name] for g in grads),
                                   rtol=1e-14)
    for k, r in rows.items():                          # λ_max of the stacked rows' Gram
        assert whole["lam"][k] == pytest.approx(np.linalg.eigvalsh(r.T @ r)[-1], rel=1e-12)
    assert whole["resid_lam"][1] == pytest.approx(np.linalg.eigvalsh(rows[1].T @ rows[1])[-1],
                                              rel=1e-12)
    assert whole["trace"] == {0: float(sum(cuts[:-1]))}
    # a combined factor stays at most d × d, whatever it sums; below that, the stacked factors
    big, small = combine(parts[2], parts[3]), combine(parts[0], parts[1])
    assert big["gram"][0].shape == (4, 4) and big["gram"][1].shape == (9, 9)
    assert small["gram"][1].shape == (3, 9)
    np.testing.assert_array_equal(small["gram"][1], np.concatenate(
        [parts[0]["gram"][1], parts[1]["gram"][1]]))
    assert combine(None, None) is None and finish(None) is None


def test_bad_shard_counts_and_backprop_are_refused():
    with pytest.raises(SolveError, match="1 <= shards <= the 5 training samples"):
        split(5, 6)
    net = build_net(MLP)
    x, y = _data()
    with pytest.raises(SolveError, match="lifted training"):
        train(net, x, y, Adam(epochs=1), loss="mse", shards=local(2))
    task = """network m { input u : 8x8  h = relu(dense(u, 4))  y = dense(h, 64) output y }
train m { data = digits(n = 10) loss = mse optimizer = adam(epochs = 1) shards = 2 }"""
    with pytest.raises(SpecError, match=r"2:82: .*`loss = mse` is backpropagation"):
        lbdsl.loads(task)
    with pytest.raises(SpecError, match="`shards` must be an integer >= 1"):
        lbdsl.loads(task.replace("loss = mse optimizer = adam(epochs = 1) shards = 2",
                                 "shards = 0"))


def test_shards_without_a_cluster_say_they_have_no_effect(tmp_path, capsys):
    """A serial run of a task with ``shards`` trains all samples here (the same steps) and
    says that the setting needs a cluster, instead of ignoring it silently."""
    spec = """network m { input u : 8x8  h = relu(dense(u, 4))  y = dense(h, 64) output y }
train m { data = digits(n = 10) loss = bregman optimizer = implicit_sgd(epochs = 1, batch = 5)
          shards = 2 figures = false }"""
    (result,) = lbdsl.loads(spec).solve(out=tmp_path, verbose=True)
    assert result.status == "ok"
    out = capsys.readouterr().out
    assert "note: shards = 2 splits the samples over Dask workers; without --workers / " \
           "--scheduler (client= in Python) it has no effect" in out
