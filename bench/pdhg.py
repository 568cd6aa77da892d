"""Time to accuracy of the ``pdhg`` variants on seed experiment 1, against CVXPY + Clarabel.

Experiment 1 (math.md §6.1, ``specs/perceptron.lbn``): ``h = relu(W u + b)``, W 512×4096 and b
N(0, 1) (the spec's seeds), Shepp–Logan 64×64 in [0, 1], noise N(0, 0.01²) (seed 3), data
projected onto dom Ψ (f ≥ 0), ``0.015·TV``.  The reference optimum ``F*`` is Clarabel at tight
tolerances (cached with ``--reference``); Clarabel at its default tolerances is the baseline
time.  For each variant the solver runs with the stopping rule disabled and a monitor records
the objective every ``check_every`` iterations; the time to reach each relative accuracy
``(F − F*)/F*`` counts from the call (setup — power iteration, eigendecomposition — included).
The "product" rows are plain ``pdhg(problem, PDHGSettings(Stopping(tol=…)))`` calls, best of
``--repeats``.  Run on one core::

    OPENBLAS_NUM_THREADS=1 python bench/pdhg.py [--out bench/pdhg.json] [--budget 30]
        [--reference bench/pdhg_reference.npz] [--repeats 3] [--no-cvxpy-timing]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiment1 import (ALPHA, SPEC, cvxpy_solve, experiment, objective_np, problem,  # noqa: F401
                         psnr, shepp_logan)

from lbdsl.solvers.base import Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from lbdsl.solvers.problems import InverseProblem

LEVELS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def trace(prob: InverseProblem, settings: PDHGSettings, fstar: float,
          budget: float) -> dict[str, Any]:
    """Run with the stopping rule off; times at which each accuracy level is first reached."""
    record: list[tuple[float, int, float]] = []
    start = time.perf_counter()

    def monitor(k: int, metrics: dict[str, float]) -> None:
        elapsed = time.perf_counter() - start
        rel = (metrics["objective"] - fstar) / fstar
        record.append((elapsed, k, rel))
        if rel <= LEVELS[-1] or elapsed > budget:
            raise KeyboardInterrupt

    result = pdhg(prob, settings, monitor=monitor)
    hits = {}
    for level in LEVELS:
        first = next(((t, k) for t, k, rel in record if rel <= level), None)
        hits[f"{level:g}"] = None if first is None else {"seconds": round(first[0], 3),
                                                         "iterations": first[1]}
    final = record[-1] if record else (math.nan, 0, math.nan)
    return {"hits": hits, "final_rel": final[2], "final_seconds": round(final[0], 3),
            "final_iterations": final[1], "u": np.asarray(result.u)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/pdhg.json")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per traced run")
    parser.add_argument("--reference", default=None, help="cache file for the CVXPY optimum")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cvxpy-timing", action="store_true")
    args = parser.parse_args()

    lp, fs, truth = experiment()
    f = fs[0]
    net_W = np.asarray(lp.W.entries[(0, 0)].op.matrix)
    b = np.asarray(lp.b)
    ref_path = Path(args.reference) if args.reference else None
    if ref_path is not None and ref_path.exists():
        u_star = np.load(ref_path)["u"]
    else:
        u_star, _ = cvxpy_solve(net_W, b, f, tight=True)
        if ref_path is not None:
            np.savez(ref_path, u=u_star)
    fstar = objective_np(net_W, b, f, u_star)
    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "F_star": fstar, "psnr_star": psnr(u_star, truth), "rows": []}
    print(f"F* = {fstar:.10g} (PSNR {psnr(u_star, truth):.2f} dB)")
    if not args.no_cvxpy_timing:
        u_c, t_c = cvxpy_solve(net_W, b, f, tight=False)
        rel = (objective_np(net_W, b, f, u_c) - fstar) / fstar
        out["cvxpy_clarabel_default"] = {"seconds": round(t_c, 3), "rel": rel,
                                         "psnr": psnr(u_c, truth)}
        print(f"CVXPY + Clarabel (default tolerances): {t_c:.2f} s, rel {rel:.1e}")

    prob = problem(lp, f)
    never = Stopping(max_iter=10_000_000, tol=1e-15, check_every=10)
    variants = {
        "admm": PDHGSettings(never, variant="admm"),
        "admm, no relaxation": PDHGSettings(never, variant="admm", relaxation=1.0),
        "admm, fixed rho": PDHGSettings(never, variant="admm", adapt=False),
        "precond": PDHGSettings(never, variant="precond"),
        "precond, adaptive balancing": PDHGSettings(never, variant="precond", adapt=True),
        "condat_vu (seed)": PDHGSettings(never, variant="condat_vu"),
    }
    print("\n| variant | " + " | ".join(f"t({lv:g})" for lv in LEVELS) + " | final rel | PSNR |")
    print("|---|" + "---|" * (len(LEVELS) + 2))
    for name, settings in variants.items():
        row = trace(prob, settings, fstar, args.budget)
        cells = []
        for lv in LEVELS:
            hit = row["hits"][f"{lv:g}"]
            cells.append("—" if hit is None else f"{hit['seconds']:.2f} s ({hit['iterations']})")
        p = psnr(row.pop("u"), truth)
        print(f"| {name} | " + " | ".join(cells) + f" | {row['final_rel']:.1e} | {p:.2f} |",
              flush=True)
        out["rows"].append({"variant": name, **row, "psnr": p})

    print("\n| product call (auto) | tol | seconds (best of "
          f"{args.repeats}) | iterations | rel. accuracy | PSNR |")
    print("|---|---|---|---|---|---|")
    out["product"] = []
    for tol in (1e-4, 1e-5, 1e-6):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            r = pdhg(prob, PDHGSettings(Stopping(max_iter=20000, tol=tol)))
            times.append(time.perf_counter() - start)
        rel = (objective_np(net_W, b, f, np.asarray(r.u)) - fstar) / fstar
        p = psnr(r.u, truth)
        print(f"| pdhg() | {tol:g} | {min(times):.2f} | {r.iterations} | {rel:.1e} | {p:.2f} |")
        out["product"].append({"tol": tol, "seconds": min(times), "iterations": r.iterations,
                               "rel": rel, "psnr": p, "solver": r.solver})

    # a batch of 64 right-hand sides (64 noise draws) in one call
    _, f64, _ = experiment(tuple(range(100, 164)))
    batch = problem(lp, f64)
    start = time.perf_counter()
    rb = pdhg(batch, PDHGSettings(Stopping(max_iter=20000, tol=1e-5)))
    t_batch = time.perf_counter() - start
    start = time.perf_counter()
    r1 = pdhg(problem(lp, f64[0]), PDHGSettings(Stopping(max_iter=20000, tol=1e-5)))
    t_one = time.perf_counter() - start
    print(f"\nbatch of 64 (tol 1e-5): {t_batch:.2f} s in {rb.iterations} iterations "
          f"({t_batch / 64:.3f} s per problem; one problem alone {t_one:.2f} s, "
          f"{r1.iterations} iterations)")
    out["batch64"] = {"seconds": t_batch, "iterations": rb.iterations, "single_seconds": t_one,
                      "single_iterations": r1.iterations}
    Path(args.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
