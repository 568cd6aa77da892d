"""Data-parallel lifted training on Dask: strong scaling and what travels per epoch.

The first train task of ``--spec`` (default: the 5×784 MNIST DAE of seed experiment 4, lifted,
implicit SGD) is trained for ``--epochs`` serially, then with ``--shards`` shards on a
``LocalCluster`` of 1 and of 2 worker processes (one thread each), all in this process.
Printed and written as JSON: seconds per epoch (cluster start and shard set-up excluded),
speed-up over serial (ours ÷ serial as a time ratio too), the bytes sent to the shards and
back per epoch by call (measured from the payloads), and the largest difference of the trained
parameters from the serial run's.

    OPENBLAS_NUM_THREADS=1 python bench/shards.py [--spec S] [--epochs 1] [--n 1000]
        [--shards 2] [--batch B] [--dtype float64] [--out FILE]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import lbdsl  # noqa: E402
from lbdsl.tasks.train.pairs import make_pairs  # noqa: E402
from lbdsl.training import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _timed(run) -> tuple[object, float]:
    """The result and the seconds per epoch after the first check (``monitor`` times epochs)."""
    marks: list[float] = []
    result = run(lambda k, m: marks.append(time.perf_counter()))
    return result, (marks[-1] - marks[0]) / max(len(marks) - 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "seed4_sparse_dae_784.lbn"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n", type=int, default=None, help="training samples (default: spec)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: spec)")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--out", default=str(ROOT / "bench" / "shards.json"))
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    from lbdsl.distributed_shards import DaskPool

    program = lbdsl.load(args.spec).program
    task = next(t for t in program.tasks if t.kind == "train" and t.loss == "bregman")
    data_spec = task.data if args.n is None else dataclasses.replace(task.data, n=args.n)
    net = program.networks[task.network]
    data = make_pairs(data_spec, net, Path(args.spec).resolve().parent, task.seed)
    settings = dataclasses.replace(task.optimizer, epochs=args.epochs, spans={},
                                   batch=args.batch or task.optimizer.batch)

    def fit(monitor, shards=None):
        return train(net, data.inputs, data.targets, settings, loss="bregman",
                     dtype=args.dtype, seed=task.seed, penalties=task.penalty,
                     monitor=monitor, shards=shards)

    serial, serial_s = _timed(fit)
    rows = [{"workers": 0, "epoch_s": serial_s, "speedup": 1.0}]
    print(f"{data.n} samples, {settings.epochs} epoch(s), batch {settings.batch}, "
          f"inner {settings.inner}, {args.dtype}; serial {serial_s:.2f} s per epoch")
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            pools: list[DaskPool] = []

            def shards(trainer, client=client):
                pools.append(DaskPool.factory(client, args.shards)(trainer))
                return pools[-1]

            got, epoch_s = _timed(lambda m: fit(m, shards))
        sent = {k: v / max(settings.epochs, 1) for k, v in pools[0].sent.items()
                if k != "open"}
        diff = max(float(np.max(np.abs(np.asarray(got.params[k], dtype=np.float64)
                                       - np.asarray(serial.params[k], dtype=np.float64))))
                   for k in serial.params)
        row = {"workers": workers, "shards": args.shards, "epoch_s": epoch_s,
               "speedup": serial_s / epoch_s, "ours_over_serial": epoch_s / serial_s,
               "bytes_per_epoch": sent, "bytes_at_start": pools[0].sent.get("open", 0),
               "max_abs_param_diff": diff}
        rows.append(row)
        total = sum(sent.values())
        print(f"{workers} worker(s), {args.shards} shards: {epoch_s:.2f} s per epoch "
              f"(speed-up {row['speedup']:.2f}×, ours ÷ serial {row['ours_over_serial']:.2f}); "
              f"{total / 2**20:.1f} MiB per epoch sent and back; max |Δθ| {diff:.1e}")
        for k, v in sorted(sent.items(), key=lambda kv: -kv[1])[:6]:
            print(f"    {k:>22}: {v / 2**20:9.2f} MiB per epoch")
    theta = sum(int(np.asarray(v).nbytes) for v in serial.params.values())
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "spec": args.spec, "n": data.n, "epochs": settings.epochs, "batch": settings.batch,
           "inner": settings.inner, "dtype": args.dtype, "theta_bytes": theta, "runs": rows}
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
