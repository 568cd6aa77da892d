"""Data-parallel lifted training on Dask (``shards = K`` under ``--workers`` / ``--scheduler``,
``train(..., shards=DaskPool.factory(client, K))``): the shards' samples and states on the
workers, the result within 1e-10 of the serial run (float64) — also when a worker is killed
mid-run — checkpoints and ``--resume`` as serially, and the rows never sent within an epoch."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from lbdsl.cli import main
from lbdsl.training.settings import ImplicitSGD
from lbdsl.training import train

distributed = pytest.importorskip("dask.distributed")
from lbdsl.distributed_shards import DaskPool  # noqa: E402 - needs Dask

SPEC = """
network ae {
    input  u : 8x8
    h = relu(dense(u, 16))
    g = soft(dense(h, 12), theta = 0.02)
    y = dense(g, 64)
    output y
}
train ae {
    data      = digits(n = 90, noise = 0.1, seed = 0)
    loss      = bregman
    optimizer = implicit_sgd(epochs = EPOCHS, batch = 20, inner = 2)
    SHARDS
    figures   = false
}
"""


def _spec(path: Path, epochs: int = 3, shards: str = "shards = 3") -> Path:
    path.write_text(SPEC.replace("EPOCHS", str(epochs)).replace("SHARDS", shards))
    return path


def _weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "train-ae" / "weights.npz") as npz:
        return {k: np.array(npz[k]) for k in npz.files}


def _history(folder: Path) -> dict:
    return json.loads((folder / "train-ae" / "report.json").read_text())["history"]


def _close_to(serial: Path, other: Path) -> None:
    a, b = _weights(serial), _weights(other)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-10)
    ha, hb = _history(serial), _history(other)
    assert ha.keys() == hb.keys() and ha["epoch"] == hb["epoch"]
    for key in ha:
        np.testing.assert_allclose(hb[key], ha[key], rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("shards")
    spec = _spec(where / "ae.lbn")
    assert main(["solve", str(spec), "--out", str(where / "serial")]) == 0
    return spec, where / "serial"


def test_shards_on_a_local_cluster_train_as_the_serial_run(serial, tmp_path, capsys):
    spec, reference = serial
    capsys.readouterr()
    assert main(["solve", str(spec), "--out", str(tmp_path), "--workers", "2"]) == 0
    assert "data-parallel: 3 shards" in capsys.readouterr().out
    _close_to(reference, tmp_path)
    assert (tmp_path / "train-ae" / "checkpoint.npz").exists()
    # more epochs, resumed from the distributed run's checkpoint, serially: = a 5-epoch run
    longer = _spec(tmp_path / "longer.lbn", epochs=5)
    assert main(["solve", str(longer), "--out", str(tmp_path), "--resume"]) == 0
    whole = tmp_path / "whole"
    assert main(["solve", str(_spec(tmp_path / "w.lbn", epochs=5, shards="")), "--out",
                 str(whole)]) == 0
    _close_to(whole, tmp_path)


def test_a_worker_killed_mid_run_is_replaced_and_the_epoch_run_again():
    rng = np.random.default_rng(0)
    from spec_helpers import build_net
    net = build_net("""network m { input u : 6
        h = relu(dense(u, 9))  g = tanh(dense(h, 7))  y = dense(g, 4) output y }""")
    x, y = rng.random((60, 6)), rng.standard_normal((60, 4))
    settings = ImplicitSGD(epochs=4, batch=12, inner=2)
    reference = train(net, x, y, settings, seed=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        pools: list[DaskPool] = []

        def make(trainer):
            pools.append(DaskPool.factory(client, 4)(trainer))
            return pools[-1]

        def kill_after_epoch(k: int, metrics: dict) -> None:
            if k == 1:                              # one worker dies between two rounds
                os.kill(pids[0], signal.SIGKILL)

        got = train(net, x, y, settings, seed=5, shards=make, monitor=kill_after_epoch)
        assert pids[0] not in client.run(os.getpid).values()
    assert got.stop_reason == "max_iter" and got.epochs == 4
    for key in reference.params:
        np.testing.assert_allclose(got.params[key], reference.params[key], rtol=0, atol=1e-10)
    for key in reference.lifted_states:
        np.testing.assert_allclose(got.lifted_states[key], reference.lifted_states[key],
                                   rtol=0, atol=1e-10)
    assert got.history.iteration == reference.history.iteration      # no epoch twice
    # the killed worker's shards (two of four, round robin) were built again, the others not
    opened = pools[0].opened
    assert len(opened) == 2 and opened[0] == [0, 1, 2, 3] and len(opened[1]) == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_killed_inside_a_round_is_replaced_and_the_epoch_run_again(workers):
    """The kill lands inside a shard's state sweep (its 7th ``round``: epoch 1, batch 2 with two
    workers), while the other worker's parts wait in the reduction tree — not between epochs.
    With one worker, the only copy of every shard and of Θ dies with it."""
    rng = np.random.default_rng(2)
    from spec_helpers import build_net
    net = build_net("""network m { input u : 100
        h = relu(dense(u, 60))  y = dense(h, 100) output y }""")   # Θ > 64 kB: scattered
    x = rng.random((48, 100))
    settings = ImplicitSGD(epochs=3, batch=12, inner=2)
    reference = train(net, x, x, settings, seed=7)

    def arm(calls: int) -> None:               # on the worker: die inside the calls-th round
        import os as os_
        import signal as signal_

        from lbdsl.training.shards import Shard
        original, count = Shard.round, [0]

        def round_(self, *args):
            count[0] += 1
            if count[0] == calls:
                os_.kill(os_.getpid(), signal_.SIGKILL)
            return original(self, *args)
        Shard.round = round_

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        victim = sorted(client.scheduler_info()["workers"])[0]   # shards 0 and 2 (round robin)
        client.run(arm, 7, workers=[victim])
        pools: list[DaskPool] = []
        got = train(net, x, x, settings, seed=7,
                    shards=lambda t: pools.append(DaskPool.factory(client, 4)(t)) or pools[-1])
        assert victim not in client.scheduler_info()["workers"]
    assert got.stop_reason == "max_iter" and got.epochs == 3
    for key in reference.params:
        np.testing.assert_allclose(got.params[key], reference.params[key], rtol=0, atol=1e-10)
    for key in reference.lifted_states:
        np.testing.assert_allclose(got.lifted_states[key], reference.lifted_states[key],
                                   rtol=0, atol=1e-10)
    assert got.history.iteration == reference.history.iteration      # no epoch twice
    victims = [0, 2] if workers == 2 else [0, 1, 2, 3]
    assert pools[0].opened == [[0, 1, 2, 3], victims]                 # the victim's shards


def _on_two_workers(net, x, settings, shards: int = 2):
    """``train(net, x, x, ...)`` with ``shards`` shards on a 2-worker ``LocalCluster``: the
    result, the pool's count of what this process sent and received (by call), and the bytes
    the workers sent one another — Dask's counter of what they sent, less what came back here
    (the scheduler gathers that from them too)."""
    def sent_so_far(client) -> int:  # noqa: ANN001
        return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
                   .values())

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        before = sent_so_far(client)
        pools: list[DaskPool] = []
        got = train(net, x, x, settings, seed=0,
                    shards=lambda t: pools.append(DaskPool.factory(client, shards)(t))
                    or pools[-1])
        moved = sent_so_far(client) - before
    sent = pools[0].sent
    return got, sent, moved - sum(v for k, v in sent.items() if k.endswith("(back)"))


def test_a_large_theta_leaves_this_process_once_per_round():
    """Θ over 64 kB is scattered once and Dask copies it to the other shards' workers."""
    rng = np.random.default_rng(3)
    from spec_helpers import build_net
    net = build_net("""network m { input u : 100
        h = relu(dense(u, 60))  y = dense(h, 100) output y }""")
    x = rng.random((40, 100))
    settings = ImplicitSGD(epochs=1, batch=20, inner=1)
    got, sent, between = _on_two_workers(net, x, settings)
    theta = (100 * 60 + 60 + 60 * 100 + 100) * 8
    rounds = 2
    assert rounds * theta <= sent["round"] <= rounds * (theta + 1024)
    # between the workers: Θ to the second shard's worker and a ∇ part to the reducing one
    assert between >= 2 * rounds * theta
    reference = train(net, x, x, settings, seed=0)
    for key in reference.params:
        np.testing.assert_allclose(got.params[key], reference.params[key], rtol=0, atol=1e-10)


def test_what_travels_per_batch_is_theta_and_its_gradient_not_the_rows():
    rng = np.random.default_rng(1)
    from spec_helpers import build_net
    net = build_net("""network m { input u : 30
        h = relu(dense(u, 40))  y = dense(h, 30) output y }""")
    x = rng.random((200, 30))
    settings = ImplicitSGD(epochs=2, batch=50, inner=1)
    _, sent, between = _on_two_workers(net, x, settings)
    theta = (30 * 40 + 40 + 40 * 30 + 30) * 8
    batches = 2 * 4
    # Θ (< 64 kB: inside each task) to both shards per round; one reduced ∇ back (and a few
    # numbers), not one per shard
    assert 2 * batches * theta <= sent["round"] <= 2 * batches * (theta + 1024)
    assert batches * theta <= sent["round (back)"] <= batches * (theta + 1024)
    # the other shard's part (∇ + Gram factors ≤ 25×30, 25×40) went to the reducing worker
    assert between >= batches * theta
    # the rows and states went out once, at the start; came back once per epoch (checkpoint)
    assert sent["open"] < x.nbytes * 2 + 200 * 40 * 8 + 4096
