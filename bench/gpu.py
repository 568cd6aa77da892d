"""lbdsl on a GPU (CuPy) against NumPy and PyTorch on the same machine, in one process.

    python bench/gpu.py [--backend cupy] [--out gpu.json]     # on the GPU machine
    python bench/gpu.py --dry-run [--out gpu-dry.json]          # anywhere: array_api_strict

Measured, each on ``--backend`` and on NumPy (and on PyTorch CUDA where torch has CUDA):

1. **experiment 1** (``specs/perceptron.lbn``: ReLU 64×64 → 512, 0.015·TV): ``pdhg`` to
   ``tol = 1e-8`` in float64 — seconds, iterations, and the relative difference of the optimum
   from NumPy's (the check: ≤ 1e-8);
2. **a batch** of 64 right-hand sides in one ``pdhg`` call to ``tol = 1e-4`` (seconds per problem);
3. **a large perceptron** 4096 = 64×64 → 8192, ``pdhg`` (``precond``: m > ``max_gram``) for a
   fixed number of iterations: seconds per iteration, against the floor of one ``W @ x`` plus one
   ``W.T @ y`` on the same backend (and PyTorch's floor);
4. **one epoch** of the seed's 784-784-784-784-784 denoising autoencoder on 1000 samples (batch
   50): lifted ``implicit_sgd(inner = 10)``, and backpropagation with Adam, against a PyTorch Adam
   epoch of the same network.

Absolute times mean something on the GPU (nothing else runs there); the JSON records the device.
``--dry-run`` runs every code path above on ``array_api_strict`` at small sizes (experiment 1
at 16×16, a 256 → 512 perceptron, a 64-wide autoencoder on 64 samples), so that the GPU run
finds nothing new to break; ``tests/bench/test_gpu_dry_run.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lbdsl.backend import namespace
from lbdsl.program import build_module
from lbdsl.training.settings import Adam, ImplicitSGD
from lbdsl.lift.compact import lift
from lbdsl.prox.regularisers import TV
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from lbdsl.solvers.problems import InverseProblem, Term
from lbdsl.syntax.parser import parse
from lbdsl.training import train

ALPHA = 0.015


def _sync(xp: Any) -> None:
    """Wait for the device (CuPy runs asynchronously); a no-op elsewhere."""
    module = getattr(xp, "__name__", "")
    if "cupy" in module:
        import cupy

        cupy.cuda.Device().synchronize()


def timed(xp: Any, fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        _sync(xp)
        start = time.perf_counter()
        out = fn()
        _sync(xp)
        best = min(best, time.perf_counter() - start)
    return best, out


def perceptron(side: int, hidden: int) -> Any:
    src = f"""network p {{ input u : {side}x{side}
      param W : {hidden}x{side * side} = normal(std = 1, seed = 0)
      param b : {hidden} = normal(std = 1, seed = 1)
      h = relu(W @ u + b)  output h }}"""
    (net,) = build_module(parse(src, "gpu.lbn")).networks.values()
    return net


def data(net: Any, side: int, seeds: tuple[int, ...]) -> np.ndarray:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    truth = resize(shepp_logan_phantom(), (side, side), anti_aliasing=True)
    truth = (truth - truth.min()) / (truth.max() - truth.min())
    W, b = net.params["W"].value, net.params["b"].value
    clean = np.maximum(W @ truth.reshape(-1) + b, 0.0)
    fs = [clean + 0.01 * np.random.default_rng(s).standard_normal(clean.shape) for s in seeds]
    return np.maximum(np.stack(fs), 0.0)


def inverse_problem(net: Any, xp: Any, f: np.ndarray, side: int) -> InverseProblem:
    lp = lift(net, xp, xp.float64)
    return InverseProblem(lp, xp.asarray(f[0] if f.shape[0] == 1 else f),
                          terms=(Term(ALPHA, TV((side, side))),))


def experiment1(xp: Any, side: int) -> dict[str, Any]:
    net = perceptron(side, 512 if side == 64 else 64)
    f = data(net, side, (3,))
    out: dict[str, Any] = {}
    for name, ns in (("backend", xp), ("numpy", namespace("numpy"))):
        prob = inverse_problem(net, ns, f, side)
        settings = PDHGSettings(Stopping(max_iter=20000, tol=1e-8))
        seconds, res = timed(ns, lambda: pdhg(prob, settings))
        out[name] = {"seconds": seconds, "iterations": res.iterations,
                     "objective": res.objective, "stop": res.stop_reason,
                     "variant": res.solver}
    ref = out["numpy"]["objective"]
    out["relative_objective_difference"] = abs(out["backend"]["objective"] - ref) / abs(ref)
    out["same_optimum"] = out["relative_objective_difference"] <= 1e-8
    return out


def batch(xp: Any, side: int, n: int) -> dict[str, Any]:
    net = perceptron(side, 512 if side == 64 else 64)
    f = data(net, side, tuple(range(100, 100 + n)))
    out: dict[str, Any] = {"right_hand_sides": n}
    for name, ns in (("backend", xp), ("numpy", namespace("numpy"))):
        prob = inverse_problem(net, ns, f, side)
        seconds, res = timed(ns, lambda: pdhg(prob, PDHGSettings(Stopping(max_iter=5000,
                                                                          tol=1e-4))))
        out[name] = {"seconds_per_problem": seconds / n, "iterations": res.iterations}
    return out


def large(xp: Any, side: int, hidden: int, iterations: int) -> dict[str, Any]:
    net = perceptron(side, hidden)
    f = data(net, side, (3,))
    out: dict[str, Any] = {"shape": [hidden, side * side], "iterations": iterations}
    torch_floor = _torch_floor(net)
    if torch_floor is not None:
        out["torch_cuda_floor_s"] = torch_floor
    for name, ns in (("backend", xp), ("numpy", namespace("numpy"))):
        prob = inverse_problem(net, ns, f, side)
        settings = PDHGSettings(Stopping(max_iter=iterations, tol=1e-30, check_every=10),
                                variant="precond")
        seconds, res = timed(ns, lambda: pdhg(prob, settings))
        W = ns.asarray(net.params["W"].value)
        x, y = ns.ones((side * side,), dtype=W.dtype), ns.ones((hidden,), dtype=W.dtype)
        floor, _ = timed(ns, lambda: (W @ x, ns.matmul(y, W)), repeats=5)
        out[name] = {"seconds_per_iteration": seconds / res.iterations, "floor_s": floor,
                     "per_iteration_over_floor": seconds / res.iterations / floor}
    return out


def _torch_floor(net: Any) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    W = torch.tensor(net.params["W"].value, device="cuda")
    x = torch.ones(W.shape[1], device="cuda", dtype=W.dtype)
    y = torch.ones(W.shape[0], device="cuda", dtype=W.dtype)
    best = math.inf
    for _ in range(5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        W @ x, y @ W
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def dae(width: int) -> Any:
    src = f"""network dae {{ input x : {width}
      z1 = relu(dense(x, {width}))  z2 = relu(dense(z1, {width}))
      z3 = soft(dense(z2, {width}), theta = 0.01)  z4 = relu(dense(z3, {width}))
      y = dense(z4, {width})  output y }}"""
    (net,) = build_module(parse(src, "dae.lbn")).networks.values()
    return net


def epoch(xp: Any, width: int, n: int) -> dict[str, Any]:
    net = dae(width)
    rng = np.random.default_rng(0)
    targets = rng.random((n, width))
    inputs = targets + 0.1 * rng.standard_normal((n, width))
    out: dict[str, Any] = {"width": width, "samples": n, "batch": 50}
    for name, ns in (("backend", xp), ("numpy", namespace("numpy"))):
        row: dict[str, Any] = {}
        for label, settings, loss in (
                ("lifted_implicit_sgd", ImplicitSGD(epochs=1, batch=50, inner=10), "bregman"),
                ("backprop_adam", Adam(lr=1e-3, epochs=1, batch=50), "mse")):
            seconds, res = timed(ns, lambda s=settings, l=loss: train(
                net, inputs, targets, s, loss=l, xp=ns, dtype="float32"))
            row[label] = {"seconds": seconds,
                          "mse_loss": float(res.history.metrics["mse_loss"][-1])}
        out[name] = row
    torch_epoch = _torch_adam_epoch(width, inputs, targets)
    if torch_epoch is not None:
        out["torch_cuda_adam_s"] = torch_epoch
    return out


def _torch_adam_epoch(width: int, inputs: np.ndarray, targets: np.ndarray) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    layers = []
    for act in (torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Softshrink(0.01), torch.nn.ReLU()):
        layers += [torch.nn.Linear(width, width), act]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, width)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.tensor(inputs, dtype=torch.float32, device="cuda")
    y = torch.tensor(targets, dtype=torch.float32, device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(0, x.shape[0], 50):
        opt.zero_grad()
        loss = 0.5 * ((model(x[i:i + 50]) - y[i:i + 50]) ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def device(xp: Any) -> str:
    if "cupy" in getattr(xp, "__name__", ""):
        import cupy

        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return f"{platform.processor() or platform.machine()} (no GPU: {xp.__name__})"


def torch_report() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"installed": False}
    return {"installed": True, "version": torch.__version__,
            "cuda": bool(torch.cuda.is_available())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="cupy")
    parser.add_argument("--dry-run", action="store_true",
                        help="array_api_strict at small sizes: every code path, no GPU")
    parser.add_argument("--out", default="bench/gpu.json")
    args = parser.parse_args(argv)
    backend = "array_api_strict" if args.dry_run else args.backend
    xp = namespace(backend)
    small = args.dry_run
    results: dict[str, Any] = {"backend": backend, "device": device(xp),
                               "torch": torch_report(), "dry_run": small}
    steps = {
        "experiment1": lambda: experiment1(xp, 16 if small else 64),
        "batch": lambda: batch(xp, 16 if small else 64, 4 if small else 64),
        "large_perceptron": lambda: large(xp, 16 if small else 64, 512 if small else 8192,
                                          20 if small else 200),
        "dae_epoch": lambda: epoch(xp, 64 if small else 784, 64 if small else 1000),
    }
    for name, step in steps.items():
        start = time.perf_counter()
        results[name] = step()
        print(f"{name}: {time.perf_counter() - start:.1f} s  {json.dumps(results[name])}",
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return 0 if results["experiment1"]["same_optimum"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
