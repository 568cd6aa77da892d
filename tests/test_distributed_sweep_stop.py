"""Ctrl-C during an ``alpha = sweep(...)`` whose solver has ``warm_start = false``, its points
running as Dask futures (``lbdsl solve --workers 2``): the points that run stop at their next
check, those not started are not run, and the sweep ends as a serial one interrupted at the
same iteration of the same point ends — just after the first interrupted point, with the same
folder bit for bit (no ``alpha_sweep.csv``: the rule never chose).  ``--resume`` then goes on
from that point's solver state and ends with the uninterrupted serial run's ``result.npz``,
``alpha_sweep.csv`` and α, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lbdsl.backend import to_numpy
from lbdsl.cli import main
from lbdsl.solvers.alpha import sweep_grid
from lbdsl.tasks import progress
from lbdsl.tasks.invert import checkpoint as sc
from lbdsl.tasks.invert import solve as invert_solve
from lbdsl.tasks.layout import LOCK_FILE
from spec_helpers import TINY_NET

distributed = pytest.importorskip("dask.distributed")

#: Iterations of each point: about 2 s of pdhg on the 8×8 problem below (tol never met), so a
#: Ctrl-C sent once the points solve lands while they run; the whole sweep, serially, ~11 s.
MAX_ITER = 5000
N = 6
SPEC = TINY_NET + """invert tiny {
    truth       = image("camera", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.05, seed = 8)
    regulariser = tv
    alpha       = sweep(1e-3, 1, n = N, delta = auto)
    solver      = pdhg(max_iter = MAX_ITER, tol = 1e-300, warm_start = false)
    figures     = false
}
""".replace("MAX_ITER", str(MAX_ITER)).replace("= N,", f"= {N},")
FOLDER = "invert-tiny"
GRID = sorted(sweep_grid(1e-3, 1.0, N), reverse=True)     # the order the sweep solves them
TIMING = {"time_s", "time_s_total", "seconds"}


def _arrays(folder: Path, name: str = "result.npz") -> dict[str, np.ndarray]:
    with np.load(folder / name, allow_pickle=False) as npz:
        return {key: np.array(npz[key]) for key in npz.files}


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())


def _same_arrays(a: Path, b: Path, name: str = "result.npz") -> None:
    x, y = _arrays(a, name), _arrays(b, name)
    assert sorted(x) == sorted(y)
    for key in x:
        assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes(), key


def _untimed(value: Any) -> Any:
    """A report without its timings (the only thing two runs of the same solves differ in)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _files(folder: Path) -> set[str]:
    """The folder's files but its lock (an empty file every run leaves: tasks/layout.py)."""
    return {p.name for p in folder.iterdir()} - {LOCK_FILE}


def _solving(dask_worker) -> list[str]:  # noqa: ANN001 - Dask passes its worker
    """The sweep points this worker solves now (past preparing the task: the solver runs)."""
    from lbdsl.tasks.invert import parts

    keys = [str(ts.key) for ts in list(dask_worker.state.executing)]
    if parts.prepared.cache_info().currsize == 0:
        return []
    return [k for k in keys if k.startswith("lbdsl-point-")]


def _ctrl_c_at(monkeypatch: pytest.MonkeyPatch, label: str, iteration: int) -> None:
    """A real SIGINT while the (serial) progress display ``label`` shows ``iteration``: the
    guard turns it into a stop at that very check."""
    shown = progress.Progress.__call__

    def call(self, it, metrics):  # noqa: ANN001, ANN202
        if self.label == label and it == iteration:
            os.kill(os.getpid(), signal.SIGINT)
        shown(self, it, metrics)

    monkeypatch.setattr(progress.Progress, "__call__", call)


def test_a_ctrl_c_in_a_sweep_on_the_workers_ends_it_as_serially_and_resume_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "sweep.lbn"
    spec.write_text(SPEC)

    # the reference: the whole sweep, serially, never stopped
    began = time.monotonic()
    assert main(["solve", str(spec), "--out", str(tmp_path / "whole")]) == 0
    whole_s = time.monotonic() - began
    whole = tmp_path / "whole" / FOLDER
    assert (whole / "alpha_sweep.csv").exists()
    assert len((whole / "alpha_sweep.csv").read_text().splitlines()) == N + 1
    assert _report(whole)["stop_reason"] == "max_iter"

    # what the workers sent back for the points (this process takes them in solve._points_taken)
    sent_back: list[tuple[list[float], list[Any]]] = []
    back_at: list[float] = []
    taken = invert_solve._points_taken

    def record(prefetched, guard):  # noqa: ANN001, ANN202
        if prefetched is not None:
            back_at.append(time.monotonic())
            sent_back.append((list(prefetched[0]), list(prefetched[1])))
        return taken(prefetched, guard)

    monkeypatch.setattr(invert_solve, "_points_taken", record)

    finished = threading.Event()
    at_stop: list[str] = []          # the points the workers solved when the SIGINT went
    sent: list[float] = []

    def interrupt_once_the_points_solve() -> None:
        tick = threading.Event()
        deadline = time.monotonic() + 120
        while not finished.is_set() and time.monotonic() < deadline:
            try:
                client = distributed.default_client()
                solving = [k for keys in client.run(_solving).values() for k in keys]
            except (ValueError, OSError, RuntimeError, distributed.TimeoutError):
                solving = []                         # no cluster yet, or it is going away
            if len(solving) >= 2:                    # both workers in a point's solver
                at_stop.extend(solving)
                sent.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)
                return
            tick.wait(0.05)

    capsys.readouterr()
    killer = threading.Thread(target=interrupt_once_the_points_solve, daemon=True)
    killer.start()
    began = time.monotonic()
    try:
        status = main(["solve", str(spec), "--out", str(tmp_path / "dask"), "--workers", "2"])
    finally:
        finished.set()
        killer.join()
    ended = time.monotonic()
    out, err = capsys.readouterr()
    assert sent, "the points never ran on both workers"
    assert status == 130, err
    assert "stopping: the running tasks stop at their next check" in out
    assert "interrupted: invert tiny" in err and "Traceback" not in err
    # how to go on names the cluster too; every task is accounted for, none merely "not run"
    assert f"--out {tmp_path / 'dask'} --workers 2 --resume" in err
    assert "the remaining tasks were not run" not in err

    # the points: those solving at the SIGINT stopped early, the others were not run at all
    assert len(sent_back) == 1
    grid, results = sent_back[0]
    assert grid == GRID
    running = {int(key.split("-")[3]) for key in at_stop}     # lbdsl-point-{batch}-{k}
    assert len(running) == 2 and 0 in running, at_stop        # Dask starts them in order
    assert {k for k, r in enumerate(results) if r is not None} == running
    for k in running:
        assert results[k].stop_reason == "interrupted"
        assert 0 < results[k].iterations < MAX_ITER
        assert results[k].state is not None                   # resumable
    # the points came back in far less time than the rest of the sweep would have taken (at
    # least two more rounds of two points after these: about whole_s / 2 on the two workers)
    assert back_at[0] - sent[0] < whole_s / 2, (back_at[0] - sent[0], whole_s)

    # the folder: the sweep ended just after its first interrupted point, as serially
    first = min(running)
    stopped = results[first]
    dask = tmp_path / "dask" / FOLDER
    assert not (tmp_path / "dask" / f"{FOLDER}-2").exists()
    assert _files(dask) == {"result.npz", "report.json", sc.FILE}     # no alpha_sweep.csv
    assert not [p for p in (tmp_path / "dask").rglob("*") if ".tmp" in p.name]
    rep = _report(dask)
    assert rep["stop_reason"] == "interrupted" and rep["iterations"] == stopped.iterations
    assert rep["alpha"] == GRID[first]
    assert rep["alpha_rule"]["rule"] == "sweep" and "table" not in rep["alpha_rule"]
    assert [t["alpha"] for t in rep["alpha_rule"]["tried"]] == GRID[:first + 1]
    assert rep["checkpoint"] == {"file": sc.FILE, "solves": first + 1, "baseline": False,
                                 "complete": False}
    u = _arrays(dask)["u"]
    assert u.tobytes() == np.asarray(to_numpy(stopped.u), dtype=np.float64).reshape(u.shape) \
        .tobytes()

    # a serial run stopped at the same iteration of the same point leaves the same folder
    with monkeypatch.context() as patch:
        _ctrl_c_at(patch, f"pdhg α={GRID[first]:.3g}", stopped.iterations)
        assert main(["solve", str(spec), "--out", str(tmp_path / "serial")]) == 130
    serial = tmp_path / "serial" / FOLDER
    assert _files(serial) == _files(dask)
    _same_arrays(serial, dask)
    assert _untimed(_report(serial)) == _untimed(_report(dask))

    # --resume (with the workers again) goes on from the stopped point and ends as `whole`
    capsys.readouterr()
    assert main(["solve", str(spec), "--out", str(tmp_path / "dask"), "--workers", "2",
                 "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"resumed at iteration {stopped.iterations}" in out
    _same_arrays(whole, dask)
    assert (dask / "alpha_sweep.csv").read_bytes() == (whole / "alpha_sweep.csv").read_bytes()
    ra, rb = _report(whole), _report(dask)
    for key in ("alpha", "alpha_rule", "iterations", "stop_reason", "objective", "psnr"):
        assert ra[key] == rb[key], key
    assert rb["checkpoint"]["complete"] is True and rb["checkpoint"]["solves"] == N
    assert rb["resumed_from"] == {"solves": first + 1, "iteration": stopped.iterations,
                                  "baseline": False, "baseline_iteration": None}
    assert not [p for p in (tmp_path / "dask").rglob("*") if ".tmp" in p.name]


def test_a_ctrl_c_before_any_point_starts_exits_130_and_says_the_task_was_not_started(
        tmp_path, monkeypatch, capsys):
    """Both workers are held busy until the stop is requested, so no point ever starts: the
    task comes back ``interrupted`` (not started, nothing written) and the run exits 130 — not
    0 with nothing said."""
    from lbdsl import distributed as lbdsl_distributed

    spec = tmp_path / "sweep.lbn"
    spec.write_text(SPEC)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        hold = distributed.Event("hold", client=client)
        holders = [client.submit(lambda: distributed.Event("hold").wait(120), workers=[w],
                                 pure=False) for w in client.scheduler_info()["workers"]]
        request = lbdsl_distributed._Stop.request

        def request_then_release(self) -> None:   # the workers go free once the stop is set
            request(self)
            hold.set()
        monkeypatch.setattr(lbdsl_distributed._Stop, "request", request_then_release)

        def points_queued(dask_scheduler) -> int:  # noqa: ANN001 - Dask passes its scheduler
            return sum("lbdsl-alpha" in str(key) for key in dask_scheduler.tasks)

        def interrupt_once_queued() -> None:
            tick = threading.Event()
            for _ in range(1200):
                if client.run_on_scheduler(points_queued) >= N:
                    break
                tick.wait(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        killer = threading.Thread(target=interrupt_once_queued)
        killer.start()
        status = main(["solve", str(spec), "--out", str(tmp_path / "out"), "--scheduler",
                       cluster.scheduler_address])
        killer.join()
        assert all(client.gather(holders))             # released by the stop, not timed out
    assert status == 130
    err = capsys.readouterr().err
    assert "invert tiny (line 9) was not started" in err and "Traceback" not in err
    assert f"--scheduler {cluster.scheduler_address} --resume" in err
    assert not (tmp_path / "out" / FOLDER).exists()
