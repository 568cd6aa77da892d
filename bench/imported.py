"""Imported PyTorch models: lbdsl's forward pass against onnxruntime and PyTorch, one process.

The three models of ``examples/torch_models.py`` (a residual MLP with biases, a conv
autoencoder with a ConvTranspose2d decoder, an unrolled dual forward–backward network with
tied kernels) are exported by ``torch.onnx`` and imported by ``lbdsl.import_onnx``; on one
batch, each of

* ``lbdsl``       — ``spec.forward`` (NumPy, float64: the network runtime inversion and
  training run);
* ``onnxruntime`` — the model as PyTorch exported it (float32, what its CPU convolutions have;
  the MLP in float64 too);
* ``torch``       — the module itself (float64, ``torch.no_grad``, one thread)

is timed (the best of ``--repeats``), and the largest difference from PyTorch's output is
printed (the float32 exports round their constants: the network's τ = 0.4 gives ~1e-8).  Ratios are ours ÷ theirs (time: < 1 is faster).

    OPENBLAS_NUM_THREADS=1 python bench/imported.py [--batch 256] [--repeats 5]
        [--out bench/imported.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from frontend import best_of          # bench/ is first on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def _models() -> Any:
    spec = importlib.util.spec_from_file_location("torch_models",
                                                  ROOT / "examples" / "torch_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    import onnxruntime as ort
    import torch

    import lbdsl
    from lbdsl.outputs import write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/imported.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    tm = _models()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, shape) in tm.MODELS.items():
            torch.manual_seed(0)
            module = make().double().eval()
            dtype = torch.float64 if name == "residual_mlp" else torch.float32
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(tm.onnx_bytes(module, shape, dtype))
            module.double()
            spec = lbdsl.import_onnx(path, tmp, name)
            x = np.random.default_rng(0).standard_normal((args.batch, *shape))
            x_ort = x.astype(np.float64 if dtype == torch.float64 else np.float32)
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            xt = torch.from_numpy(x)
            with torch.no_grad():
                want = module(xt).numpy()
                t_torch = best_of(args.repeats, lambda: module(xt))
            t_ours = best_of(args.repeats, lambda: spec.forward(x))
            t_ort = best_of(args.repeats, lambda: session.run(None, {"input": x_ort}))
            err = float(np.abs(spec.forward(x) - want).max())
            rows.append({"model": name, "batch": args.batch, "lbdsl_s": t_ours,
                         "onnxruntime_s": t_ort, "torch_s": t_torch,
                         "lbdsl_over_onnxruntime": t_ours / t_ort,
                         "lbdsl_over_torch": t_ours / t_torch, "max_error_vs_torch": err,
                         "onnxruntime_dtype": str(x_ort.dtype)})
    print(f"{'model':<18} {'lbdsl s':>9} {'ort s':>9} {'torch s':>9} {'÷ ort':>7} "
          f"{'÷ torch':>8} {'|lbdsl − torch|':>16}")
    for r in rows:
        print(f"{r['model']:<18} {r['lbdsl_s']:9.4f} {r['onnxruntime_s']:9.4f} "
              f"{r['torch_s']:9.4f} {r['lbdsl_over_onnxruntime']:7.2f} "
              f"{r['lbdsl_over_torch']:8.2f} {r['max_error_vs_torch']:16.1e}")
    write_json_atomic(Path(args.out), {"machine": platform.platform(),
                                       "processor": platform.processor(), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
