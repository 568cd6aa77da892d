"""Tasks as futures on Dask (``--workers``, ``--scheduler``, ``spec.solve(client=...)``): the
same folders and the same arrays as the serial run, bit for bit — also when every worker is
killed mid-run, and on a real ``dask scheduler`` + ``dask worker`` pair on localhost.  The
fourth task is a batch of 16 right-hand sides in groups of ``chunk = 5``, the groups futures of
their own; the fifth a sweep without warm starts, its points futures; the sixth a small
lifted training with ``shards = 2`` (data-parallel: within 1e-10 of the serial run, not bit for
bit — the order of its sums differs)."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import lbdsl
from lbdsl.cli import main
from lbdsl.distributed import cluster
from lbdsl.errors import LbdslError
from spec_helpers import TINY_NET

distributed = pytest.importorskip("dask.distributed")

NET = TINY_NET + """network ae {
    input  u : 8x8
    h = relu(dense(u, 16))
    y = dense(h, 64)
    output y
}
"""
TASKS = """
invert tiny {
    truth = image("shepp_logan", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 400)
    figures = false
}
invert tiny {
    truth = image("camera", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 4)
    regulariser = 0.02 * tv + nonneg
    fidelity = l2
    solver = lbfgs(max_iter = MAXITER)
    figures = false
}
invert tiny {
    truth = image("shepp_logan", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 5)
    regulariser = tv
    alpha = sweep(1e-3, 1, n = 4, delta = auto)
    figures = false
}
invert tiny {
    truth = load("batch.npy")
    data = forward(truth) + gaussian(sigma = 0.05, seed = 6)
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = MAXITER)
    chunk = 5
    figures = false
}
invert tiny {
    truth = image("camera", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 8)
    regulariser = tv
    alpha = sweep(1e-3, 1, n = 4, delta = auto)
    solver = pdhg(max_iter = MAXITER, warm_start = false)
    figures = false
}
train ae {
    data      = digits(n = 60, noise = 0.1, seed = 0)
    loss      = bregman
    optimizer = implicit_sgd(epochs = 3, batch = 20, inner = 2)
    shards    = 2
    figures   = false
}
"""
FOLDERS = ("invert-tiny", "invert-tiny-2", "invert-tiny-3", "invert-tiny-4", "invert-tiny-5",
           "train-ae")
TIMING = ("time_s", "time_s_total", "seconds")


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    file = "weights.npz" if folder.name.startswith("train-") else "result.npz"
    with np.load(folder / file) as npz:
        return {k: np.array(npz[k]) for k in npz.files}


def _same_as_serial(serial: Path, other: Path) -> None:
    for name in FOLDERS:
        a, b = _arrays(serial / name), _arrays(other / name)
        assert a.keys() == b.keys()
        sharded = name.startswith("train-")     # data-parallel: the serial run to rounding
        for key in a:
            if sharded:
                np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-10)
            else:
                assert np.array_equal(a[key], b[key]), (name, key)
        ra, rb = (json.loads((d / name / "report.json").read_text()) for d in (serial, other))
        if sharded:                          # the trained weights above, the history here
            assert ra["epochs"] == rb["epochs"] and ra["history"].keys() == rb["history"].keys()
            for key, values in ra["history"].items():
                np.testing.assert_allclose(rb["history"][key], values, rtol=1e-10, atol=1e-12)
        else:
            assert ra["objective"] == rb["objective"] and ra["iterations"] == rb["iterations"]


def _write_spec(path: Path, max_iter: int) -> Path:
    """The spec and, beside it, the 16 truths of its batch task."""
    rng = np.random.default_rng(7)
    np.save(path.parent / "batch.npy", rng.uniform(0.0, 1.0, (16, 8, 8)))
    path.write_text(NET + TASKS.replace("MAXITER", str(max_iter)))
    return path


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    return _write_spec(tmp_path_factory.mktemp("spec") / "four.lbn", 400)


@pytest.fixture(scope="module")
def serial(spec_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial")
    assert main(["solve", str(spec_file), "--out", str(out)]) == 0
    return out


def test_a_local_cluster_gives_the_serial_folders_bit_for_bit(spec_file, serial, tmp_path,
                                                              capsys):
    capsys.readouterr()
    assert main(["solve", str(spec_file), "--out", str(tmp_path), "--workers", "2"]) == 0
    _same_as_serial(serial, tmp_path)
    out = capsys.readouterr().out      # a line as each future finishes
    assert out.count("of 4: done") == 4 and "/3] invert tiny (line" in out
    assert "data-parallel: 2 shards on the Dask workers" in out
    assert out.count("/4] α = ") == 4
    # the sweep whose points the workers solved counts the time waited for them (it said
    # 0.004 s for a sweep of 0.3 s); a loose bound: the two runs' speeds differ
    times = [json.loads((d / "invert-tiny-5" / "report.json").read_text())["time_s"]
             for d in (serial, tmp_path)]
    assert times[1] >= 0.25 * times[0], times


def test_killing_every_worker_mid_run_still_gives_the_serial_result(tmp_path):
    path = _write_spec(tmp_path / "slow.lbn", 3000)       # long enough to be killed in
    (tmp_path / "serial").mkdir()
    lbdsl.load(path).solve(out=tmp_path / "serial", verbose=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        running: list[str] = []

        def kill_once_a_task_runs() -> None:
            tick = threading.Event()
            for _ in range(600):                  # the scheduler says what each worker runs
                running.extend(k for keys in client.processing().values() for k in keys)
                if running:
                    break
                tick.wait(0.05)
            for pid in pids:
                os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_a_task_runs)
        killer.start()
        results = lbdsl.load(path).solve(out=tmp_path / "dask", verbose=False, client=client)
        killer.join()
        assert running and all(k.startswith(("lbdsl-task-", "lbdsl-group-", "lbdsl-point-",
                                                           "lbdsl-shard-"))
                               for k in running)                         # killed mid-task
        assert set(client.run(os.getpid).values()).isdisjoint(pids)   # new worker processes
    assert [r.status for r in results] == ["ok"] * 6
    _same_as_serial(tmp_path / "serial", tmp_path / "dask")
    assert not list((tmp_path / "dask").rglob("*.tmp*"))     # nothing half-written


def test_a_real_scheduler_and_worker_on_localhost(spec_file, serial, tmp_path, monkeypatch):
    """``dask scheduler`` + ``dask worker`` started by hand, the worker in another directory
    than the caller, which names the spec and ``--out`` relative to its own: the workers are
    given them absolute (else the worker read its own ``four.lbn``, or none, and wrote into
    its directory)."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    if dask is None:
        pytest.skip("the dask command is not installed")
    sched_file = tmp_path / "scheduler.json"
    common = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(sched_file)],
                                 **common)
    worker = None
    try:
        address = None
        for _ in range(300):
            try:
                address = json.loads(sched_file.read_text())["address"]
                break
            except (OSError, ValueError, KeyError):   # not there yet, or half written
                time.sleep(0.1)
        elsewhere = tmp_path / "worker"
        elsewhere.mkdir()
        (elsewhere / spec_file.name).write_text(NET)     # a spec of the same name, no tasks
        worker = subprocess.Popen([dask, "worker", "--scheduler-file", str(sched_file),
                                   "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                  cwd=elsewhere, **common)
        monkeypatch.chdir(spec_file.parent)
        out = f"o-{tmp_path.name}"
        assert main(["solve", spec_file.name, "--out", out, "--scheduler", address]) == 0
        _same_as_serial(serial, spec_file.parent / out)
        report = json.loads((spec_file.parent / out / "invert-tiny" / "report.json").read_text())
        assert report["spec"]["file"] == spec_file.name          # as written, as serially
        # a spec given as text: its `load("batch.npy")` is relative to the caller's directory
        with distributed.Client(address) as client:
            lbdsl.loads(spec_file.read_text()).solve(out=f"{out}-text", verbose=False,
                                                     client=client)
        _same_as_serial(serial, spec_file.parent / f"{out}-text")
        assert sorted(p.name for p in elsewhere.iterdir()) == [spec_file.name]
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


@pytest.mark.parametrize(("options", "says"), [
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--workers", "-1"], "argument --workers: must be at least 1, got -1"),
    (["--workers", "two"], "argument --workers: invalid int value: 'two'"),
    (["--workers", "1", "--scheduler", "tcp://x:1"], "not allowed with argument --workers"),
])
def test_a_mistaken_cluster_option_is_a_usage_error(spec_file, capsys, options, says):
    with pytest.raises(SystemExit) as exit_:
        main(["solve", str(spec_file), *options])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_local_cluster_of_no_workers_is_refused():
    with pytest.raises(LbdslError, match="--workers must be an integer >= 1"), cluster(0):
        pass                                   # (the command line refuses 0 before: above)


def test_a_cluster_that_cannot_be_reached_is_one_line(spec_file, capsys):
    for address in ("tcp://127.0.0.1:9", "notanaddress"):
        assert main(["solve", str(spec_file), "--scheduler", address]) == 1
        err = capsys.readouterr().err
        assert "cannot reach the Dask scheduler" in err and "Traceback" not in err


def test_the_groups_of_a_chunked_batch_are_its_rows_solved_alone(serial, tmp_path):
    """Group k of the chunked task is the same task on its rows' data alone: the same
    reconstruction bit for bit; the merged report sums the groups' objectives and takes the
    most iterations (the serial run; the distributed ones equal it, tests above)."""
    merged = _arrays(serial / "invert-tiny-4")
    report = json.loads((serial / "invert-tiny-4" / "report.json").read_text())
    assert merged["u"].shape == (16, 8, 8)
    objective, iterations = 0.0, 0
    for lo in range(0, 16, 5):
        rows = slice(lo, min(lo + 5, 16))
        np.save(tmp_path / "f.npy", merged["f"][rows])
        (tmp_path / "part.lbn").write_text(NET + """
invert tiny {
    data = load("f.npy")
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 400)
    figures = false
}
""")
        (alone,) = lbdsl.load(tmp_path / "part.lbn").solve(out=tmp_path / f"p{lo}",
                                                            verbose=False)
        assert np.array_equal(alone.arrays["u"].reshape(-1, 8, 8), merged["u"][rows])
        assert np.array_equal(alone.arrays["z"].reshape(-1, 32), merged["z"][rows])
        objective += alone.report["objective"]
        iterations = max(iterations, alone.report["iterations"])
    assert iterations == report["iterations"]
    assert report["objective"] == pytest.approx(objective, rel=1e-12)


def _slow_spec(tmp_path: Path) -> Path:
    """The spec with its first two tasks on PDHG with an unreachable tolerance (L-BFGS may end
    "stalled" at machine precision): they only stop when interrupted (or after an hour)."""
    path = _write_spec(tmp_path / "slow.lbn", 100000)
    slow = "pdhg(max_iter = 10000000, tol = 1e-300)"
    lbfgs = "fidelity = l2\n    solver = lbfgs(max_iter = 100000)"
    path.write_text(path.read_text().replace(lbfgs, f"solver = {slow}")
                    .replace("pdhg(max_iter = 400)", slow))
    return path


def _when_two_run(client, then: Callable[[], None]) -> threading.Thread:  # noqa: ANN001
    """A thread that calls ``then`` once both workers execute a task (and have had 3 s to
    get past loading the spec)."""
    def executing(dask_worker) -> int:  # noqa: ANN001 - Dask passes its worker
        return dask_worker.state.executing_count

    def wait_then() -> None:
        tick = threading.Event()
        for _ in range(1200):
            if sum(client.run(executing).values()) >= 2:
                tick.wait(3.0)
                break
            tick.wait(0.05)
        then()

    thread = threading.Thread(target=wait_then)
    thread.start()
    return thread


def test_a_second_ctrl_c_abandons_the_tasks_without_asyncio_noise(tmp_path, monkeypatch,
                                                                  caplog):
    """The second Ctrl-C cancels the futures while a gather waits on them; Dask's gather then
    leaves one unretrieved ``AllExit`` per future, which asyncio would print with a traceback
    each ("Task exception was never retrieved"): the run ends in a plain KeyboardInterrupt
    (the command line's "interrupted", exit 130) and nothing else."""
    from lbdsl import distributed as lbdsl_distributed

    # the first Ctrl-C does not reach the tasks, so that the second one finds them running
    monkeypatch.setattr(lbdsl_distributed._Stop, "request",
                        lambda self: setattr(self, "requested", True))
    path = _slow_spec(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        def interrupt_twice() -> None:
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(1.0)
            os.kill(os.getpid(), signal.SIGINT)

        killer = _when_two_run(client, interrupt_twice)
        with caplog.at_level(logging.ERROR, logger="asyncio"), \
                pytest.raises(KeyboardInterrupt):
            lbdsl.load(path).solve(out=tmp_path / "o", verbose=False, client=client)
        killer.join()
        gc.collect()                         # the gather's inner tasks, done and let go of
        threading.Event().wait(0.5)
        gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_a_ctrl_c_stops_the_running_workers_and_keeps_the_rest_from_starting(tmp_path):
    """SIGINT to the submitting process while two tasks run on the workers: both stop at their
    next check (the stop event), write their last iterate and a checkpoint that says the run
    was not complete, and come back ``interrupted``; the tasks not started are not run."""
    path = _slow_spec(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        killer = _when_two_run(client, lambda: os.kill(os.getpid(), signal.SIGINT))
        started = time.monotonic()
        results = lbdsl.load(path).solve(out=tmp_path / "dask", verbose=False, client=client)
        killer.join()
        assert time.monotonic() - started < 120             # stopped, not run to the end
    # the four tasks the stop kept from starting say so (and make the exit status 130)
    assert [r.status for r in results] == ["interrupted"] * len(FOLDERS)
    ran, kept = results[:2], results[2:]
    assert [r.path.name for r in ran] == ["invert-tiny", "invert-tiny-2"]
    assert [(r.path, r.report["stop_reason"]) for r in kept] == [(None, "not started")] * 4
    assert not (tmp_path / "dask" / "invert-tiny-3").exists()
    for r in ran:
        assert (r.path / "checkpoint.npz").exists() and 0 < r.report["iterations"] < 10000000
        assert r.report["stop_reason"] == "interrupted"
        assert r.report["checkpoint"]["complete"] is False


def test_with_the_default_blas_threads_a_worker_computes_the_serial_bits(tmp_path):
    """The demo's 512×256 products run on several BLAS threads here; Dask starts its workers
    with one, which changed the rounding (up to 2e-13 in the demo's arrays): every task now
    runs with this process's count (lbdsl/threads.py).  Vacuous with one BLAS thread."""
    from lbdsl.threads import blas_threads

    if (blas_threads() or 1) < 2:
        pytest.skip("BLAS runs on one thread here: nothing to pin")
    assert main(["solve", "--out", str(tmp_path / "serial")]) == 0
    assert main(["solve", "--out", str(tmp_path / "dask"), "--workers", "1"]) == 0
    a, b = (_arrays(tmp_path / run / "invert-perceptron") for run in ("serial", "dask"))
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
