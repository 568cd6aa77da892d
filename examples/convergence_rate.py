"""Convergent regularisation, measured: D_J(u†, u_α(δ)) against the noise level δ (math.md §3).

For a single ReLU layer ``f = relu(W u† + b)`` the seed's theorem says: if
``B_Ψ(f^δ, W u† + b) ≤ δ²`` and the source condition ``Wᵀ v† ∈ ∂J(u†)`` holds, then with the
a-priori rule ``α(δ) = √2 δ / ‖v†‖``

    D_J(u†, u_α(δ)) ≤ 2√2 ‖v†‖ δ + (Burbea–Rao term, zero when |v†_j| ≤ f^δ_j / α),

i.e. the Bregman distance of the reconstruction to the truth decays like O(δ).

Here ``J = ½‖·‖²`` (``l2sq``), so ``∂J(u†) = {u†}``, ``D_J(u†, u) = ½‖u − u†‖²`` and the source
condition reads ``Wᵀ v† = u†``: with an oversampled Gaussian ``W`` (m > n) it is solvable, and
``v†`` is its least-squares (minimum-norm) solution.  The noise level is measured the way the
theorem measures it, ``δ = √B_Ψ(f^δ, W u† + b)``, for Gaussian noise of decreasing size; every
problem is solved by lbdsl's ``pdhg`` to tolerance 1e-9.  The script prints the table, fits the
slope of log D_J against log δ (the theorem predicts ≥ 1), and writes a log–log plot.

``--threshold auto`` first sets the data within k·σ of 0 to 0, as an ``invert`` task does by
default (docs/inversion.md, "Data that cannot be told from noise"; k for m data, σ the noise's
standard deviation); δ is then measured on the data the solver sees, as the theorem asks.

    python examples/convergence_rate.py [--out lbdsl-out/convergence_rate.png] [--quick]
                                        [--threshold none|auto]
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np

from lbdsl.backend import namespace, to_numpy
from lbdsl.ir.tasks.records import Threshold
from lbdsl.program import build_module
from lbdsl.lift.compact import lift
from lbdsl.outputs import write_bytes_atomic
from lbdsl.prox.regularisers.registry import make_regulariser
from lbdsl.solvers.base import Stopping
from lbdsl.solvers.pdhg import PDHGSettings, pdhg
from lbdsl.solvers.problems import InverseProblem, Term
from lbdsl.syntax.parser import parse

SPEC = """
network perceptron {{
    input u : {n}
    param W : {m}x{n} = normal(std = 1, seed = 0)
    param b : {m}     = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}}
"""


def rate_experiment(n: int = 32, m: int = 96, levels: int = 8, seed: int = 5,
                    threshold: bool = False) -> dict[str, np.ndarray]:
    """δ, α(δ) and D_J(u†, u_α(δ)) for noise levels spanning about three decades (with
    ``threshold``, of the data snapped to 0 within k·σ, and how many entries were)."""
    net = build_module(parse(SPEC.format(n=n, m=m), "<convergence_rate>")).networks["perceptron"]
    xp = namespace("numpy")
    lp = lift(net, xp)
    psi = lp.layers[0].psi
    W, b = net.params["W"].value, net.params["b"].value
    rng = np.random.default_rng(seed)
    u_true = rng.uniform(0.0, 1.0, n)
    z_true = W @ u_true + b
    f = np.maximum(z_true, 0.0)
    v_true = np.linalg.lstsq(W.T, u_true, rcond=None)[0]      # Wᵀ v† = u† (J = ½‖·‖²)
    assert np.allclose(W.T @ v_true, u_true), "source condition not solvable"
    l2sq = make_regulariser("l2sq", shape=(n,))
    settings = PDHGSettings(stopping=Stopping(max_iter=20000, tol=1e-9))
    direction = rng.normal(size=m)
    deltas, alphas, distances, snapped = [], [], [], []
    k = Threshold().k_for(m)
    for scale in np.geomspace(1e-1, 1e-4, levels):
        f_delta = np.maximum(f + scale * direction, 0.0)         # data stay in dom Ψ
        if threshold:           # the noise is scale·N(0, 1): σ = scale
            f_raw, f_delta = f_delta, to_numpy(psi.snap(xp.asarray(f_delta), k * scale))
            snapped.append(int(np.count_nonzero(f_delta != f_raw)))
        delta = math.sqrt(float(psi.bregman(xp.asarray(f_delta), xp.asarray(z_true))))
        alpha = math.sqrt(2.0) * delta / float(np.linalg.norm(v_true))
        problem = InverseProblem(lp, xp.asarray(f_delta), terms=(Term(alpha, l2sq),))
        u_alpha = to_numpy(pdhg(problem, settings).u).reshape(-1)
        deltas.append(delta)
        alphas.append(alpha)
        distances.append(0.5 * float(np.sum((u_alpha - u_true) ** 2)))
    return {"delta": np.array(deltas), "alpha": np.array(alphas),
            "distance": np.array(distances), "snapped": np.array(snapped, dtype=int),
            "bound_slope": np.array(2 * math.sqrt(2)
                                                                    * np.linalg.norm(v_true))}


def fitted_slope(delta: np.ndarray, distance: np.ndarray) -> float:
    """Least-squares slope of log D_J against log δ."""
    return float(np.polyfit(np.log(delta), np.log(distance), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent
                                             / "lbdsl-out" / "convergence_rate.png"),
                        help="the figure (default: lbdsl-out/convergence_rate.png in the "
                             "repository)")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller problems")
    parser.add_argument("--threshold", choices=("none", "auto"), default="none",
                        help="set the data within k·σ of 0 to 0 first (an invert task's "
                             "default)")
    args = parser.parse_args()
    snap = args.threshold == "auto"
    res = (rate_experiment(n=16, m=48, levels=5, threshold=snap) if args.quick
           else rate_experiment(threshold=snap))
    slope = fitted_slope(res["delta"], res["distance"])
    print(f"{'delta':>10} {'alpha':>10} {'D_J':>12} {'bound 2√2‖v†‖δ':>16}")
    for d, a, dist in zip(res["delta"], res["alpha"], res["distance"]):
        print(f"{d:10.3e} {a:10.3e} {dist:12.4e} {float(res['bound_slope']) * d:16.4e}")
    print(f"fitted slope of log D_J vs log δ: {slope:.2f}  (theorem: D_J = O(δ), slope ≥ 1)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(res["delta"], res["distance"], "o-", label=f"D_J(u†, u_α(δ)), slope {slope:.2f}")
    ax.loglog(res["delta"], float(res["bound_slope"]) * res["delta"], "--",
              label="bound 2√2‖v†‖δ")
    ax.set_xlabel("δ = √B_Ψ(f^δ, W u† + b)")
    ax.set_ylabel("Bregman distance")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_bytes_atomic(Path(args.out), buffer.getvalue())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
