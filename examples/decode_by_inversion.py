"""Seed experiment 5 (math.md §6.5): "replace a trained decoder by a reconstruction method".

1. ``specs/seed5_train_autoencoder.lbn`` trains a 64-32-64 autoencoder on the training digits
   (lifted Bregman training) into ``OUT/train-ae/`` (``--out``; the spec's own ``save``, which
   ``lbdsl solve`` uses, is left alone).
2. ``specs/seed5_decode.lbn`` (a copy in OUT that reads those weights) loads the encoder
   ``z = relu(W1 u + b1)`` and
   recovers test digits (never seen in training) from their 32-entry codes by inverting the
   encoder with TV and ``0 <= u <= 1`` (alpha = 9e-3 as in the seed), one solve per digit
   (``--set truth=image("digit", size = 8x8, index = K)``).
3. The trained decoder ``y = W2 z + b2`` decodes the same codes.  Both are compared with the
   digit by PSNR (peak: the digit's max − min, as in the invert report).

    python examples/decode_by_inversion.py                 # 10 test digits
    python examples/decode_by_inversion.py --digits 3 --epochs 5 --out results/decode
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import lbdsl
from lbdsl.outputs import write_json_atomic
from lbdsl.tasks.report import quality
from lbdsl.training import predict

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SPEC = ROOT / "specs" / "seed5_train_autoencoder.lbn"
SAVED_WEIGHTS = "../lbdsl-out/seed5/train-ae/weights.npz"   # where seed5_decode.lbn loads from
DECODE_SPEC = ROOT / "specs" / "seed5_decode.lbn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=10, help="how many test digits (from 0)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the spec's 30)")
    parser.add_argument("--out", default=str(ROOT / "lbdsl-out" / "decode_by_inversion"),
                        help="where the inversions and the JSON summary go")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    out = Path(args.out)
    verbose = not args.quiet

    # 1. train the autoencoder into OUT/train-ae (not the spec's `save`: a short run here must
    #    not replace the weights that `lbdsl solve specs/seed5_decode.lbn` reads)
    overrides = ["figures=false"] + ([f"optimizer.epochs={args.epochs}"] if args.epochs else [])
    trainer = lbdsl.load(TRAIN_SPEC)
    (trained,) = trainer.solve(out=out, overrides=overrides, verbose=verbose)
    if not trained.ok:
        sys.exit(f"training failed: {trained.error}")
    autoencoder = trainer.networks["ae"]
    decode_spec = out / DECODE_SPEC.name   # the decode spec, reading these weights
    text = DECODE_SPEC.read_text(encoding="utf-8")
    assert SAVED_WEIGHTS in text
    decode_spec.write_text(text.replace(SAVED_WEIGHTS, str((trained.path / "weights.npz")
                                                           .resolve())), encoding="utf-8")

    # 2. invert the encoder, one test digit at a time; 3. decode the same code
    rows = []
    for index in range(args.digits):
        truth_setting = f'truth=image("digit", size = 8x8, index = {index})'
        (inverted,) = lbdsl.load(decode_spec, overrides=[truth_setting]).solve(
            out=out / f"digit-{index}", verbose=verbose)
        if not inverted.ok:
            sys.exit(f"inverting digit {index} failed: {inverted.error}")
        truth = np.asarray(inverted.arrays["truth"])
        decoded = np.asarray(predict(autoencoder, trained.weights, truth[None]))
        by_inversion = quality(truth, inverted.u, image=True)
        by_decoder = quality(truth, decoded.reshape(truth.shape), image=True)
        rows.append({"index": index, "psnr_inversion": by_inversion["psnr"],
                     "psnr_decoder": by_decoder["psnr"], "ssim_inversion": by_inversion["ssim"],
                     "ssim_decoder": by_decoder["ssim"],
                     "iterations": inverted.report["iterations"],
                     "stop_reason": inverted.report["stop_reason"]})

    print("\nseed experiment 5: decode a 32-entry code of a 64-32-64 autoencoder")
    print(f"{'digit':>6} {'inversion (TV)':>16} {'trained decoder':>16}")
    for row in rows:
        inv, dec = row["psnr_inversion"], row["psnr_decoder"]
        print(f"{row['index']:>6} {inv:>13.2f} dB {dec:>13.2f} dB")
    mean_inv = float(np.mean([r["psnr_inversion"] for r in rows]))
    mean_dec = float(np.mean([r["psnr_decoder"] for r in rows]))
    print(f"{'mean':>6} {mean_inv:>13.2f} dB {mean_dec:>13.2f} dB")
    summary = {"experiment": 5, "autoencoder": str(trained.path),
               "epochs": trained.report["epochs"], "train_loss": trained.report["mse_loss"],
               "alpha": 9e-3,
               "regulariser": "tv + box(0, 1)", "digits": rows,
               "mean_psnr_inversion": mean_inv, "mean_psnr_decoder": mean_dec}
    write_json_atomic(out / "decode_by_inversion.json", summary)
    print(f"\nwrote {out / 'decode_by_inversion.json'}")


if __name__ == "__main__":
    main()
