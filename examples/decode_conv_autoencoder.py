"""Seed experiment 5 at the seed's size (math.md §6.5): decode the 300-entry code of a six-layer
convolutional autoencoder on 28×28 MNIST digits by inverting its encoder with TV.

1. ``specs/seed5_conv_autoencoder.lbn`` trains the autoencoder (Adam backprop, float32) into
   ``OUT/train-cae/`` — or ``--weights W.npz`` reuses a trained one.
2. ``specs/seed5_conv_decode.lbn`` (a copy in OUT that reads those weights) recovers test digits
   (never seen in training) from their codes ``c = N(u†)``: the lifted Bregman inversion with
   ``9e-3 · TV`` and ``0 <= u <= 1``, the seed's method (``--set truth=image("mnist", …)``).
3. Against it, on the same codes:
   * the trained decoder (what the inversion replaces);
   * PyTorch L-BFGS (strong Wolfe) on the quadratic misfit ``½‖N(u) − c‖² + 9e-3 · TV_ε(u)``
     (ε = 1e-3, the same forward differences and Neumann boundary as lbdsl's TV; no box: the
     result is clipped to [0, 1] for the metrics) from ``u = 0``, the encoder as the
     ``torch.nn.Sequential`` of ``spec.to_torch()``, until two steps agree to 1e-10 or 300
     steps;
   * lbdsl's own quadratic-fidelity solve of the same problem as PyTorch's (``--set
     fidelity=l2 --set regulariser=tv``: lbfgs, no box, clipped to [0, 1] the same way; with
     the box its projected steps take several times longer here, docs/performance.md).
   PSNR and SSIM against the digit (peak: its max − min), the quadratic objective above at
   each result (clipped to the box, so every method is scored on one function), wall time.
4. ``OUT/decode_conv_autoencoder.json`` and ``OUT/decode_conv_autoencoder.png`` (rows: digit,
   decoder, Bregman–TV inversion, PyTorch L-BFGS, lbdsl lbfgs).

    OPENBLAS_NUM_THREADS=1 python examples/decode_conv_autoencoder.py         # 5 digits, ~6 min
    python examples/decode_conv_autoencoder.py --digits 2 --epochs 2 --out results/cae
    python examples/decode_conv_autoencoder.py --weights lbdsl-out/seed5-conv/train-cae/weights.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import lbdsl
from lbdsl.outputs import write_json_atomic
from lbdsl.tasks.report import quality
from lbdsl.training import predict

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SPEC = ROOT / "specs" / "seed5_conv_autoencoder.lbn"
DECODE_SPEC = ROOT / "specs" / "seed5_conv_decode.lbn"
SAVED_WEIGHTS = "../lbdsl-out/seed5-conv/train-cae/weights.npz"   # what the decode spec reads
ALPHA = 9e-3
EPS = 1e-3


def tv_eps(u: Any) -> Any:
    """``Σ_ij sqrt((∇u)₁² + (∇u)₂² + ε²)``: forward differences, zero across the last row and
    column (Neumann), as :class:`lbdsl.prox.regularisers.tv.TV`."""
    import torch

    dx = torch.zeros_like(u)
    dy = torch.zeros_like(u)
    dx[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    dy[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    return torch.sqrt(dx * dx + dy * dy + EPS * EPS).sum()


def quadratic_objective(encoder: Any, code: np.ndarray, u: np.ndarray) -> float:
    """``½‖N(u) − c‖² + α TV_ε(u)``: the one objective every method's result is scored on."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.asarray(u, dtype=np.float64)[None])
        r = encoder(x).reshape(1, -1) - torch.from_numpy(np.asarray(code).reshape(1, -1))
        return float(0.5 * (r * r).sum() + ALPHA * tv_eps(x))


def torch_lbfgs(encoder: Any, code: np.ndarray, shape: tuple[int, ...],
                ) -> tuple[np.ndarray, float]:
    """``argmin_u ½‖N(u) − c‖² + α TV_ε(u)`` by ``torch.optim.LBFGS`` from 0; (u, seconds)."""
    import torch

    c = torch.from_numpy(np.asarray(code, dtype=np.float64).reshape(1, -1))
    u = torch.zeros((1, *shape), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([u], lr=1.0, max_iter=20, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=0.0,
                            tolerance_change=0.0)

    def objective() -> Any:
        r = encoder(u).reshape(1, -1) - c
        return 0.5 * (r * r).sum() + ALPHA * tv_eps(u)

    def closure() -> Any:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    start, last = time.perf_counter(), None
    for _ in range(300):
        opt.step(closure)
        value = float(objective().detach())
        if last is not None and abs(last - value) <= 1e-10 * max(abs(value), 1.0):
            break
        last = value
    seconds = time.perf_counter() - start
    return np.clip(u.detach().numpy().reshape(shape), 0.0, 1.0), seconds


def figure(rows: list[dict[str, Any]], images: list[dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"truth": "test digit", "decoder": "trained decoder",
              "bregman": "Bregman–TV inversion", "torch": "PyTorch L-BFGS (quadratic)",
              "lbfgs": "lbdsl lbfgs (quadratic)"}
    fig, axes = plt.subplots(len(labels), len(images), squeeze=False,
                             figsize=(1.6 * len(images) + 1.8, 1.7 * len(labels)))
    for j, (row, ims) in enumerate(zip(rows, images)):
        for i, key in enumerate(labels):
            ax = axes[i, j]
            ax.imshow(ims[key], cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if key != "truth":
                ax.set_title(f"{row[key]['psnr']:.1f} dB", fontsize=8)
            if j == 0:
                ax.set_ylabel(labels[key], fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".part")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=5, help="how many test digits (from 0)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the spec's 15)")
    parser.add_argument("--weights", default=None,
                        help="a trained autoencoder's weights.npz (skips the training)")
    parser.add_argument("--out", default=str(ROOT / "lbdsl-out" / "decode_conv_autoencoder"))
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    verbose = not args.quiet

    trainer = lbdsl.load(TRAIN_SPEC)
    autoencoder = trainer.networks["cae"]
    if args.weights:
        weights_path = Path(args.weights).resolve()
        with np.load(weights_path, allow_pickle=False) as f:
            weights = {k: f[k] for k in f.files}
        training = {"weights": str(weights_path)}
    else:
        overrides = ["figures=false"] + ([f"optimizer.epochs={args.epochs}"]
                                         if args.epochs else [])
        (trained,) = trainer.solve(out=out, overrides=overrides, verbose=verbose)
        if not trained.ok:
            sys.exit(f"training failed: {trained.error}")
        weights, weights_path = trained.weights, (trained.path / "weights.npz").resolve()
        training = {"epochs": trained.report["epochs"], "seconds": trained.report.get("seconds"),
                    "validation_psnr": trained.report.get("psnr")}
    decode_spec = out / DECODE_SPEC.name
    text = DECODE_SPEC.read_text(encoding="utf-8")
    assert SAVED_WEIGHTS in text
    decode_spec.write_text(text.replace(SAVED_WEIGHTS, str(weights_path)), encoding="utf-8")
    encoder = lbdsl.load(decode_spec).to_torch()

    rows, images = [], []
    for index in range(args.digits):
        truth_setting = f'truth=image("mnist", size = 28x28, index = {index})'
        solved = {}
        for name, extra in (("bregman", []), ("lbfgs", ["fidelity=l2", "regulariser=tv"])):
            spec = lbdsl.load(decode_spec, overrides=[truth_setting, *extra])
            start = time.perf_counter()
            (result,) = spec.solve(out=out / f"digit-{index}-{name}", verbose=verbose)
            if not result.ok:
                sys.exit(f"inverting digit {index} ({name}) failed: {result.error}")
            solved[name] = (result, time.perf_counter() - start)
        truth = np.asarray(solved["bregman"][0].arrays["truth"])
        code = np.asarray(solved["bregman"][0].arrays["f"])
        decoded = np.asarray(predict(autoencoder, weights, truth[None])).reshape(truth.shape)
        by_torch, torch_seconds = torch_lbfgs(encoder, code, truth.shape)
        ims = {"truth": truth, "decoder": np.clip(decoded, 0.0, 1.0),
               "bregman": solved["bregman"][0].u.reshape(truth.shape),
               "lbfgs": np.clip(solved["lbfgs"][0].u.reshape(truth.shape), 0.0, 1.0),
               "torch": by_torch}
        row: dict[str, Any] = {"index": index}
        for key in ("decoder", "bregman", "torch", "lbfgs"):
            q = quality(truth, ims[key], image=True)
            row[key] = {"psnr": q["psnr"], "ssim": q["ssim"],
                        "quadratic_objective": quadratic_objective(encoder, code, ims[key])}
        row["bregman"]["seconds"] = solved["bregman"][1]
        row["lbfgs"]["seconds"] = solved["lbfgs"][1]
        row["torch"]["seconds"] = torch_seconds
        rows.append(row)
        images.append(ims)

    methods = ("decoder", "bregman", "torch", "lbfgs")
    print("\nseed experiment 5: decode the 300-entry code of a conv autoencoder (28×28 MNIST)")
    print(f"{'digit':>6}" + "".join(f"{m:>18}" for m in methods))
    for row in rows:
        print(f"{row['index']:>6}" + "".join(
            f"{row[m]['psnr']:>9.2f} dB {row[m]['ssim']:.2f}" for m in methods))
    means = {m: {k: float(np.mean([r[m][k] for r in rows])) for k in row[m]} for m in methods}
    print(f"{'mean':>6}" + "".join(f"{means[m]['psnr']:>9.2f} dB {means[m]['ssim']:.2f}"
                                   for m in methods))
    print("seconds per digit: " + ", ".join(f"{m} {means[m]['seconds']:.1f}"
                                            for m in methods if "seconds" in means[m]))
    print("quadratic objective (mean): " + ", ".join(
        f"{m} {means[m]['quadratic_objective']:.4f}" for m in methods))
    figure(rows, images, out / "decode_conv_autoencoder.png")
    write_json_atomic(out / "decode_conv_autoencoder.json",
                      {"experiment": 5, "alpha": ALPHA, "tv_eps_torch": EPS,
                       "regulariser": "tv + box(0, 1)", "training": training,
                       "digits": rows, "mean": means})
    print(f"wrote {out / 'decode_conv_autoencoder.json'} and decode_conv_autoencoder.png")


if __name__ == "__main__":
    main()
