"""lbdsl on Dask: strong scaling on this machine (serial, 1 and 2 worker processes) and what
travels, for the three kinds of distributed work, each run in this one process:

``tasks``  a spec of ``--tasks`` equal invert tasks (a 32×32 → 1024 ReLU perceptron, TV,
           ``pdhg``, each a different noise seed), each task a future;
``chunks`` one invert task of ``--rows`` random 32×32 right-hand sides with ``chunk = K``, each
           group of K rows a future;
``train``  data-parallel lifted training (``shards``) of the first train task of ``--spec``
           (default: the 5×784 MNIST DAE of seed experiment 4, implicit SGD).

Printed and written as JSON (``--out``): seconds (cluster start excluded; for ``train`` per
epoch), the speed-up over the serial run and ours ÷ serial as a time ratio, whether the
arrays equal the serial run's (bit for bit for ``tasks`` and ``chunks``; the largest
parameter difference for ``train``), and the bytes: per task or group (the pickled arguments
and result), per epoch for ``train`` — sent by this process and received back, by call
(measured from the payloads), and moved between the workers (Dask's counter of what the
workers sent, less what this process received: the broadcast of Θ and the reduction tree).

    OPENBLAS_NUM_THREADS=1 python bench/dask.py tasks [--tasks 6] [--lines-cost]
    OPENBLAS_NUM_THREADS=1 python bench/dask.py chunks [--rows 16] [--chunk 4] [--lines-cost]
    OPENBLAS_NUM_THREADS=1 python bench/dask.py train [--spec S] [--epochs 2] [--n 1000]
        [--shards 2] [--batch B] [--dtype float32]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `python bench/dask.py` puts bench/ first on sys.path, where this file would be imported as
# the `dask` package itself: drop that entry before anything imports Dask.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402 - only dumps, to measure what a future carries
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import lbdsl  # noqa: E402
from lbdsl.distributed import TOPIC  # noqa: E402

ROOT = _HERE.parent

NET = """
network p {
    input  u : 32x32
    param  W : 1024x1024 = normal(std = 0.03125, seed = 0)
    param  b : 1024      = zeros
    h = relu(W @ u + b)
    output h
}
"""
TASK = """
invert p {{
    truth = image("shepp_logan", size = 32x32)
    data = forward(truth) + gaussian(relative = 0.01, seed = {seed})
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 3000, tol = 1e-7)
    figures = false
}}
"""
BATCH = """
invert p {{
    truth = load("batch.npy")
    data = forward(truth) + gaussian(relative = 0.01, seed = 1)
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 3000, tol = 1e-7)
    chunk = {chunk}
    figures = false
}}
"""


@contextmanager
def _client(workers: int) -> Iterator[tuple[Any, float]]:
    """A client of a new ``LocalCluster`` of ``workers`` one-thread processes, and its start-up
    time in seconds."""
    from dask.distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client, time.perf_counter() - t0


def _moved(client: Any) -> int:
    """Bytes the workers have sent so far (Dask's counter, summed): to one another, and the
    results that the scheduler gathered for this process."""
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
               .values())


def _lines_not_sent() -> None:
    """On a worker: its solves' lines are dropped instead of sent to the caller (``--lines-cost``
    compares), the rest of the run unchanged."""
    from lbdsl.distributed import _Forward

    _Forward.write = lambda self, text: len(text)


# -- tasks and chunks: lbdsl solve --workers --------------------------------------------------
def _spec(args: argparse.Namespace, tmp: Path) -> tuple[Path, str]:
    if args.mode == "chunks":
        rng = np.random.default_rng(0)
        np.save(tmp / "batch.npy", rng.uniform(0.0, 1.0, (args.rows, 32, 32)))
        text = NET + BATCH.format(chunk=args.chunk)
    else:
        text = NET + "".join(TASK.format(seed=k) for k in range(1, args.tasks + 1))
    spec = tmp / "tasks.lbn"
    spec.write_text(text)
    return spec, text


def solve_runs(args: argparse.Namespace) -> dict[str, Any]:
    """Serial, then 1 and 2 workers, of the ``tasks`` or ``chunks`` spec."""
    tmp = Path(tempfile.mkdtemp(prefix="lbdsl-dask-"))
    spec, text = _spec(args, tmp)
    began = time.perf_counter()
    serial = lbdsl.load(spec).solve(out=tmp / "serial", verbose=False)
    serial_s = time.perf_counter() - began
    out: dict[str, Any] = {"serial_s": serial_s, "runs": []}
    print(f"serial: {serial_s:.2f} s", flush=True)
    runs = [(1, True), (2, True)] + ([(1, False)] if args.lines_cost else [])
    for workers, lines in runs:
        with _client(workers) as (client, start_s):
            if not lines:
                client.run(_lines_not_sent)
            events = len(client.get_events(TOPIC))
            t0 = time.perf_counter()
            results = lbdsl.load(spec).solve(out=tmp / f"w{workers}{'' if lines else 'q'}",
                                             verbose=False, client=client)
            solve_s = time.perf_counter() - t0
            events = len(client.get_events(TOPIC)) - events
        same = all(np.array_equal(a.u, b.u) for a, b in zip(serial, results, strict=True))
        row = {"workers": workers, "lines_sent": lines, "lines": events, "solve_s": solve_s,
               "start_s": start_s, "speedup": serial_s / solve_s,
               "ours_over_serial": solve_s / serial_s, "bit_identical": same}
        out["runs"].append(row)
        print(f"{workers} worker(s){'' if lines else ', lines not sent'}: {solve_s:.2f} s "
              f"solving (+{start_s:.2f} s to start the cluster), speed-up {row['speedup']:.2f}, "
              f"ours ÷ serial {row['ours_over_serial']:.2f}, bit-identical {same}, "
              f"{events} line(s) forwarded", flush=True)
    if args.mode == "chunks":
        from lbdsl.distributed import _group_on_worker

        sent = len(pickle.dumps((str(spec), text, (), "numpy", 0, 0)))
        back = len(pickle.dumps(_group_on_worker(str(spec), text, (), "numpy", 0, 0)))
    else:
        sent = len(pickle.dumps((str(spec), text, (), "numpy", 0, tmp / "x", False)))
        back = int(np.mean([len(pickle.dumps(r)) for r in serial]))
    unit = "group" if args.mode == "chunks" else "task"
    out[f"bytes_per_{unit}"] = {"to_worker": sent, "from_worker": back}
    print(f"per {unit}: {sent} B to the worker (the spec's path and text), {back / 1e3:.0f} kB "
          "back (the result); the weights never travel", flush=True)
    return out


# -- train: data-parallel lifted training -----------------------------------------------------
def _timed(run: Callable[[Any], Any]) -> tuple[Any, float]:
    """The result and the seconds per epoch after the first check (``monitor`` times epochs)."""
    marks: list[float] = []
    result = run(lambda k, m: marks.append(time.perf_counter()))
    return result, (marks[-1] - marks[0]) / max(len(marks) - 1, 1)


def train_runs(args: argparse.Namespace) -> dict[str, Any]:
    """Serial, then ``--shards`` shards on 1 and 2 workers, of the spec's lifted training."""
    from lbdsl.distributed_shards import DaskPool
    from lbdsl.tasks.train.pairs import make_pairs
    from lbdsl.training import train

    program = lbdsl.load(args.spec).program
    task = next(t for t in program.tasks if t.kind == "train" and t.loss == "bregman")
    data_spec = task.data if args.n is None else dataclasses.replace(task.data, n=args.n)
    net = program.networks[task.network]
    data = make_pairs(data_spec, net, Path(args.spec).resolve().parent, task.seed)
    settings = dataclasses.replace(task.optimizer, epochs=args.epochs,
                                   batch=args.batch or task.optimizer.batch)

    def fit(monitor: Any, shards: Any = None) -> Any:
        return train(net, data.inputs, data.targets, settings, loss="bregman",
                     dtype=args.dtype, seed=task.seed, penalties=task.penalty,
                     monitor=monitor, shards=shards)

    serial, serial_s = _timed(fit)
    theta = sum(int(np.asarray(v).nbytes) for v in serial.params.values())
    out: dict[str, Any] = {"spec": args.spec, "n": data.n, "epochs": settings.epochs,
                           "batch": settings.batch, "inner": settings.inner,
                           "dtype": args.dtype, "theta_bytes": theta, "serial_epoch_s": serial_s,
                           "runs": []}
    print(f"{data.n} samples, {settings.epochs} epoch(s), batch {settings.batch}, inner "
          f"{settings.inner}, {args.dtype}, |Θ| {theta / 2**20:.1f} MiB; serial "
          f"{serial_s:.2f} s per epoch", flush=True)
    for workers in (1, 2):
        with _client(workers) as (client, _):
            pools: list[DaskPool] = []

            def shards(trainer: Any, client: Any = client) -> DaskPool:
                pools.append(DaskPool.factory(client, args.shards)(trainer))
                return pools[-1]

            moved = _moved(client)
            got, epoch_s = _timed(lambda m: fit(m, shards))
            moved = _moved(client) - moved
        per_epoch = {k: v / max(settings.epochs, 1) for k, v in pools[0].sent.items()
                     if k != "open"}
        diff = max(float(np.max(np.abs(np.asarray(got.params[k], dtype=np.float64)
                                       - np.asarray(serial.params[k], dtype=np.float64))))
                   for k in serial.params)
        back = sum(v for k, v in per_epoch.items() if k.endswith("(back)"))
        row = {"workers": workers, "shards": args.shards, "epoch_s": epoch_s,
               "speedup": serial_s / epoch_s, "ours_over_serial": epoch_s / serial_s,
               "bytes_per_epoch": per_epoch,
               # what the workers sent, less what came back here: among themselves
               "between_workers_per_epoch": max(moved / max(settings.epochs, 1) - back, 0.0),
               "bytes_at_start": pools[0].sent.get("open", 0), "max_abs_param_diff": diff}
        out["runs"].append(row)
        print(f"{workers} worker(s), {args.shards} shards: {epoch_s:.2f} s per epoch (speed-up "
              f"{row['speedup']:.2f}, ours ÷ serial {row['ours_over_serial']:.2f}); per epoch "
              f"{sum(per_epoch.values()) / 2**20:.1f} MiB through this process, "
              f"{row['between_workers_per_epoch'] / 2**20:.1f} MiB between workers; "
              f"max |Δθ| {diff:.1e}", flush=True)
        for k, v in sorted(per_epoch.items(), key=lambda kv: -kv[1])[:6]:
            print(f"    {k:>22}: {v / 2**20:9.2f} MiB per epoch", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    tasks = sub.add_parser("tasks", help="independent invert tasks, one future each")
    tasks.add_argument("--tasks", type=int, default=6)
    chunks = sub.add_parser("chunks", help="one batch of right-hand sides in groups")
    chunks.add_argument("--rows", type=int, default=16)
    chunks.add_argument("--chunk", type=int, default=4)
    for p in (tasks, chunks):
        p.add_argument("--lines-cost", action="store_true",
                       help="also 1 worker with the solvers' lines not sent (what it costs)")
    fit = sub.add_parser("train", help="data-parallel lifted training (shards)")
    fit.add_argument("--spec", default=str(ROOT / "specs" / "seed4_sparse_dae_784.lbn"))
    fit.add_argument("--epochs", type=int, default=2)
    fit.add_argument("--n", type=int, default=None, help="training samples (default: spec)")
    fit.add_argument("--shards", type=int, default=2)
    fit.add_argument("--batch", type=int, default=None, help="batch size (default: spec)")
    fit.add_argument("--dtype", default="float32")
    for p in (tasks, chunks, fit):
        p.add_argument("--out", default=None, help="JSON (default: bench/dask-MODE.json)")
    args = parser.parse_args()
    out = train_runs(args) if args.mode == "train" else solve_runs(args)
    out = {"mode": args.mode, "machine": platform.platform(),
           "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "args": {k: v for k, v in vars(args).items() if k != "out"}, **out}
    path = Path(args.out or _HERE / f"dask-{args.mode}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
