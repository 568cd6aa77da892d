"""Tasks on Dask: strong scaling of ``lbdsl solve --workers N`` on this machine.

A spec of ``--tasks`` equal invert tasks (a 32×32 → 1024 ReLU perceptron, TV, ``pdhg``, each a
different noise seed) is solved serially, then on a ``LocalCluster`` of 1 and of 2 worker
processes (one thread each), all in this process.  Printed and written as JSON: wall time
(cluster start included, and without it), speed-up over serial, and what travels per task
(the pickled arguments and the pickled result: each worker reads the spec itself).  Every
parallel run's arrays are compared with the serial run's (bit for bit).

``--chunks K``: instead, one task with a batch of ``--tasks`` right-hand sides (the same
perceptron, random 32×32 truths) and ``chunk = K``, so that each group of K rows is a future.

    OPENBLAS_NUM_THREADS=1 python bench/scaling.py [--tasks 8] [--chunks K] [--out FILE]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import lbdsl  # noqa: E402

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


def main() -> None:
    from dask.distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=None,
                        help="one batch task of --tasks rows in groups of this many")
    parser.add_argument("--out", default="bench/scaling.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lbdsl-dask-"))
    if args.chunks:
        rng = np.random.default_rng(0)
        np.save(tmp / "batch.npy", rng.uniform(0.0, 1.0, (args.tasks, 32, 32)))
        text = NET + BATCH.format(chunk=args.chunks)
    else:
        text = NET + "".join(TASK.format(seed=k) for k in range(1, args.tasks + 1))
    spec_file = tmp / "tasks.lbn"
    spec_file.write_text(text)
    out: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "tasks": args.tasks,
                 "chunk": args.chunks}
    began = time.perf_counter()
    serial = lbdsl.load(spec_file).solve(out=tmp / "serial", verbose=False)
    out["serial_s"] = time.perf_counter() - began
    print(f"serial: {out['serial_s']:.2f} s", flush=True)
    for workers in (1, 2):
        t0 = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            t1 = time.perf_counter()
            results = lbdsl.load(spec_file).solve(out=tmp / f"w{workers}", verbose=False,
                                                  client=client)
            t2 = time.perf_counter()
        same = all(np.array_equal(a.u, b.u) for a, b in zip(serial, results))
        row = {"wall_s": t2 - t0, "solve_s": t2 - t1, "start_s": t1 - t0,
               "speedup_solve": out["serial_s"] / (t2 - t1), "bit_identical": same}
        out[f"workers_{workers}"] = row
        print(f"{workers} worker(s): {row['solve_s']:.2f} s solving (+{row['start_s']:.2f} s to "
              f"start the cluster), speed-up {row['speedup_solve']:.2f}, bit-identical {same}",
              flush=True)
    if args.chunks:
        from lbdsl.distributed import _group_on_worker

        sent = len(pickle.dumps((str(spec_file), text, (), "numpy", 0, 0)))
        back = len(pickle.dumps(_group_on_worker(str(spec_file), text, (), "numpy", 0, 0)))
        unit = "group"
    else:
        sent = len(pickle.dumps((str(spec_file), text, (), "numpy", 0, tmp / "x", False)))
        back = float(np.mean([len(pickle.dumps(r)) for r in serial]))
        unit = "task"
    out[f"bytes_per_{unit}"] = {"to_worker": sent, "from_worker": back}
    print(f"per {unit}: {sent} B to the worker (the spec's path and text), {back / 1e3:.0f} kB "
          "back (the result); the weights never travel", flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
