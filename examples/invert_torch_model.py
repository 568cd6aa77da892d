"""A PyTorch model, inverted by lbdsl: decode digits from their codes without the decoder.

1. Train a small autoencoder in PyTorch on scikit-learn's 8×8 digits (encoder
   ``Flatten → Linear(64, 32) → ReLU``, decoder ``Linear(32, 64) → Sigmoid``; Adam, full batch).
2. ``lbdsl.from_torch(encoder, x)`` exports it through ``torch.onnx`` and imports it:
   ``OUT/encoder.lbn`` (input ``u : 8x8``) and ``OUT/encoder.npz``.
3. An invert task appended to that spec recovers test digits (never trained on) from their
   codes: ``fidelity = bregman`` (convex: one ReLU layer) and ``fidelity = hybrid``, TV with
   ``0 ≤ u ≤ 1``, α = 9·10⁻³ as in seed experiment 5; all digits as one batch.
4. The trained decoder decodes the same codes.  PSNR against the digits, for each method.

    python examples/invert_torch_model.py [--digits 20] [--out lbdsl-out/invert_torch_model]

About 15 s on 2 cores (docs/interop.md has a run's numbers).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

TASK = """
invert {net} {{
    truth       = load("truth.npy")
    data        = load("codes.npy")
    fidelity    = {fidelity}
    regulariser = tv + box(0, 1)
    alpha       = 9e-3
    figures     = false
}}
"""


def psnr(truth: np.ndarray, u: np.ndarray) -> float:
    """The mean over images of lbdsl's report PSNR (peak: each image's max − min)."""
    from lbdsl.tasks.report import quality

    return float(np.mean([quality(t, x, image=False)["psnr"]
                          for t, x in zip(truth, u.reshape(truth.shape))]))


def main() -> None:
    import torch
    from sklearn.datasets import load_digits

    import lbdsl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=20, help="test digits to decode")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--out", default=str(ROOT / "lbdsl-out" / "invert_torch_model"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    images = (load_digits().images / 16.0).astype(np.float32)       # (1797, 8, 8) in [0, 1]
    train, test = torch.from_numpy(images[:1500]), images[1500:1500 + args.digits]

    # 1. the PyTorch autoencoder
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU())
    decoder = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Sigmoid())
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-2)
    began = time.perf_counter()
    for _ in range(args.epochs):
        opt.zero_grad()
        loss = torch.mean((decoder(encoder(train)).reshape(-1, 8, 8) - train) ** 2)
        loss.backward()
        opt.step()
    print(f"trained in {time.perf_counter() - began:.1f} s, training MSE {loss.item():.4f}")

    # 2. the encoder into lbdsl
    spec = lbdsl.from_torch(encoder, train[:1], out=out, name="encoder")
    net = spec.network()
    print(f"imported: {spec}")
    with torch.no_grad():
        codes = encoder(torch.from_numpy(test)).numpy().astype(np.float64)
        decoded = decoder(torch.from_numpy(codes).float()).numpy().reshape(test.shape)
    assert np.allclose(spec.forward(test.astype(np.float64)), codes, atol=1e-5)

    # 3. invert it with TV, one batch of digits per fidelity
    np.save(out / "truth.npy", test.astype(np.float64))
    np.save(out / "codes.npy", codes)
    text = (out / "encoder.lbn").read_text(encoding="utf-8")
    rows = [("PyTorch decoder", psnr(test, decoded), 0.0)]
    for fidelity in ("bregman", "hybrid"):
        task_spec = out / f"decode_{fidelity}.lbn"
        task_spec.write_text(text + TASK.format(net=net.name, fidelity=fidelity),
                             encoding="utf-8")
        (result,) = lbdsl.load(task_spec).solve(out=out / fidelity, verbose=False)
        if not result.ok:
            raise SystemExit(f"{fidelity}: {result.error}")
        rows.append((f"lbdsl invert, {fidelity}", psnr(test, result.u),
                     float(result.report["time_s"])))

    # 4. the table
    print(f"\n{args.digits} test digits, mean PSNR (dB):")
    for name, value, seconds in rows:
        print(f"  {name:<26} {value:6.2f}" + (f"   ({seconds:.1f} s)" if seconds else ""))


if __name__ == "__main__":
    main()
