"""Three PyTorch models of the architectures lbdsl reads, imported and checked.

* ``ResidualMLP`` — ``x ± Linear(σ(Linear(x)))`` with ``nn.Linear``'s biases: residual layers
  with a branch bias, ``h = x + V @ relu(W @ x + b) + c``;
* ``ConvAutoencoder`` — conv encoder, ``Linear`` → ``view(-1, C, H, W)`` →
  ``ConvTranspose2d`` decoder: ``dense(x, CxHxW)`` and ``conv_t``;
* ``UnrolledDualFB`` — the seed's proximal network (dual forward–backward unrolled,
  ``u ← clip(u − τ L(Lᵀu − z))``, ``x = z − L_Kᵀ u``) with each kernel shared between
  ``F.conv2d`` and ``F.conv_transpose2d`` and the input fed to every layer: tied kernels and
  skip inputs.

``python examples/torch_models.py [--out DIR]`` imports each (``lbdsl.from_torch``), prints the
spec it wrote and the largest difference from the module on random inputs (float64).  The
tests (tests/exchange/test_torch_models.py) and ``bench/imported.py`` use these classes.
Needs ``torch==2.13.0`` and ``onnx``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResidualMLP", "ConvAutoencoder", "UnrolledDualFB", "MODELS", "onnx_bytes"]


class ResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a1, self.v1 = nn.Linear(6, 10), nn.Linear(10, 6)
        self.a2, self.v2 = nn.Linear(6, 10), nn.Linear(10, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):  # noqa: ANN001, ANN201
        x = x + self.v1(torch.relu(self.a1(x)))
        x = x - self.v2(torch.tanh(self.a2(x)))
        return self.out(x)


class ConvAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.e1, self.e2 = nn.Conv2d(1, 4, 3, 2, 1), nn.Conv2d(4, 8, 3, 2, 1)
        self.code, self.up = nn.Linear(72, 10), nn.Linear(10, 72)
        self.d1 = nn.ConvTranspose2d(8, 4, 3, 2, 1, 1)
        self.d2 = nn.ConvTranspose2d(4, 1, 3, 2, 1, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        h = torch.relu(self.e2(torch.relu(self.e1(x))))
        c = torch.relu(self.code(h.flatten(1)))
        h = torch.relu(self.up(c)).view(-1, 8, 3, 3)
        return torch.sigmoid(self.d2(torch.relu(self.d1(h))))


class UnrolledDualFB(nn.Module):
    """``u_{k+1} = clip_λ(u_k − τ L_k(L_kᵀ u_k − z))``, ``x = z − L_Kᵀ u_K`` (u_0 = 0)."""

    def __init__(self, layers: int = 3, channels: int = 4, tau: float = 0.4,
                 lam: float = 0.1) -> None:
        super().__init__()
        self.L = nn.ParameterList([nn.Parameter(0.3 * torch.randn(channels, 1, 3, 3))
                                   for _ in range(layers)])
        self.tau, self.lam = tau, lam

    def forward(self, z):  # noqa: ANN001, ANN201
        u = torch.clamp(self.tau * F.conv2d(z, self.L[0], padding=1), -self.lam, self.lam)
        for L in self.L[1:]:
            r = F.conv_transpose2d(u, L, padding=1) - z
            u = torch.clamp(u - self.tau * F.conv2d(r, L, padding=1), -self.lam, self.lam)
        return z - F.conv_transpose2d(u, self.L[-1], padding=1)


#: name → (class, input shape without the batch)
MODELS = {
    "residual_mlp": (ResidualMLP, (6,)),
    "conv_autoencoder": (ConvAutoencoder, (1, 12, 12)),
    "unrolled_dual_fb": (UnrolledDualFB, (1, 8, 8)),
}


def onnx_bytes(module: nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> bytes:
    """``module`` (in eval mode, in ``dtype``) as ``torch.onnx.export`` writes it: the
    TorchScript exporter at opset 20, batch axis dynamic, constants folded — what
    ``lbdsl.from_torch`` reads."""
    import io
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the TorchScript exporter's deprecation
        torch.onnx.export(module.to(dtype).eval(), (torch.zeros(2, *shape, dtype=dtype),),
                          buffer, dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          opset_version=20, do_constant_folding=True)
    return buffer.getvalue()


def main() -> None:
    import lbdsl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="lbdsl-out/torch_models")
    args = parser.parse_args()
    for name, (make, shape) in MODELS.items():
        torch.manual_seed(0)
        module = make().double().eval()
        spec = lbdsl.from_torch(module, torch.zeros(2, *shape, dtype=torch.float64),
                                out=Path(args.out), name=name)
        x = np.random.default_rng(0).standard_normal((5, *shape))
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        print((Path(args.out) / f"{name}.lbn").read_text())
        print(f"{name}: max |lbdsl − torch| = {np.abs(spec.forward(x) - want).max():.2e}\n")


if __name__ == "__main__":
    main()
