"""Seed experiment 1 (math.md §6.1, ``specs/perceptron.lbn``), set up once for the benchmarks.

``h = relu(W u + b)``, W 512×4096 and b N(0, 1) (the spec's seeds), Shepp–Logan 64×64 in
[0, 1], noise N(0, 0.01²) (seed 3 in the spec), ``0.015·TV``.  The Bregman fidelity sees the data
projected onto dom Ψ (f ≥ 0, as ``lbdsl solve`` does); the quadratic baseline sees the raw data.
Shared by ``bench/pdhg.py`` and ``bench/invert.py``; also the CVXPY + Clarabel model of the
Bregman–TV problem and an objective evaluated independently of lbdsl.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from lbdsl.pipeline import load
from lbdsl.prox.regularisers import TV
from lbdsl.solvers.problems import InverseProblem, Term

__all__ = ["ALPHA", "SPEC", "shepp_logan", "experiment", "noisy", "problem", "objective_np",
           "cvxpy_solve", "psnr"]

ALPHA = 0.015
SPEC = Path(__file__).resolve().parent.parent / "specs" / "perceptron.lbn"


def shepp_logan(size: tuple[int, int]) -> np.ndarray:
    """The phantom as lbdsl's ``image("shepp_logan")``: resized (anti-aliased), scaled to [0, 1]."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    out = resize(shepp_logan_phantom(), size, anti_aliasing=True, preserve_range=True)
    return (out - out.min()) / (out.max() - out.min())


def noisy(W: np.ndarray, b: np.ndarray, truth: np.ndarray, noise_seeds: tuple[int, ...],
          project: bool = True) -> np.ndarray:
    """``relu(W·truth + b) + N(0, 0.01²)`` per seed, ``(len(seeds), 512)``; projected onto
    f ≥ 0 (dom Ψ of ReLU) when ``project``."""
    clean = np.maximum(W @ truth.reshape(-1) + b, 0.0)
    fs = np.stack([clean + 0.01 * np.random.default_rng(s).standard_normal(clean.shape)
                   for s in noise_seeds])
    return np.maximum(fs, 0.0) if project else fs


def experiment(noise_seeds: tuple[int, ...] = (3,), dtype: Any = np.float64,
               project: bool = True) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(lifted problem, f (len(seeds), 512), truth)``; the lifted problem in ``dtype``, the
    data always computed in float64."""
    from lbdsl.lift.compact import lift

    program = load(SPEC)
    net = program.networks["perceptron"]
    lp = lift(net, np, dtype)
    W, b = net.params["W"].value, net.params["b"].value
    truth = shepp_logan((64, 64))
    return lp, noisy(W, b, truth, noise_seeds, project), truth


def problem(lp: Any, f: np.ndarray, fidelity: str = "bregman") -> InverseProblem:
    """``min_u F(relu(W u + b), f) + 0.015·TV(u)`` with ``F`` the Bregman distance or ``l2``."""
    return InverseProblem(lp, f, terms=(Term(ALPHA, TV((64, 64))),),
                          fidelity=fidelity)  # type: ignore[arg-type]


def objective_np(W: np.ndarray, b: np.ndarray, f: np.ndarray, u: np.ndarray) -> float:
    """The Bregman–TV objective evaluated independently of lbdsl."""
    z = W @ np.asarray(u, dtype=np.float64).reshape(-1) + b
    data = 0.5 * np.sum(f * f) + 0.5 * np.sum(np.maximum(z, 0) ** 2) - f @ z
    g = np.asarray(u, dtype=np.float64).reshape(64, 64)
    gx, gy = np.zeros_like(g), np.zeros_like(g)
    gx[:-1], gy[:, :-1] = g[1:] - g[:-1], g[:, 1:] - g[:, :-1]
    return float(data + ALPHA * np.sum(np.sqrt(gx ** 2 + gy ** 2)))


def cvxpy_solve(W: np.ndarray, b: np.ndarray, f: np.ndarray, tight: bool,
                stats: dict[str, float] | None = None,
                **options: float) -> tuple[np.ndarray, float]:
    """The Bregman–TV problem by CVXPY + Clarabel: ``(u, seconds of the solve() call)``.

    ``tight``: tolerances 1e-11 (the reference optimum); else Clarabel's defaults, updated by
    ``options`` (e.g. ``tol_gap_rel``).  ``stats``, when given, receives CVXPY's compilation
    time, Clarabel's own solve time and its iteration count."""
    import cvxpy as cp
    import scipy.sparse as sp

    n = 64
    d = sp.diags([-np.ones(n), np.ones(n - 1)], [0, 1]).tolil()
    d[n - 1, n - 1] = 0.0
    d = d.tocsr()
    eye = sp.eye(n)
    dx, dy = sp.kron(d, eye), sp.kron(eye, d)
    u = cp.Variable(n * n)
    z = W @ u + b
    obj = (0.5 * cp.sum_squares(cp.pos(z)) - f @ z
           + ALPHA * cp.sum(cp.norm(cp.vstack([dx @ u, dy @ u]), 2, axis=0)))
    opts = dict(tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11) if tight else {}
    opts.update(options)
    start = time.perf_counter()
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL", **opts)
    elapsed = time.perf_counter() - start
    if stats is not None:
        stats.update(compile_seconds=float(prob.compilation_time or math.nan),
                     clarabel_seconds=float(prob.solver_stats.solve_time or math.nan),
                     clarabel_iterations=int(prob.solver_stats.num_iters or 0))
    return u.value, elapsed


def psnr(u: Any, truth: np.ndarray) -> float:
    """PSNR in dB with peak 1 (the truth lies in [0, 1])."""
    mse = float(np.mean((np.asarray(u, dtype=np.float64).reshape(truth.shape) - truth) ** 2))
    return 10.0 * math.log10(1.0 / mse)
