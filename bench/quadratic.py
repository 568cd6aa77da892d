"""The quadratic-fidelity problem: lbdsl's ``lbfgs`` against PyTorch L-BFGS, and the hybrid.

On seed experiment 1 (``bench/experiment1.py``: ReLU perceptron 64×64 → 512, 1% noise,
``α = 0.015``) and on the built-in demo (16×16 → 512, ``α = 0.02``), all in one process on one
core.  Every method's result is judged by one evaluator, PyTorch's
``½‖relu(W u + b) − f‖² + α·TV_ε(u)`` with ``TV_ε = Σ_i (|∇u|_i² + ε²)^½``, ``ε = 10⁻³`` (the
objective both L-BFGS codes minimise), and by PSNR / SSIM against the truth.

1. **From u = 0.**  PyTorch L-BFGS (strong Wolfe, history 20, ``step`` of ≤ 20 iterations,
   until 10 steps leave the loss unchanged or ``--cap`` seconds) and lbdsl ``lbfgs`` (defaults,
   ``tol = 1e-9``, same cap).  Ratios: final objective (ours ÷ theirs; target ≤ 1.01) and time to
   an objective ≤ 1.01 × PyTorch's final (ours ÷ theirs; target ≤ 1.0).  lbdsl's time includes
   its checks (every 10 iterations); PyTorch's loss is read after each ``step``, untimed.
2. **Random starts.**  ``--starts`` starts ``u ~ U[0, 1]`` (seeds 1, 2, …): the same for both,
   plus the hybrid from each.  lbdsl's ``lbfgs`` keeps its continuation from ``100·ε`` here
   (``eps_start``; by default a given start is taken to be near a solution and begins at
   ``ε``).  Reported: objective and PSNR per start, their median and spread.
3. **Hybrid** (``fidelity = hybrid``'s two stages): ``pdhg`` on the Bregman–TV problem (convex,
   certified: its optimum does not depend on the start) to ``tol = 1e-4``, then ``lbfgs`` on the
   quadratic problem from its solution.  Against Bregman alone and quadratic alone.
4. Adam (lr 3e-2, the best of ``bench/invert.py``'s sweep) from 0 for ``--cap`` seconds, and
   lbdsl's ``gradient`` (FISTA, exact TV) for ``--cap`` seconds, for the table.

    OPENBLAS_NUM_THREADS=1 python bench/quadratic.py [--out bench/quadratic.json] [--cap 30]
        [--starts 5] [--alphas 0.0075 0.015 0.03 0.06 --scan-only]

5. ``--alphas``: Bregman, both L-BFGS codes from 0 and the hybrid at each α (PSNR, and each
   one's quadratic objective at its α): α = 0.015 was chosen for the Bregman problem.
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
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from experiment1 import experiment  # noqa: E402
from invert import Quadratic  # noqa: E402

from lbdsl.solvers import gradient as gradient_solver  # noqa: E402
from lbdsl.solvers import lbfgs  # noqa: E402
from lbdsl.solvers.base import Stopping  # noqa: E402
from lbdsl.solvers.pdhg import PDHGSettings, pdhg  # noqa: E402
from lbdsl.solvers.problems import InverseProblem, Term  # noqa: E402

EPS = 1e-3


class Case:
    """One problem: its lifted network, data (projected and raw), truth and α."""

    def __init__(self, name: str, lp: Any, f: np.ndarray, f_raw: np.ndarray, truth: np.ndarray,
                 alpha: float) -> None:
        import torch

        self.name, self.lp, self.f, self.f_raw, self.truth, self.alpha = \
            name, lp, f, f_raw, truth, alpha
        W = np.asarray(lp.W.entries[(0, 0)].op.matrix)
        self.q = Quadratic(W, np.asarray(lp.b), f_raw, truth, EPS, torch.float64, alpha)

    def at(self, alpha: float) -> Case:
        """The same problem at another α."""
        return Case(self.name, self.lp, self.f, self.f_raw, self.truth, alpha)

    def problem(self, fidelity: str) -> InverseProblem:
        from lbdsl.prox.regularisers import TV

        data = self.f if fidelity == "bregman" else self.f_raw
        return InverseProblem(self.lp, data, terms=(Term(self.alpha, TV(self.truth.shape)),),
                              fidelity=fidelity)  # type: ignore[arg-type]

    def judge(self, u: Any) -> dict[str, float]:
        import torch
        from skimage.metrics import structural_similarity

        u = np.asarray(u, dtype=np.float64).reshape(self.truth.shape)
        loss = float(self.q.loss(torch.tensor(u.reshape(-1), dtype=torch.float64)))
        mse = float(np.mean((u - self.truth) ** 2))
        return {"objective": loss, "psnr": 10 * math.log10(1 / mse),
                "ssim": float(structural_similarity(u, self.truth, data_range=1.0))}


def experiment1() -> Case:
    lp, fs, truth = experiment()
    _, raws, _ = experiment(project=False)
    return Case("experiment 1", lp, fs[0], raws[0], truth, 0.015)


def demo() -> Case:
    import lbdsl
    from lbdsl.lift.compact import lift
    from lbdsl.pipeline import load
    from lbdsl.tasks import data as dt

    program = load(Path(lbdsl.__file__).parent / "demo.lbn")
    task = program.tasks[0]
    net = program.networks[task.network]
    truth = dt.make_truth(task.truth, net, Path("."))
    observed = dt.make_data(task, net, truth, Path("."))
    f_raw = observed.f.reshape(-1)
    return Case("demo", lift(net), np.maximum(f_raw, 0.0), f_raw, np.asarray(truth), 0.02)


# --- the runs -------------------------------------------------------------------------------

def torch_lbfgs(case: Case, u0: np.ndarray, cap: float) -> dict[str, Any]:
    import torch

    u = torch.tensor(u0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([u], lr=1.0, max_iter=20, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=0.0,
                            tolerance_change=0.0)

    def closure() -> Any:
        opt.zero_grad()
        loss = case.q.loss(u)
        loss.backward()
        return loss

    trace, clock, last, same = [], 0.0, None, 0
    while clock < cap and same < 10:
        start = time.perf_counter()
        opt.step(closure)
        clock += time.perf_counter() - start
        value = float(case.q.loss(u).detach())
        trace.append((clock, value))
        same = same + 1 if value == last else 0
        last = value
    return {"trace": trace, "u": u.detach().numpy().copy(), "seconds": clock}


def ours_lbfgs(case: Case, u0: np.ndarray | None, cap: float,
               eps_start: float | None = None) -> dict[str, Any]:
    trace: list[tuple[float, float]] = []
    start = time.perf_counter()

    def monitor(k: int, metrics: dict[str, float]) -> None:
        trace.append((time.perf_counter() - start, metrics["smoothed"]))
        if trace[-1][0] > cap:
            raise KeyboardInterrupt

    settings = lbfgs.LBFGSSettings(Stopping(max_iter=10**7, tol=1e-9), eps_start=eps_start)
    res = lbfgs.solve(case.problem("l2"), settings, x0=u0, monitor=monitor)
    return {"trace": trace, "u": np.asarray(res.u).reshape(-1), "seconds":
            time.perf_counter() - start, "stop": res.stop_reason, "iterations": res.iterations}


def bregman(case: Case, u0: np.ndarray | None) -> dict[str, Any]:
    start = time.perf_counter()
    res = pdhg(case.problem("bregman"), PDHGSettings(Stopping(max_iter=20000, tol=1e-4)),
               x0=u0)
    return {"u": np.asarray(res.u).reshape(-1), "seconds": time.perf_counter() - start}


def hybrid(case: Case, u0: np.ndarray | None, cap: float) -> dict[str, Any]:
    first = bregman(case, u0)
    second = ours_lbfgs(case, first["u"], cap)
    return {**second, "seconds": first["seconds"] + second["seconds"],
            "bregman_seconds": first["seconds"], "u_bregman": first["u"]}


def adam(case: Case, cap: float, lr: float = 3e-2) -> dict[str, Any]:
    import torch

    u = case.q.start()
    opt = torch.optim.Adam([u], lr=lr)
    clock = 0.0
    while clock < cap:
        start = time.perf_counter()
        opt.zero_grad()
        case.q.loss(u).backward()
        opt.step()
        clock += time.perf_counter() - start
    return {"u": u.detach().numpy().copy(), "seconds": clock}


def fista(case: Case, cap: float) -> dict[str, Any]:
    start = time.perf_counter()

    def monitor(k: int, metrics: dict[str, float]) -> None:
        if time.perf_counter() - start > cap:
            raise KeyboardInterrupt

    res = gradient_solver.solve(case.problem("l2"), gradient_solver.GradientSettings(
        Stopping(max_iter=10**7, tol=1e-9)), monitor=monitor)
    return {"u": np.asarray(res.u).reshape(-1), "seconds": time.perf_counter() - start}


def first_below(trace: list[tuple[float, float]], level: float) -> float | None:
    return next((t for t, v in trace if v <= level), None)


# --- the report -----------------------------------------------------------------------------

def from_zero(case: Case, cap: float) -> dict[str, Any]:
    zero = np.zeros(case.truth.size)
    theirs, ours = torch_lbfgs(case, zero, cap), ours_lbfgs(case, None, cap)
    f_theirs = case.judge(theirs["u"])["objective"]
    f_ours = case.judge(ours["u"])["objective"]
    level = 1.01 * f_theirs
    t_theirs, t_ours = first_below(theirs["trace"], level), first_below(ours["trace"], level)
    return {"torch_lbfgs": {**case.judge(theirs["u"]), "seconds": theirs["seconds"],
                            "to_level_seconds": t_theirs},
            "lbfgs": {**case.judge(ours["u"]), "seconds": ours["seconds"],
                      "to_level_seconds": t_ours, "stop": ours["stop"],
                      "iterations": ours["iterations"]},
            "objective_ratio": f_ours / f_theirs,
            "time_ratio": (t_ours / t_theirs) if t_ours is not None and t_theirs else math.nan,
            "u": {"torch": theirs["u"], "lbfgs": ours["u"]}}


def starts(case: Case, n: int, cap: float) -> dict[str, Any]:
    rows = []
    for seed in range(1, n + 1):
        u0 = np.random.default_rng(seed).uniform(0.0, 1.0, case.truth.size)
        row = {"seed": seed}
        for name, out in (("torch_lbfgs", torch_lbfgs(case, u0, cap)),
                          ("lbfgs", ours_lbfgs(case, u0, cap, eps_start=100 * EPS)),
                          ("hybrid", hybrid(case, u0, cap))):
            row[name] = {**case.judge(out["u"]), "seconds": out["seconds"]}
        rows.append(row)
        print(f"  [{case.name}] start {seed}: " + ", ".join(
            f"{k} F {row[k]['objective']:.4g} / {row[k]['psnr']:.2f} dB"
            for k in ("torch_lbfgs", "lbfgs", "hybrid")), flush=True)
    summary = {}
    for name in ("torch_lbfgs", "lbfgs", "hybrid"):
        for key in ("objective", "psnr"):
            values = np.array([r[name][key] for r in rows])
            summary[f"{name}_{key}"] = {"median": float(np.median(values)),
                                        "min": float(values.min()), "max": float(values.max()),
                                        "std": float(values.std())}
    return {"rows": rows, "summary": summary}


def run_case(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    print(f"== {case.name}", flush=True)
    zero = from_zero(case, args.cap)
    us = zero.pop("u")
    theirs = zero["torch_lbfgs"]
    print(f"  from 0: torch L-BFGS F {theirs['objective']:.6g} "
          f"({theirs['psnr']:.2f} dB, level at {theirs['to_level_seconds']}"
          f" s); lbfgs F {zero['lbfgs']['objective']:.6g} ({zero['lbfgs']['psnr']:.2f} dB, level "
          f"at {zero['lbfgs']['to_level_seconds']} s); ratios {zero['objective_ratio']:.3f}, "
          f"{zero['time_ratio']:.3f}", flush=True)
    hyb = hybrid(case, None, args.cap)
    breg = {**case.judge(hyb["u_bregman"]), "seconds": hyb["bregman_seconds"]}
    hyb_row = {**case.judge(hyb["u"]), "seconds": hyb["seconds"]}
    others = {"adam": adam(case, args.cap), "gradient": fista(case, args.cap)}
    rows = {"bregman (pdhg)": breg, "quadratic (lbfgs from 0)": zero["lbfgs"],
            "hybrid (pdhg, then lbfgs)": hyb_row,
            "PyTorch L-BFGS from 0": zero["torch_lbfgs"],
            "PyTorch Adam from 0 (lr 3e-2)": {**case.judge(others["adam"]["u"]),
                                              "seconds": others["adam"]["seconds"]},
            "lbdsl gradient (FISTA) from 0": {**case.judge(others["gradient"]["u"]),
                                              "seconds": others["gradient"]["seconds"]}}
    del us
    return {"from_zero": zero, "table": rows, "starts": starts(case, args.starts, args.cap)}


def alpha_scan(case: Case, alphas: list[float], cap: float) -> list[dict[str, Any]]:
    """Bregman, quadratic (lbfgs and PyTorch L-BFGS from 0) and the hybrid at each α: which
    α suits which problem (each judged by the quadratic objective at its own α)."""
    rows = []
    for alpha in alphas:
        at = case.at(alpha)
        hyb = hybrid(at, None, cap)
        zero = np.zeros(at.truth.size)
        row = {"alpha": alpha, "bregman": at.judge(hyb["u_bregman"]),
               "lbfgs": at.judge(ours_lbfgs(at, None, cap)["u"]),
               "torch_lbfgs": at.judge(torch_lbfgs(at, zero, cap)["u"]),
               "hybrid": at.judge(hyb["u"])}
        rows.append(row)
        print(f"  [{case.name}] α = {alpha:g}: " + ", ".join(
            f"{k} {row[k]['psnr']:.2f} dB (F {row[k]['objective']:.4g})"
            for k in ("bregman", "lbfgs", "torch_lbfgs", "hybrid")), flush=True)
    return rows


def markdown(name: str, out: dict[str, Any]) -> str:
    lines = [f"\n{name}:"]
    if "table" in out:
        lines += _table(out)
    if out.get("alpha_scan"):
        lines += ["", "| α | Bregman | lbfgs | PyTorch L-BFGS | hybrid |",
                  "|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['alpha']:g} | " + " | ".join(
            f"{r[k]['psnr']:.2f}" for k in ("bregman", "lbfgs", "torch_lbfgs", "hybrid")) + " |"
            for r in out["alpha_scan"]]
    return "\n".join(lines)


def _table(out: dict[str, Any]) -> list[str]:
    lines = ["| method | objective (ε = 1e-3) | PSNR | SSIM | seconds |",
             "|---|---:|---:|---:|---:|"]
    for method, row in out["table"].items():
        lines.append(f"| {method} | {row['objective']:.5g} | {row['psnr']:.2f} | "
                     f"{row['ssim']:.3f} | {row['seconds']:.2f} |")
    s = out["starts"]["summary"]
    lines.append("\nrandom starts (median [min, max]): " + "; ".join(
        f"{k}: F {s[k + '_objective']['median']:.4g} [{s[k + '_objective']['min']:.4g}, "
        f"{s[k + '_objective']['max']:.4g}], PSNR {s[k + '_psnr']['median']:.2f} "
        f"[{s[k + '_psnr']['min']:.2f}, {s[k + '_psnr']['max']:.2f}]"
        for k in ("torch_lbfgs", "lbfgs", "hybrid")))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/quadratic.json")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--only", choices=("experiment1", "demo"), default=None)
    parser.add_argument("--alphas", type=float, nargs="*", default=[],
                        help="also an α scan (PSNR of each method at each α)")
    parser.add_argument("--scan-only", action="store_true",
                        help="only the α scan (with --alphas)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    wall = time.perf_counter()
    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "numpy": np.__version__, "torch": torch.__version__,
                           "cap_seconds": args.cap, "eps": EPS}
    makers = {"experiment1": experiment1, "demo": demo}
    for key, make in makers.items():
        if args.only in (None, key):
            case = make()
            out[key] = {} if args.scan_only else run_case(case, args)
            if args.alphas:
                out[key]["alpha_scan"] = alpha_scan(case, args.alphas, args.cap)
            print(markdown(key, out[key]), flush=True)
    out["total_seconds"] = time.perf_counter() - wall
    Path(args.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"\ntotal {out['total_seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
