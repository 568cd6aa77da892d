"""Training speed: lifted Bregman training against backpropagation SGD, in NumPy and PyTorch.

On the digits denoising autoencoder of a spec's ``train`` task (default ``specs/dae.lbn``: 1000
noisy training digits, batch 50, validation on 200 test digits), for the same number of epochs,
the same initial weights, the same batches (one permutation per epoch from
``numpy.random.default_rng(seed)``) and one dtype everywhere (``--dtype``, default the task's):

* ``lifted``       — lbdsl's implicit SGD with the spec's ``inner`` (and ``tau``);
* ``lifted-inner1``— the same with ``inner = 1``;
* ``numpy-sgd``    — lbdsl's backpropagation baseline (``loss = mse``), SGD with momentum;
* ``torch-adam``   — the same with ``torch.optim.Adam`` (``--adam-lr``, default 1e-3);
* ``torch-sgd``    — the same network in PyTorch (``torch.set_num_threads(1)``), autograd and
  ``torch.optim.SGD`` with the same learning rate and momentum, on the same loss
  ``(1/B) Σ_n [½‖N(x_n) − y_n‖² + penalty(x_n)]``.

Timing.  A training epoch's time is the wall time between the ends of two epochs minus the time
of the test-set evaluation (which runs at the end of every epoch, outside the clock); it still
includes the one pass over the training set that lbdsl's ``train`` makes at each epoch end for
its history, and the PyTorch loop makes the same pass (under ``no_grad``) to be comparable.
Each method runs ``--repeats`` times; the fastest run counts (the trajectories are identical).

Reported per method: seconds per epoch; the test PSNR after the last epoch; the PSNR reached per
second of training (final PSNR / training time); and the time to first reach a common PSNR (the
lowest final PSNR of all methods).  Ratios are ours ÷ theirs: lifted (either) ÷ numpy-sgd, ÷
torch-sgd and ÷ torch-adam; and the test PSNR of both at equal wall time (the shorter of the two
runs' training times; each method's PSNR after the last epoch it finished by then).

Memory, per method: the peak resident set while it trains (Linux's ``VmHWM``, reset through
``/proc/self/clear_refs`` before each method) less the resident set before it (imports, data and
the test set, the same for every method): what the method itself allocates.  ``--isolate``
runs each method in a process of its own (this script with ``--only``), so that no method
inherits another's freed-but-kept memory.  Without ``/proc`` (not Linux) only the process's
``ru_maxrss`` is reported.

    OPENBLAS_NUM_THREADS=1 python bench/train.py [--spec specs/dae.lbn] [--task 0]
        [--epochs 20] [--lr 0.02] [--momentum 0.9] [--repeats 3] [--target DB]
        [--dtype float32|float64] [--only METHOD] [--isolate] [--figure FILE.png]
        [--out bench/train.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import lbdsl
from lbdsl.training.settings import SGD, ImplicitSGD
from lbdsl.outputs import write_json_atomic
from lbdsl.tasks.train.pairs import make_pairs
from lbdsl.tasks.train.fit import psnr
from lbdsl.lift.network import lifted_network
from lbdsl.training import predict, train
from lbdsl.training.penalty import resolve_penalties

ROOT = Path(__file__).resolve().parents[1]


# --- the PyTorch twin ------------------------------------------------------------------------

def _torch_activation(name: str, p: dict[str, float]):  # noqa: ANN202
    import torch
    import torch.nn.functional as F

    table = {
        "identity": lambda z: z,
        "relu": torch.relu,
        "soft": lambda z: F.softshrink(z, p.get("theta", 0.5)),
        "leaky_relu": lambda z: F.leaky_relu(z, p.get("a", 0.01)),
        "clip": lambda z: torch.clamp(z, p.get("lo", -1.0), p.get("hi", 1.0)),
        "hardtanh": lambda z: torch.clamp(z, p.get("lo", -1.0), p.get("hi", 1.0)),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }
    if name not in table:
        raise SystemExit(f"no PyTorch twin for activation `{name}`")
    return table[name]


class TorchTwin:
    """The network's dense layers as PyTorch tensors, starting from the spec's initial values."""

    def __init__(self, net: Any, penalty: Any, dtype: Any) -> None:
        import torch

        self.net = net
        self.layers = []
        for step in net.layers:
            affine, m = step.affine, step.affine.map
            if m is None or m.kind not in ("matmul", "dense") or len(affine.biases) > 1:
                raise SystemExit("the PyTorch twin handles dense layers A x + b only")
            self.layers.append((step.out, affine.input, m.weight, affine.bias,
                                m.transposed, _torch_activation(step.psi_name,
                                                                step.psi_params)))
        self.params = {name: torch.tensor(np.asarray(p.value), dtype=dtype, requires_grad=True)
                       for name, p in net.params.items()
                       if any(name in (w, b) for _, _, w, b, _, _ in self.layers)}
        self.penalties = resolve_penalties(net, penalty)

    def forward(self, x: Any) -> dict[str, Any]:
        values = {self.net.input: x}
        for out, inp, w, b, transposed, act in self.layers:
            weight = self.params[w]
            matrix = weight.reshape(1, -1) if weight.ndim == 1 else weight
            z = values[inp] @ (matrix if transposed else matrix.T)
            if b is not None:
                z = z + self.params[b].reshape(-1)
            values[out] = act(z)
        return values

    def loss(self, x: Any, y: Any) -> Any:
        values = self.forward(x)
        d = values[self.net.output] - y
        total = 0.5 * (d * d).sum()
        for v, pen in self.penalties.items():
            for reg, weight in pen.terms:           # a state penalty: l1 and l2sq terms
                if reg.name == "l1":
                    total = total + weight * values[v].abs().sum()
                elif reg.name == "l2sq":
                    total = total + 0.5 * weight * (values[v] * values[v]).sum()
                else:
                    raise SystemExit(f"the PyTorch twin has no `{reg.name}` penalty")
        return total / x.shape[0]


def torch_sgd(net: Any, task: Any, x: np.ndarray, y: np.ndarray, settings: SGD,
              test_psnr: Any, adam_lr: float | None = None) -> tuple[list[float], list[float]]:
    """Epoch times and test PSNRs of PyTorch SGD (or Adam at ``adam_lr``) on the same batches
    as lbdsl's loop."""
    import torch

    dtype = getattr(torch, task.dtype)
    twin = TorchTwin(net, task.penalty, dtype)
    params = list(twin.params.values())
    opt = (torch.optim.Adam(params, lr=adam_lr) if adam_lr is not None else
           torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum))
    xt = torch.tensor(x.reshape(len(x), -1), dtype=dtype)
    yt = torch.tensor(y.reshape(len(y), -1), dtype=dtype)
    n, batch = len(x), min(settings.batch, len(x))
    rng = np.random.default_rng(task.seed)
    times, psnrs = [], []
    for _ in range(settings.epochs):
        start = time.perf_counter()
        perm = torch.from_numpy(rng.permutation(n))
        xs, ys = xt[perm], yt[perm]
        for lo in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            twin.loss(xs[lo:lo + batch], ys[lo:lo + batch]).backward()
            opt.step()
        with torch.no_grad():            # the per-epoch training loss lbdsl's loop records
            float(twin.loss(xt, yt))
        times.append(time.perf_counter() - start)
        psnrs.append(test_psnr({k: v.detach().numpy() for k, v in twin.params.items()}))
    return times, psnrs


# --- lbdsl's methods -------------------------------------------------------------------------

def lbdsl_run(net: Any, task: Any, x: np.ndarray, y: np.ndarray, settings: Any, loss: str,
              test_psnr: Any) -> tuple[list[float], list[float]]:
    """Epoch times (test evaluation excluded) and test PSNRs of lbdsl's ``train``."""
    stamps: list[float] = []
    spent: list[float] = []
    psnrs: list[float] = []

    def validate(params: dict[str, Any]) -> dict[str, float]:
        start = time.perf_counter()
        psnrs.append(test_psnr(params))
        spent.append(time.perf_counter() - start)
        return {}

    def monitor(epoch: int, metrics: dict[str, float]) -> None:
        stamps.append(time.perf_counter())

    train(net, x, y, settings, loss=loss, seed=task.seed, penalties=task.penalty,
          monitor=monitor, validate=validate, dtype=task.dtype)
    times = [b - a - s for a, b, s in zip(stamps, stamps[1:], spent[1:])]
    return times, psnrs[1:]


# --- the comparison --------------------------------------------------------------------------

def psnr_at(result: dict[str, Any], t: float) -> float | None:
    """The test PSNR after the last epoch finished by training time ``t``."""
    done = [p for c, p in zip(np.cumsum(result["s_per_epoch_list"]), result["test_psnr_by_epoch"])
            if c <= t * (1 + 1e-9)]
    return done[-1] if done else None


def summarise(times: list[float], psnrs: list[float], target: float) -> dict[str, Any]:
    total = float(sum(times))
    cumulative = np.cumsum(times)
    reached = next((float(t) for t, p in zip(cumulative, psnrs) if p >= target), None)
    return {"epochs": len(times), "time_s": total, "s_per_epoch": total / len(times),
            "final_test_psnr": psnrs[-1], "psnr_per_s": psnrs[-1] / total,
            "time_to_target_s": reached, "test_psnr_by_epoch": psnrs,
            "s_per_epoch_list": list(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "dae.lbn"))
    parser.add_argument("--task", type=int, default=0, help="which train task of the spec")
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--lr", type=float, default=0.02,
                        help="SGD learning rate (0.02: the best of 0.005 … 0.5 on specs/dae.lbn)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    parser.add_argument("--adam-lr", type=float, default=1e-3, help="PyTorch Adam's rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=None,
                        help="the PSNR (dB) to time each method to (default: the lowest final "
                             "PSNR of all methods, which every method reaches)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=None,
                        help="every method's dtype (default: the task's)")
    parser.add_argument("--only", action="append", default=None, metavar="METHOD",
                        help="run only this method (repeatable; names as printed)")
    parser.add_argument("--isolate", action="store_true",
                        help="each method in its own process, for its own peak memory")
    parser.add_argument("--figure", default=None,
                        help="also draw the test PSNR of every method against time and epoch")
    parser.add_argument("--out", default=str(ROOT / "bench" / "train.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    program = lbdsl.load(args.spec).program
    task = [t for t in program.tasks if t.kind == "train"][args.task]
    if args.dtype:
        task = dataclasses.replace(task, dtype=args.dtype)
    net = program.networks[task.network]
    spec_path = Path(args.spec).resolve()
    spec_dir = spec_path.parent
    data = make_pairs(task.data, net, spec_dir, task.seed)
    test = make_pairs(task.validation or dataclasses.replace(task.data, split="test", n=None),
                      net, spec_dir, task.seed)
    lifted = task.optimizer if isinstance(task.optimizer, ImplicitSGD) else ImplicitSGD()
    epochs = args.epochs or lifted.epochs
    lifted = dataclasses.replace(lifted, epochs=epochs)
    sgd = SGD(lr=args.lr, momentum=args.momentum, epochs=epochs, batch=lifted.batch)
    model = lifted_network(net, params={})
    y_test = test.targets.reshape(test.n, -1)
    peak = float(y_test.max() - y_test.min()) or 1.0

    def test_psnr(params: dict[str, Any]) -> float:
        out = np.asarray(predict(model, params, test.inputs), dtype=np.float64)
        return psnr(float(np.mean((out - y_test) ** 2)), peak)

    methods = {
        f"lifted (inner={lifted.inner})": lambda: lbdsl_run(net, task, data.inputs, data.targets,
                                                            lifted, "bregman", test_psnr),
        "lifted (inner=1)": lambda: lbdsl_run(net, task, data.inputs, data.targets,
                                              dataclasses.replace(lifted, inner=1), "bregman",
                                              test_psnr),
        "numpy-sgd": lambda: lbdsl_run(net, task, data.inputs, data.targets, sgd, "mse",
                                       test_psnr),
        "torch-sgd": lambda: torch_sgd(net, task, data.inputs, data.targets, sgd, test_psnr),
        "torch-adam": lambda: torch_sgd(net, task, data.inputs, data.targets, sgd, test_psnr,
                                        adam_lr=args.adam_lr),
    }
    if args.only:
        unknown = set(args.only) - set(methods)
        if unknown:
            raise SystemExit(f"no method {sorted(unknown)}; the methods are {list(methods)}")
        methods = {name: fn for name, fn in methods.items() if name in args.only}
    runs, peaks = {}, {}
    if args.isolate:
        runs, peaks = isolated(list(methods), sys.argv[1:])
    for name, fn in methods.items():
        if args.isolate:
            break
        best = None
        before = reset_peak()
        for _ in range(args.repeats):
            times, psnrs = fn()
            if best is None or sum(times) < sum(best[0]):
                best = (times, psnrs)
        if before is not None:
            peaks[name] = status_mib("VmHWM") - before
        runs[name] = best
        print(f"  {name}: {sum(best[0]) / len(best[0]) * 1e3:.1f} ms/epoch, "
              f"test PSNR {best[1][-1]:.2f} dB", flush=True)
    target = args.target if args.target is not None else min(p[-1] for _, p in runs.values())
    results = {name: summarise(t, p, target) for name, (t, p) in runs.items()}

    ratios = {}
    for ours in [m for m in results if m.startswith("lifted")]:
        for theirs in [m for m in ("numpy-sgd", "torch-sgd", "torch-adam") if m in results]:
            a, b = results[ours], results[theirs]
            equal = min(a["time_s"], b["time_s"])
            ratios[f"{ours} / {theirs}"] = {
                "time_per_epoch": a["s_per_epoch"] / b["s_per_epoch"],
                "psnr_per_s": a["psnr_per_s"] / b["psnr_per_s"],
                "time_to_target": (a["time_to_target_s"] / b["time_to_target_s"]
                                   if a["time_to_target_s"] and b["time_to_target_s"] else None),
                "equal_time_s": equal, "psnr_at_equal_time": (psnr_at(a, equal),
                                                              psnr_at(b, equal)),
                "training_memory": (peaks[ours] / peaks[theirs]
                                    if peaks.get(ours) is not None and peaks.get(theirs)
                                    else None)}

    print(f"\n{Path(args.spec).name}, task {args.task}: {data.n} training samples, batch "
          f"{lifted.batch}, {epochs} epochs, test on {test.n}; SGD lr {args.lr}, momentum "
          f"{args.momentum}; {task.dtype}, one thread; best of {args.repeats}")
    print(f"{'method':<20}{'ms/epoch':>10}{'test PSNR':>11}{'dB/s':>9}"
          f"{f'to {target:.2f} dB':>14}{'+MiB':>10}")
    for name, r in results.items():
        reach = f"{r['time_to_target_s']:.2f} s" if r["time_to_target_s"] else "—"
        peak = f"{peaks[name]:.1f}" if name in peaks else "—"
        print(f"{name:<20}{r['s_per_epoch'] * 1e3:>10.1f}{r['final_test_psnr']:>11.2f}"
              f"{r['psnr_per_s']:>9.1f}{reach:>14}{peak:>10}")
    print("\nratios, ours ÷ theirs (time: < 1 is faster; PSNR per second: > 1 is better)")
    for key, r in ratios.items():
        reach = f"{r['time_to_target']:.2f}" if r["time_to_target"] else "—"
        a, b = (f"{p:.2f}" if p is not None else "—" for p in r["psnr_at_equal_time"])
        mem = f"   memory {r['training_memory']:.2f}" if r["training_memory"] else ""
        print(f"  {key:<36} time/epoch {r['time_per_epoch']:6.2f}   PSNR/s "
              f"{r['psnr_per_s']:6.3f}   time to {target:.2f} dB {reach}   at "
              f"{r['equal_time_s']:.1f} s: {a} vs {b} dB{mem}")

    summary = {
        "spec": str(spec_path.relative_to(ROOT) if spec_path.is_relative_to(ROOT)
                    else spec_path),
        "task": args.task, "n_train": data.n, "n_test": test.n, "batch": lifted.batch,
        "epochs": epochs, "tau": lifted.tau, "sgd": {"lr": args.lr, "momentum": args.momentum},
        "dtype": task.dtype, "repeats": args.repeats, "target_psnr": target,
        "results": results, "ratios": ratios, "adam_lr": args.adam_lr,
        # ru_maxrss: the peak of the whole run (every method in one process), KiB on Linux
        "peak_rss_mib": peak_rss_mib(), "training_memory_mib_by_method": peaks,
        "runs": {name: list(r) for name, r in runs.items()},
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                    "torch_threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    write_json_atomic(out, summary)
    print(f"\nwrote {out}")
    if args.figure:
        plot_runs(summary, Path(args.figure))
        print(f"wrote {args.figure}")


def plot_runs(summary: dict[str, Any], path: Path) -> None:
    """Test PSNR against training time and against epoch, one line per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_epoch) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, r in summary["results"].items():
        psnrs = r["test_psnr_by_epoch"]
        by_time.plot(np.cumsum(r["s_per_epoch_list"]), psnrs, "o-", label=name, markersize=3)
        by_epoch.plot(range(1, len(psnrs) + 1), psnrs, "o-", label=name, markersize=3)
    by_time.set_xlabel("training time (s)")
    by_epoch.set_xlabel("epoch")
    for ax in (by_time, by_epoch):
        ax.set_ylabel("test PSNR (dB)")
        ax.grid(alpha=0.3)
    by_epoch.legend(fontsize=8)
    fig.suptitle(f"{Path(summary['spec']).name}: {summary['n_train']} training images, "
                 f"{summary['dtype']}", fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".part")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(path)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (kB) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> float | None:
    """Reset the process's peak resident set to the current one; that one (MiB), or None where
    the kernel offers no reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return status_mib("VmRSS")
    except (OSError, KeyError):
        return None


def isolated(names: list[str], argv: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Each method by this script in a process of its own (``--only NAME``): its runs (epoch
    times, PSNRs) and its training memory."""
    keep = []
    skip = False
    for a in argv:                       # the same options, minus those this call replaces
        if skip:
            skip = False
        elif a in ("--only", "--out"):
            skip = True
        elif a != "--isolate" and not a.startswith(("--only=", "--out=")):
            keep.append(a)
    runs, peaks = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = Path(tmp) / "one.json"
            subprocess.run([sys.executable, __file__, *keep, "--only", name, "--out", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            one = json.loads(out.read_text())
            runs[name] = tuple(one["runs"][name])
            if name in one["training_memory_mib_by_method"]:
                peaks[name] = one["training_memory_mib_by_method"][name]
                print(f"  {name}: +{peaks[name]:.1f} MiB while training (own process)",
                      flush=True)
    return runs, peaks


if __name__ == "__main__":
    main()
