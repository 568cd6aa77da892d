"""Write the weights that specs/seed2_shallow.lbn and specs/seed3_residual.lbn load.

    python examples/seed_weights.py [--out DIR] [--quick]

DIR defaults to ``lbdsl-out/seed-weights/`` at the top of the repository, where the two specs
look (``load("../lbdsl-out/seed-weights/…")``, relative to ``specs/``).  Both fits are seeded and
deterministic; both files are written atomically.

Seed experiment 2 (math.md §6.2) — ``seed2_shallow.npz``, one array ``c`` of shape 1x25.
    N(u) = Σ_{j=1}^{25} c_j relu(u + b_j),  b_j = −(j−1)h,  h = 3/50   (w_j = 1)
    Target: the seed lecture's K(u) = u·(2u/3)^{3u} on [0, 1.5] (K(0) = 0, K(1.5) = 1.5).  K is
    strictly increasing there — d log K/du = 1/u + 3 log(2u/3) + 3 ≥ 6 − 3 log(9/2) ≈ 1.49 —
    but not convex (its slope falls from 1 at u = 0 to ≈ 0.105 near u = 0.32, then rises to 5.5),
    so c ≥ 0, which makes N convex, would fit it badly (max error 0.024).  Instead the fit is on
    the slopes: N is piecewise linear with knots t_k = (k−1)h and slope s_k = c_1 + … + c_k on
    [t_k, t_{k+1}] (s_25 from t_25 = 1.44 on), so N is increasing iff every s_k > 0.  Non-negative
    least squares (scipy.optimize.nnls) on s ≥ S_MIN = 0.01, with a small ridge γ‖c‖²
    (γ = 1e-6), on 601 points of [0, 1.5]; then c = (s_1, s_2 − s_1, …, s_25 − s_24).  N is
    strictly increasing on [0, ∞) (and 0 for u ≤ 0, where every ramp is off).

Seed experiment 3 (math.md §6.3) — ``seed3_residual.npz``, arrays ``W_1 … W_20`` (16x1) and
``b_1 … b_20`` (16), the names the spec's parameters get inside ``repeat 20``, so its keyless
``load("…npz")`` gives every layer its own weights.
    u_k = u_{k−1} + W_kᵀ relu(W_k u_{k−1} + b_k),  k = 1 … 20,  N(u) = u_20   (scalar u)
    Target: K(u) = u³ + u on [−1, 1].  Every tied residual layer is increasing with slope ≥ 1:
    d/du [u + Σ_i W_i relu(W_i u + b_i)] = 1 + Σ_i W_i² 1[W_i u + b_i > 0] ≥ 1, so N is
    injective with N(v) − N(u) ≥ v − u for v ≥ u, whatever the weights — as is the target
    (K' = 1 + 3u² ≥ 1), so the inversion is well posed.
    Fit: mean squared error on 201 equispaced points of [−1, 1] (full batch), hand-written
    backpropagation through the 20 layers, Adam with a cosine-decayed step; W ~ N(0, 0.05²) and
    knots −b_i/W_i ~ U[−1, 1] to start (seed 3).  Small initial weights matter: the slope of the
    composition is a product of 20 factors ≥ 1, so large ones start far too steep.
    Full: 5000 steps, step 0.01 (about 5 s on one core; max error ≈ 6e-4).
    --quick: 400 steps, step 0.03 (under a second; max error ≈ 1e-2), for the tests.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from lbdsl.outputs import write_npz_atomic

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "lbdsl-out" / "seed-weights"
SHALLOW_FILE = "seed2_shallow.npz"
RESIDUAL_FILE = "seed3_residual.npz"

# --- seed 2: shallow sum of ReLU ramps -------------------------------------------------------

SHALLOW_UNITS = 25
SHALLOW_H = 3 / 50
SHALLOW_RANGE = (0.0, 1.5)
SHALLOW_FIT_POINTS = 601
SHALLOW_S_MIN = 0.01      # floor on every slope of N: strictly increasing
SHALLOW_RIDGE = 1e-6      # γ in γ‖c‖²


def shallow_target(u: np.ndarray) -> np.ndarray:
    """K(u) = u·(2u/3)^{3u} for u > 0 (the seed lecture's target), 0 for u ≤ 0."""
    u = np.asarray(u, dtype=np.float64)
    out = np.zeros_like(u)
    pos = u > 0
    out[pos] = u[pos] * np.exp(3 * u[pos] * np.log(2 * u[pos] / 3))
    return out


def shallow_knots() -> np.ndarray:
    """t_j = (j − 1)h = −b_j: where ramp j switches on (w_j = 1)."""
    return np.arange(SHALLOW_UNITS) * SHALLOW_H


def shallow_forward(c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """N(u) = Σ_j c_j relu(u − t_j) for a 1-D array of inputs."""
    u = np.asarray(u, dtype=np.float64)
    return np.maximum(u[:, None] - shallow_knots()[None, :], 0.0) @ np.ravel(c)


def fit_shallow() -> np.ndarray:
    """c (shape 1x25): NNLS on the slopes s ≥ S_MIN with ridge γ‖c‖², c = D s."""
    m = SHALLOW_UNITS
    u = np.linspace(*SHALLOW_RANGE, SHALLOW_FIT_POINTS)
    ramps = np.maximum(u[:, None] - shallow_knots()[None, :], 0.0)
    diff = np.eye(m) - np.eye(m, k=-1)            # c = diff @ s
    basis = ramps @ diff                          # column k: ramp clipped to [t_k, t_{k+1}]
    # s = S_MIN + t with t ≥ 0:  min ‖basis t − (K − S_MIN basis 1)‖² + γ‖diff t + S_MIN diff 1‖²
    ones = np.ones(m)
    a = np.vstack([basis, np.sqrt(SHALLOW_RIDGE) * diff])
    rhs = np.concatenate([shallow_target(u) - SHALLOW_S_MIN * basis @ ones,
                          -np.sqrt(SHALLOW_RIDGE) * SHALLOW_S_MIN * diff @ ones])
    t, _ = nnls(a, rhs, maxiter=50 * m)
    slopes = SHALLOW_S_MIN + t
    return (diff @ slopes).reshape(1, m)


# --- seed 3: tied residual network -----------------------------------------------------------

RESIDUAL_LAYERS = 20
RESIDUAL_WIDTH = 16
RESIDUAL_RANGE = (-1.0, 1.0)
RESIDUAL_FIT_POINTS = 201
RESIDUAL_SEED = 3


def residual_target(u: np.ndarray) -> np.ndarray:
    """K(u) = u³ + u."""
    u = np.asarray(u, dtype=np.float64)
    return u**3 + u


@dataclass(frozen=True)
class Schedule:
    """Adam settings: ``steps`` steps from ``lr``, cosine-decayed to 0."""

    steps: int
    lr: float
    init_std: float = 0.05


FULL = Schedule(steps=5000, lr=0.01)
QUICK = Schedule(steps=400, lr=0.03)


def residual_forward(weights: np.ndarray, biases: np.ndarray, u: np.ndarray,
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every state u_0 … u_l and pre-activation z_1 … z_l for a 1-D batch of scalar inputs.

    ``weights[k]`` and ``biases[k]`` (shape (width,)) are W_{k+1} (as a vector) and b_{k+1}.
    """
    states = [np.asarray(u, dtype=np.float64)]
    pre = []
    for w, b in zip(weights, biases):
        z = states[-1][:, None] * w[None, :] + b[None, :]
        pre.append(z)
        states.append(states[-1] + np.maximum(z, 0.0) @ w)
    return states, pre


def residual_loss_and_grad(weights: np.ndarray, biases: np.ndarray, u: np.ndarray,
                           target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean squared error of N(u) against ``target`` and its gradient (backpropagation).

    Layer k: u' = u + Σ_i w_i relu(z_i), z_i = w_i u + b_i, so with g = ∂L/∂u' and
    d_i = g w_i 1[z_i > 0] = ∂L/∂z_i: ∂L/∂b_i = d_i, ∂L/∂w_i = g relu(z_i) + d_i u,
    ∂L/∂u = g + Σ_i d_i w_i.
    """
    states, pre = residual_forward(weights, biases, u)
    residual = states[-1] - target
    loss = float(np.mean(residual**2))
    g = 2.0 * residual / residual.size
    grad_w = np.empty_like(weights)
    grad_b = np.empty_like(biases)
    for k in reversed(range(len(weights))):
        z, w, u_in = pre[k], weights[k], states[k]
        d = g[:, None] * w[None, :] * (z > 0)
        grad_b[k] = d.sum(axis=0)
        grad_w[k] = g @ np.maximum(z, 0.0) + u_in @ d
        g = g + d @ w
    return loss, grad_w, grad_b


def fit_residual(schedule: Schedule = FULL, seed: int = RESIDUAL_SEED,
                 ) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Train the tied residual network on K(u) = u³ + u by Adam; (weights, biases, losses)."""
    rng = np.random.default_rng(seed)
    shape = (RESIDUAL_LAYERS, RESIDUAL_WIDTH)
    weights = rng.normal(0.0, schedule.init_std, shape)
    knots = rng.uniform(*RESIDUAL_RANGE, shape)       # relu i of layer k switches at u = knot
    biases = -weights * knots
    u = np.linspace(*RESIDUAL_RANGE, RESIDUAL_FIT_POINTS)
    target = residual_target(u)
    params = [weights, biases]
    first = [np.zeros(shape), np.zeros(shape)]
    second = [np.zeros(shape), np.zeros(shape)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    losses = []
    for step in range(1, schedule.steps + 1):
        lr = schedule.lr * 0.5 * (1.0 + np.cos(np.pi * (step - 1) / schedule.steps))
        loss, *grads = residual_loss_and_grad(weights, biases, u, target)
        losses.append(loss)
        for p, g, m1, m2 in zip(params, grads, first, second):
            m1 *= beta1
            m1 += (1 - beta1) * g
            m2 *= beta2
            m2 += (1 - beta2) * g * g
            p -= lr * (m1 / (1 - beta1**step)) / (np.sqrt(m2 / (1 - beta2**step)) + eps)
    losses.append(residual_loss_and_grad(weights, biases, u, target)[0])
    return weights, biases, losses


def residual_arrays(weights: np.ndarray, biases: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays under the spec's names: W_k (width x 1) and b_k (width), k = 1 … l."""
    out: dict[str, np.ndarray] = {}
    for k, (w, b) in enumerate(zip(weights, biases), start=1):
        out[f"W_{k}"] = w.reshape(-1, 1).copy()
        out[f"b_{k}"] = b.copy()
    return out


# --- writing ---------------------------------------------------------------------------------

def max_error(fitted: np.ndarray, target: np.ndarray) -> float:
    return float(np.max(np.abs(fitted - target)))


def write_shallow(out: Path) -> tuple[Path, float]:
    """Fit seed 2's c and write it; (path, max error on the spec's 100-point grid)."""
    c = fit_shallow()
    grid = np.linspace(*SHALLOW_RANGE, 100)
    path = Path(out) / SHALLOW_FILE
    write_npz_atomic(path, {"c": c})
    return path, max_error(shallow_forward(c, grid), shallow_target(grid))


def write_residual(out: Path, quick: bool = False) -> tuple[Path, float]:
    """Train seed 3's network and write it; (path, max error on the fit's 201-point grid)."""
    weights, biases, _ = fit_residual(QUICK if quick else FULL)
    grid = np.linspace(*RESIDUAL_RANGE, RESIDUAL_FIT_POINTS)
    path = Path(out) / RESIDUAL_FILE
    write_npz_atomic(path, residual_arrays(weights, biases))
    fitted = residual_forward(weights, biases, grid)[0][-1]
    return path, max_error(fitted, residual_target(grid))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the .npz files (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help=f"seed 3 with {QUICK.steps} Adam steps instead of {FULL.steps}")
    args = parser.parse_args(argv)
    path, err = write_shallow(args.out)
    print(f"seed 2: {path}  c: 1x{SHALLOW_UNITS}, target u(2u/3)^(3u) on [0, 1.5], "
          f"max error {err:.2e} on linspace(0, 1.5, 100)")
    schedule = QUICK if args.quick else FULL
    path, err = write_residual(args.out, quick=args.quick)
    print(f"seed 3: {path}  W_1..W_{RESIDUAL_LAYERS}: {RESIDUAL_WIDTH}x1, "
          f"b_1..b_{RESIDUAL_LAYERS}: {RESIDUAL_WIDTH}, target u^3 + u on [-1, 1], "
          f"{schedule.steps} Adam steps, max error {err:.2e} on linspace(-1, 1, "
          f"{RESIDUAL_FIT_POINTS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
