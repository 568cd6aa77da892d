"""Seed experiment 4 (math.md §6.4): a sparse denoising autoencoder on digits, trained by lifted
Bregman training and by backpropagation with SGD and with Adam, at equal epochs, on a small and
a larger training set.  Prints the test PSNR of each and writes JSON.

The network is the one of ``specs/seed4_sparse_dae.lbn`` (64-64-64-64-64: ReLU, ReLU, soft
threshold, ReLU, identity; ``0.01 * l1(z3)`` on the code).  The script writes one spec holding
that network and a ``train`` task per (training-set size, method) and runs it with lbdsl's Python
API — the same as ``lbdsl solve`` on that file.  The test PSNR is the validation PSNR on the
whole test split of the digits (359 images, never in a training set), noisy inputs against clean
targets; the PSNR of the noisy inputs themselves is printed for reference.

    python examples/dae_compare.py                       # 300 and 1000 images, 50 epochs
    python examples/dae_compare.py --sizes 300 1438 --epochs 30 --out results/dae_compare
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np

import lbdsl
from lbdsl.outputs import write_json_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "seed4_sparse_dae.lbn"

#: method → (loss, optimizer call with {epochs} and {batch}); the backprop settings are those of
#: the shipped spec (SGD) and Adam's usual ones.
METHODS = {
    "lifted": ("bregman", "implicit_sgd(epochs = {epochs}, batch = {batch}, tau = 1, inner = 30)"),
    "sgd": ("mse", "sgd(lr = 0.05, epochs = {epochs}, batch = {batch}, momentum = 0.9)"),
    "adam": ("mse", "adam(lr = 0.001, epochs = {epochs}, batch = {batch})"),
}
NOISE = 0.1


def network_block(path: Path) -> str:
    """The ``network dae { ... }`` block of the shipped spec."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^network dae \{.*?^\}", text, flags=re.S | re.M)
    if match is None:
        sys.exit(f"no `network dae {{ ... }}` block in {path}")
    return match.group(0)


def compare_spec(sizes: list[int], epochs: int, batch: int) -> tuple[str, list[tuple[int, str]]]:
    """The spec text and the (size, method) of each of its tasks, in order."""
    parts = ["# Written by examples/dae_compare.py: seed experiment 4, lifted vs backprop.\n",
             network_block(SPEC), ""]
    runs = []
    for n in sizes:
        for method, (loss, optimizer) in METHODS.items():
            parts.append(f"""train dae {{
    data       = digits(n = {n}, split = "train", noise = {NOISE}, seed = 0)
    validation = digits(split = "test", noise = {NOISE}, seed = 1)
    loss       = {loss}
    penalty    = 0.01 * l1(z3)
    optimizer  = {optimizer.format(epochs=epochs, batch=batch)}
}}
""")
            runs.append((n, method))
    return "\n".join(parts), runs


def noisy_input_psnr() -> float:
    """The test PSNR of doing nothing: the noisy inputs against the clean targets."""
    from lbdsl.ir.tasks.records import DigitsData
    from lbdsl.syntax.parser import parse
    from lbdsl.program import build_module
    from lbdsl.tasks.train.pairs import make_pairs

    net = build_module(parse(network_block(SPEC), "<dae>")).networks["dae"]
    pairs = make_pairs(DigitsData(split="test", noise=NOISE, seed=1), net, ROOT, 0)
    mse = float(np.mean((pairs.inputs.reshape(pairs.n, -1) - pairs.targets) ** 2))
    return 10 * math.log10(1.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000],
                        help="training-set sizes (at most 1438, the whole train split)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "lbdsl-out" / "dae_compare"))
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    out = Path(args.out)
    text, runs = compare_spec(args.sizes, args.epochs, args.batch)
    spec_path = out / "dae_compare.lbn"
    write_text_atomic(spec_path, text)
    results = lbdsl.load(spec_path).solve(out=out, overrides=["figures=false"],
                                          verbose=not args.quiet)
    failed = [r for r in results if not r.ok]
    if failed:
        sys.exit(f"{len(failed)} task(s) failed: " + "; ".join(str(r.error) for r in failed))
    rows: dict[int, dict[str, dict]] = {}
    for (n, method), r in zip(runs, results):
        rep = r.report
        rows.setdefault(n, {})[method] = {
            "test_psnr": rep["validation_psnr"], "test_mse": rep["validation_mse"],
            "train_loss": rep["mse_loss"], "epochs": rep["epochs"], "time_s": rep["time_s"],
            "folder": str(r.path)}
    reference = noisy_input_psnr()
    print(f"\nseed experiment 4: sparse DAE 64-64-64-64-64 on digits, {args.epochs} epochs, "
          f"batch {args.batch}, noise {NOISE}")
    print(f"test PSNR (dB) on the {359} test digits; noisy inputs: {reference:.2f} dB\n")
    header = f"{'n train':>8} " + "".join(f"{m:>18}" for m in METHODS)
    print(header)
    print("-" * len(header))
    for n, by_method in rows.items():
        cells = "".join(f"{by_method[m]['test_psnr']:>9.2f} ({by_method[m]['time_s']:5.1f} s)"
                        for m in METHODS)
        print(f"{n:>8} {cells}")
    summary = {"experiment": 4, "network": "64-64-64-64-64 relu,relu,soft(0.05),relu,identity",
               "penalty": "0.01 * l1(z3)", "epochs": args.epochs, "batch": args.batch,
               "noise": NOISE, "test_images": 359, "noisy_input_psnr": reference,
               "methods": {m: {"loss": loss, "optimizer": opt.format(epochs=args.epochs,
                                                                     batch=args.batch)}
                           for m, (loss, opt) in METHODS.items()},
               "results": {str(n): v for n, v in rows.items()}, "spec": str(spec_path)}
    write_json_atomic(out / "dae_compare.json", summary)
    print(f"\nwrote {out / 'dae_compare.json'}")


if __name__ == "__main__":
    main()
