"""Experiment 1 end to end: lbdsl's ``pdhg`` against CVXPY, PyTorch and lbdsl's ``gradient``.

Seed experiment 1 (``bench/experiment1.py``: ReLU perceptron 64×64 → 512, W, b ~ N(0, 1),
Shepp–Logan, 1% noise, ``0.015·TV``).  One process, one core; every timing is the best of
``--repeats`` runs unless a table says otherwise.  Prints ratios (ours ÷ theirs) and writes JSON.

1. **Accuracy.**  ``pdhg(problem, PDHGSettings(Stopping(tol=1e-4)))`` (default variant: ``auto``,
   which picks ``admm`` here) against CVXPY + Clarabel at its default tolerances on the same
   Bregman–TV problem, both judged by the relative objective accuracy ``(F − F*)/F*`` with
   ``F*`` from Clarabel at tolerances 1e-11 (computed in-process, or cached with
   ``--reference FILE``).  Also the oracle time to 1e-4 (``bench/pdhg.py``'s trace: the
   first check at which the accuracy is ≤ 1e-4, setup included).
2. **PSNR.**  The PSNR of the ``pdhg`` solution of (1) is the target.  Peers solve the
   quadratic-fidelity problem ``½‖relu(W u + b) − f‖² + α·TV_ε(u)`` from ``u = 0`` on the raw
   (unprojected) data, ``TV_ε(u) = Σ_i (|∇u|_i² + ε²)^{½}`` with ``ε = --eps``: PyTorch Adam
   (the best of ``--lrs``; the sweep is not counted against it), PyTorch L-BFGS (strong Wolfe),
   and lbdsl's ``gradient`` solver (FISTA with the exact TV prox, no ε).  Time to the first
   PSNR ≥ target, checked every 10 steps (Adam, lbdsl) or every L-BFGS ``step`` (≤ 20
   iterations), the checks not timed for the PyTorch peers; a peer that does not get there
   within ``--cap`` seconds reports the best PSNR it reached and when.
3. **Per iteration.**  ``admm`` and ``precond``: seconds per iteration (after setup; the bare
   ``step`` and through the solver loop with its checks every 10 iterations) ÷ the floor, one
   ``W @ x`` plus one ``W.T @ y`` (NumPy, same dtype).
4. **float32** against float64: (1), (3) and the PyTorch peers of (2) in float32 (accuracy
   always evaluated in float64 against the float64 ``F*``).
5. **Batch.**  64 right-hand sides (noise seeds 100…163) in one ``pdhg`` call against 64
   separate calls, ``tol = 1e-4``; seconds per problem.

Run on one core::

    OPENBLAS_NUM_THREADS=1 python bench/invert.py [--out bench/invert.json] [--repeats 3]
        [--cap 60] [--reference FILE] [--eps 1e-3] [--lrs 1e-2 3e-2 5e-2]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pdhg as pdhg_bench  # noqa: E402  (bench/pdhg.py: the time-to-accuracy trace)
from experiment1 import ALPHA, cvxpy_solve, experiment, objective_np, problem, psnr  # noqa: E402

from lbdsl.solvers import gradient as gradient_solver  # noqa: E402
from lbdsl.solvers.base import Stopping  # noqa: E402
from lbdsl.solvers.pdhg import PDHGSettings, pdhg  # noqa: E402
from lbdsl.solvers.pdhg.admm import ADMM  # noqa: E402
from lbdsl.solvers.driver import run as drive  # noqa: E402
from lbdsl.solvers.pdhg.precond import Preconditioned  # noqa: E402
from lbdsl.solvers.pdhg.problem import single_layer  # noqa: E402

TOL = 1e-4


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(min seconds, the result of the last run)``."""
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def rel_acc(W: np.ndarray, b: np.ndarray, f: np.ndarray, u: Any, fstar: float) -> float:
    return (objective_np(W, b, f, np.asarray(u)) - fstar) / fstar


# --- 1. accuracy ----------------------------------------------------------------------------

def accuracy(args: argparse.Namespace, lp: Any, W: np.ndarray, b: np.ndarray, f: np.ndarray,
             truth: np.ndarray, fstar: float) -> dict[str, Any]:
    runs = []
    for _ in range(args.repeats):
        stats: dict[str, float] = {}
        u_c, t_c = cvxpy_solve(W, b, f, tight=False, stats=stats)
        runs.append((t_c, stats))
    t_c, stats = min(runs, key=lambda r: r[0])   # the stats of the fastest run
    cvx = {"seconds": t_c, "rel": rel_acc(W, b, f, u_c, fstar), "psnr": psnr(u_c, truth),
           **stats}
    prob = problem(lp, f)
    t_p, r = best_of(args.repeats,
                     lambda: pdhg(prob, PDHGSettings(Stopping(max_iter=20000, tol=TOL))))
    ours = {"seconds": t_p, "iterations": r.iterations, "solver": r.solver,
            "rel": rel_acc(W, b, f, r.u, fstar), "psnr": psnr(r.u, truth)}
    never = Stopping(max_iter=10_000_000, tol=1e-15, check_every=10)
    hits = []
    for _ in range(args.repeats):
        row = pdhg_bench.trace(prob, PDHGSettings(never), fstar, budget=10.0)
        row.pop("u")
        hits.append(row)
    oracle = {lv: min((h["hits"][lv]["seconds"] for h in hits if h["hits"][lv]), default=None)
              for lv in ("0.0001", "1e-05", "1e-06")}
    return {"cvxpy": cvx, "pdhg": ours, "pdhg_oracle_seconds": oracle,
            "u": np.asarray(r.u, dtype=np.float64)}


# --- 2. PSNR: the PyTorch peers and lbdsl's gradient on the quadratic problem ---------------

class Quadratic:
    """``½‖relu(W u + b) − f‖² + α·TV_ε(u)`` in PyTorch (forward differences, Neumann)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, f: np.ndarray, truth: np.ndarray,
                 eps: float, dtype: Any, alpha: float = ALPHA) -> None:
        import torch

        self.torch = torch
        self.W, self.b, self.f = (torch.tensor(a, dtype=dtype) for a in (W, b, f))
        self.truth = torch.tensor(truth.reshape(-1), dtype=torch.float64)
        self.shape, self.alpha = truth.shape, alpha
        self.eps2, self.dtype = eps * eps, dtype

    def loss(self, u: Any) -> Any:
        torch = self.torch
        r = torch.relu(self.W @ u + self.b) - self.f
        g = u.view(*self.shape)
        gx = torch.nn.functional.pad(g[1:] - g[:-1], (0, 0, 0, 1))
        gy = torch.nn.functional.pad(g[:, 1:] - g[:, :-1], (0, 1))
        return 0.5 * (r * r).sum() + self.alpha * torch.sqrt(gx * gx + gy * gy + self.eps2).sum()

    def psnr(self, u: Any) -> float:
        mse = float(((u.detach().to(self.torch.float64) - self.truth) ** 2).mean())
        return 10.0 * math.log10(1.0 / mse)

    def start(self) -> Any:
        return self.torch.zeros(self.truth.numel(), dtype=self.dtype, requires_grad=True)


def chase(step: Callable[[], Any], score: Callable[[], float], target: float, cap: float,
          every: int, stop_at_target: bool = True, stall: int = 0) -> dict[str, Any]:
    """Call ``step`` until ``score() ≥ target`` (checked every ``every`` calls, not timed), or
    ``cap`` seconds, or (``stall`` > 0) ``stall`` checks without a change of the loss."""
    clock, k, hit = 0.0, 0, None
    best = (-math.inf, 0.0, 0)
    last, same = None, 0
    while clock < cap:
        start = time.perf_counter()
        loss = step()
        clock += time.perf_counter() - start
        k += 1
        if k % every:
            continue
        p = score()
        if p > best[0]:
            best = (p, clock, k)
        if hit is None and p >= target:
            hit = {"seconds": clock, "steps": k}
            if stop_at_target:
                break
        value = float(loss)
        same = same + 1 if value == last else 0
        last = value
        if stall and same >= stall:
            break
    return {"hit": hit, "best_psnr": best[0], "best_seconds": best[1], "best_steps": best[2],
            "final_psnr": score(), "final_seconds": clock, "steps": k}


def adam_run(q: Quadratic, lr: float, target: float, cap: float) -> dict[str, Any]:
    u = q.start()
    opt = q.torch.optim.Adam([u], lr=lr)

    def step() -> Any:
        opt.zero_grad()
        loss = q.loss(u)
        loss.backward()
        opt.step()
        return loss.detach()

    return chase(step, lambda: q.psnr(u), target, cap, every=10)


def lbfgs_run(q: Quadratic, target: float, cap: float, to_the_end: bool) -> dict[str, Any]:
    u = q.start()
    opt = q.torch.optim.LBFGS([u], lr=1.0, max_iter=20, history_size=20,
                              line_search_fn="strong_wolfe", tolerance_grad=0.0,
                              tolerance_change=0.0)

    def closure() -> Any:
        opt.zero_grad()
        loss = q.loss(u)
        loss.backward()
        return loss

    return chase(lambda: opt.step(closure).detach(), lambda: q.psnr(u), target, cap, every=1,
                 stop_at_target=not to_the_end, stall=10 if to_the_end else 0)


def peers(args: argparse.Namespace, W: np.ndarray, b: np.ndarray, f_raw: np.ndarray,
          truth: np.ndarray, target: float, dtype_name: str,
          lrs: tuple[float, ...]) -> dict[str, Any]:
    """Adam (sweep over ``lrs``, then the best one repeated) and L-BFGS, in one dtype."""
    import torch

    torch.set_num_threads(1)
    q = Quadratic(W, b, f_raw, truth, args.eps, getattr(torch, dtype_name))
    sweep = {}
    for lr in lrs:
        sweep[f"{lr:g}"] = adam_run(q, lr, target, args.cap)
        print(f"  [{dtype_name}] Adam lr {lr:g}: " + _describe(sweep[f"{lr:g}"]), flush=True)
    best_lr = min(lrs, key=lambda lr: (sweep[f"{lr:g}"]["hit"] is None,
                                       sweep[f"{lr:g}"]["hit"]["seconds"]
                                       if sweep[f"{lr:g}"]["hit"] else -sweep[f"{lr:g}"]
                                       ["best_psnr"]))
    adam = dict(sweep[f"{best_lr:g}"])
    if adam["hit"] is not None:
        for _ in range(args.repeats - 1):
            again = adam_run(q, best_lr, target, args.cap)
            if again["hit"] and again["hit"]["seconds"] < adam["hit"]["seconds"]:
                adam["hit"] = again["hit"]
    first = lbfgs_run(q, target, args.cap, to_the_end=True)
    lbfgs = dict(first)
    print(f"  [{dtype_name}] L-BFGS: " + _describe(first) +
          f"; stalls/ends at {first['final_psnr']:.2f} dB after {first['final_seconds']:.1f} s",
          flush=True)
    if lbfgs["hit"] is not None:
        for _ in range(args.repeats - 1):
            again = lbfgs_run(q, target, args.cap, to_the_end=False)
            if again["hit"] and again["hit"]["seconds"] < lbfgs["hit"]["seconds"]:
                lbfgs["hit"] = again["hit"]
    return {"adam_sweep": sweep, "adam_lr": best_lr, "adam": adam, "lbfgs": lbfgs}


def _describe(row: dict[str, Any]) -> str:
    if row["hit"] is not None:
        return f"target at {row['hit']['seconds']:.2f} s ({row['hit']['steps']} steps)"
    return (f"never within {row['final_seconds']:.0f} s; best {row['best_psnr']:.2f} dB at "
            f"{row['best_seconds']:.1f} s")


@contextmanager
def psnr_in_metrics(truth: np.ndarray) -> Iterator[None]:
    """Make ``gradient``'s checks report the PSNR of the iterate (for the monitor)."""
    baseline = gradient_solver._Baseline
    original = baseline.metrics

    def metrics(self: Any, u0: Any) -> dict[str, float]:
        return {**original(self, u0), "psnr": psnr(u0, truth)}

    baseline.metrics = metrics  # type: ignore[method-assign]
    try:
        yield
    finally:
        baseline.metrics = original  # type: ignore[method-assign]


def gradient_run(lp: Any, f_raw: np.ndarray, truth: np.ndarray, target: float,
                 cap: float) -> dict[str, Any]:
    prob = problem(lp, f_raw, fidelity="l2")
    rec: list[tuple[float, int, float]] = []
    start = time.perf_counter()

    def monitor(k: int, metrics: dict[str, float]) -> None:
        elapsed = time.perf_counter() - start
        rec.append((elapsed, k, metrics["psnr"]))
        if metrics["psnr"] >= target or elapsed > cap:
            raise KeyboardInterrupt

    with psnr_in_metrics(truth):
        r = gradient_solver.solve(prob, gradient_solver.GradientSettings(
            Stopping(max_iter=10_000_000, tol=1e-12, check_every=10)), monitor=monitor)
    hit = next(({"seconds": t, "steps": k} for t, k, p in rec if p >= target), None)
    best = max(rec, key=lambda x: x[2]) if rec else (math.nan, 0, math.nan)
    return {"hit": hit, "best_psnr": best[2], "best_seconds": best[0], "best_steps": best[1],
            "final_psnr": psnr(r.u, truth), "final_seconds": rec[-1][0] if rec else math.nan,
            "steps": r.iterations, "stop": r.stop_reason}


# --- 3. per iteration -----------------------------------------------------------------------

def floor_seconds(W: np.ndarray, reps: int = 300, repeats: int = 3) -> float:
    """One ``W @ x`` plus one ``W.T @ y`` (NumPy, W's dtype), best of ``repeats`` means."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(W.shape[1]).astype(W.dtype)
    y = rng.standard_normal(W.shape[0]).astype(W.dtype)

    def go() -> None:
        for _ in range(reps):
            W @ x
            W.T @ y

    return best_of(repeats, go)[0] / reps


def per_iteration(lp: Any, f: np.ndarray, repeats: int, iters: int = 300) -> dict[str, Any]:
    prob = single_layer(problem(lp, f))
    W = np.asarray(lp.W.entries[(0, 0)].op.matrix)
    floor = floor_seconds(W, repeats=repeats)
    out: dict[str, Any] = {"floor_seconds": floor}
    u0 = np.zeros((1, prob.n), dtype=W.dtype)
    for name, cls in (("admm", ADMM), ("precond", Preconditioned)):
        settings = PDHGSettings(Stopping(max_iter=iters, tol=1e-15, check_every=10),
                                variant=name)
        setup, it = best_of(repeats, lambda: cls(prob, settings, u0))   # noqa: B023
        for _ in range(20):
            it.step()

        def steps() -> None:
            for _ in range(iters):
                it.step()  # noqa: B023

        bare = best_of(repeats, steps)[0] / iters
        looped = best_of(repeats, lambda: drive(it, settings.stopping))[0] / iters  # noqa: B023
        out[name] = {"setup_seconds": setup, "step_seconds": bare, "loop_seconds": looped,
                     "step_ratio": bare / floor, "loop_ratio": looped / floor}
    return out


# --- 4. float32 -------------------------------------------------------------------------------

def float32_pdhg(args: argparse.Namespace, W: np.ndarray, b: np.ndarray, f: np.ndarray,
                 truth: np.ndarray, fstar: float) -> dict[str, Any]:
    lp32, _, _ = experiment(dtype=np.float32)
    prob = problem(lp32, f)
    out: dict[str, Any] = {}
    for tol in (1e-4, 1e-5):
        settings = PDHGSettings(Stopping(max_iter=20000, tol=tol))
        t, r = best_of(args.repeats, lambda: pdhg(prob, settings))  # noqa: B023
        out[f"{tol:g}"] = {"seconds": t, "iterations": r.iterations, "stop": r.stop_reason,
                           "rel": rel_acc(W, b, f, r.u, fstar), "psnr": psnr(r.u, truth)}
    row = pdhg_bench.trace(prob, PDHGSettings(Stopping(max_iter=10_000_000, tol=1e-15,
                                                       check_every=10)), fstar, budget=5.0)
    out["trace"] = {"hits": row["hits"], "rel_after_5s": rel_acc(W, b, f, row["u"], fstar),
                    "iterations": row["final_iterations"]}
    out["per_iteration"] = per_iteration(lp32, f, args.repeats)
    return out


# --- 5. batch ---------------------------------------------------------------------------------

def batch(args: argparse.Namespace, lp: Any, W: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    _, f64, truth = experiment(tuple(range(100, 164)))
    settings = PDHGSettings(Stopping(max_iter=20000, tol=TOL))
    t_batch, rb = best_of(args.repeats, lambda: pdhg(problem(lp, f64), settings))
    singles, iters = [], []
    u_sep = []
    for i in range(f64.shape[0]):
        start = time.perf_counter()
        r1 = pdhg(problem(lp, f64[i]), settings)
        singles.append(time.perf_counter() - start)
        iters.append(r1.iterations)
        u_sep.append(np.asarray(r1.u))
    ub = np.asarray(rb.u)
    f_b = np.array([objective_np(W, b, f64[i], ub[i]) for i in range(64)])
    f_s = np.array([objective_np(W, b, f64[i], u_sep[i]) for i in range(64)])
    return {"batch_seconds": t_batch, "batch_iterations": rb.iterations,
            "separate_seconds": float(sum(singles)), "separate_iterations_mean":
            float(np.mean(iters)), "separate_iterations_max": int(max(iters)),
            "per_problem_batch": t_batch / 64, "per_problem_separate": float(sum(singles)) / 64,
            "objective_gap_max": float(np.max(np.abs(f_b - f_s) / f_s)),
            "psnr_batch_mean": float(np.mean([psnr(ub[i], truth) for i in range(64)])),
            "psnr_separate_mean": float(np.mean([psnr(u, truth) for u in u_sep]))}


# --- main ---------------------------------------------------------------------------------------

def _fmt_hit(row: dict[str, Any]) -> str:
    if row["hit"] is not None:
        return f"{row['hit']['seconds']:.2f} s ({row['hit']['steps']} steps)"
    return (f"not within {row['final_seconds']:.0f} s (best {row['best_psnr']:.2f} dB at "
            f"{row['best_seconds']:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/invert.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per peer run")
    parser.add_argument("--reference", default=None, help="cache file for the CVXPY optimum")
    parser.add_argument("--eps", type=float, default=1e-3, help="TV smoothing of the peers")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-2, 3e-2, 5e-2])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    wall = time.perf_counter()

    lp, fs, truth = experiment()
    _, f_raws, _ = experiment(project=False)
    f, f_raw = fs[0], f_raws[0]
    W = np.asarray(lp.W.entries[(0, 0)].op.matrix)
    b = np.asarray(lp.b)
    ref = Path(args.reference) if args.reference else None
    if ref is not None and ref.exists():
        u_star = np.load(ref)["u"]
    else:
        u_star, t_ref = cvxpy_solve(W, b, f, tight=True)
        print(f"reference: CVXPY + Clarabel at tolerances 1e-11, {t_ref:.1f} s", flush=True)
        if ref is not None:
            np.savez(ref, u=u_star)
    fstar = objective_np(W, b, f, u_star)
    out: dict[str, Any] = {"machine": platform.platform(), "processor": platform.processor(),
                           "python": platform.python_version(), "numpy": np.__version__,
                           "torch": torch.__version__, "repeats": args.repeats,
                           "cap_seconds": args.cap, "eps": args.eps, "F_star": fstar,
                           "psnr_star": psnr(u_star, truth),
                           "loadavg_start": os.getloadavg()}
    print(f"F* = {fstar:.10g}, PSNR {psnr(u_star, truth):.3f} dB", flush=True)

    # 1
    acc = accuracy(args, lp, W, b, f, truth, fstar)
    u_ours = acc.pop("u")
    out["accuracy"] = acc
    cvx, ours = acc["cvxpy"], acc["pdhg"]
    print(f"1. CVXPY+Clarabel {cvx['seconds']:.2f} s (rel {cvx['rel']:.1e}); pdhg tol 1e-4 "
          f"{ours['seconds']:.3f} s (rel {ours['rel']:.1e}, {ours['iterations']} it.); oracle "
          f"time to 1e-4 {acc['pdhg_oracle_seconds']['0.0001']} s", flush=True)

    # 2
    target = psnr(u_ours, truth)
    print(f"2. target PSNR {target:.3f} dB (pdhg, {ours['seconds']:.3f} s)", flush=True)
    p64 = peers(args, W, b, f_raw, truth, target, "float64", tuple(args.lrs))
    grad = gradient_run(lp, f_raw, truth, target, args.cap)
    print("  lbdsl gradient: " + _describe(grad), flush=True)
    out["psnr"] = {"target": target, "pdhg_seconds": ours["seconds"], "float64": p64,
                   "lbdsl_gradient": grad}

    # 3
    it64 = per_iteration(lp, f, args.repeats)
    out["per_iteration"] = it64
    print(f"3. floor {it64['floor_seconds'] * 1e3:.3f} ms; admm {it64['admm']['step_ratio']:.2f}×"
          f", precond {it64['precond']['step_ratio']:.2f}×", flush=True)

    # 4
    f32 = float32_pdhg(args, W, b, f, truth, fstar)
    p32 = peers(args, W, b, f_raw, truth, target, "float32", (p64["adam_lr"],))
    out["float32"] = {"pdhg": f32, "peers": p32}
    print(f"4. float32 pdhg tol 1e-4: {f32['0.0001']['seconds']:.3f} s",
          flush=True)

    # 5
    bt = batch(args, lp, W, b)
    out["batch64"] = bt
    out["total_seconds"] = time.perf_counter() - wall
    out["loadavg_end"] = os.getloadavg()

    # the table
    a64, l64 = p64["adam"], p64["lbfgs"]
    a32, l32 = p32["adam"], p32["lbfgs"]
    f32r = f32["0.0001"]
    rows = [
        ("1", "pdhg (tol 1e-4) vs CVXPY+Clarabel (default tol.)",
         f"{ours['seconds']:.3f} s, rel {ours['rel']:.1e}",
         f"{cvx['seconds']:.2f} s, rel {cvx['rel']:.1e}", ours["seconds"] / cvx["seconds"]),
    ]
    oracle = acc["pdhg_oracle_seconds"]["0.0001"]
    if oracle is not None:
        rows.append(("1", "pdhg, oracle time to rel 1e-4 vs CVXPY", f"{oracle:.3f} s",
                     f"{cvx['seconds']:.2f} s", oracle / cvx["seconds"]))
    for name, row in ((f"Adam (lr {p64['adam_lr']:g})", a64), ("L-BFGS", l64),
                      ("lbdsl gradient", grad)):
        ratio = ours["seconds"] / row["hit"]["seconds"] if row["hit"] else math.nan
        rows.append(("2", f"pdhg vs {name}, time to {target:.2f} dB",
                     f"{ours['seconds']:.3f} s", _fmt_hit(row), ratio))
    for name in ("admm", "precond"):
        r = it64[name]
        rows.append(("3", f"{name}: time per iteration vs W@x + W.T@y (float64)",
                     f"{r['step_seconds'] * 1e3:.3f} ms ({r['loop_seconds'] * 1e3:.3f} with "
                     "checks)", f"{it64['floor_seconds'] * 1e3:.3f} ms", r["step_ratio"]))
        r32 = f32["per_iteration"][name]
        rows.append(("3", f"{name}: time per iteration vs W@x + W.T@y (float32)",
                     f"{r32['step_seconds'] * 1e3:.3f} ms ({r32['loop_seconds'] * 1e3:.3f} "
                     "with checks)", f"{f32['per_iteration']['floor_seconds'] * 1e3:.3f} ms",
                     r32["step_ratio"]))
    rows.append(("4", "pdhg tol 1e-4, float32 vs float64",
                 f"{f32r['seconds']:.3f} s, rel {f32r['rel']:.1e}, {f32r['psnr']:.3f} dB",
                 f"{ours['seconds']:.3f} s, rel {ours['rel']:.1e}, {ours['psnr']:.3f} dB",
                 f32r["seconds"] / ours["seconds"]))
    for name, r32, r64 in (("Adam", a32, a64), ("L-BFGS", l32, l64)):
        ratio = (r32["hit"]["seconds"] / r64["hit"]["seconds"]
                 if r32["hit"] and r64["hit"] else math.nan)
        rows.append(("4", f"{name} to {target:.2f} dB, float32 vs float64", _fmt_hit(r32),
                     _fmt_hit(r64), ratio))
    rows.append(("5", "pdhg: batch of 64 in one call vs 64 calls (per problem)",
                 f"{bt['per_problem_batch']:.3f} s ({bt['batch_iterations']} it.)",
                 f"{bt['per_problem_separate']:.3f} s ({bt['separate_iterations_mean']:.0f} it."
                 " mean)", bt["per_problem_batch"] / bt["per_problem_separate"]))
    print("\n| # | comparison | ours | theirs | ours ÷ theirs |")
    print("|---|---|---|---|---:|")
    for n, what, a, b_, ratio in rows:
        print(f"| {n} | {what} | {a} | {b_} | {'—' if math.isnan(ratio) else f'{ratio:.3g}'} |")
    out["table"] = [{"section": n, "comparison": w, "ours": a, "theirs": t, "ratio": r}
                    for n, w, a, t, r in rows]
    print(f"\ntotal {out['total_seconds']:.0f} s")
    Path(args.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
