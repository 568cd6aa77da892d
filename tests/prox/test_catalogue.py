"""Every Ψ of the catalogue against its definition (math.md §1), on every array backend.

The tests are generic over ``CATALOGUE``: a new Ψ is tested by adding an instance there.  The
oracles are independent of the closed forms under test:

* brute-force minimisation (dense grid + bounded Brent for separable Ψ's, SLSQP on the simplex
  for softmax) of the defining problems of ``prox``, ``prox_scaled``, ``prox_phi``, ``Φ*`` and
  ``env``, using only ``psi`` — itself checked against the math.md table in NumPy/SciPy and
  against exact (50-digit mpmath) arithmetic for the Bregman penalty at extreme arguments;
* identities that tie the methods together (Fenchel–Young, Moreau, ∇_z B = σ − y by central
  differences with the error bound that 1-Lipschitz gradients give);
* hypothesis property tests at the extremes (|z| up to 1e3, y within 1e-12 of a domain edge,
  c in [1e-6, 1e6]).

Brute-force results are computed once per Ψ (``lru_cache``) and reused on both backends.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from lbdsl.backend import to_numpy
from lbdsl.prox.catalogue import (ELU, Clip, Identity, LeakyReLU, Psi, ReLU, Sigmoid, Softmax,
                                  SoftThreshold, Tanh)

CATALOGUE: tuple[Psi, ...] = (
    Identity(), ReLU(), LeakyReLU(), LeakyReLU(0.3), ELU(), ELU(0.375), SoftThreshold(),
    SoftThreshold(0.7), SoftThreshold(0.0), Clip(), Clip(-0.5, 2.0), Tanh(), Sigmoid(),
    Softmax(),
)
SCALES = (0.05, 0.5, 1.0, 3.0, 50.0)  # c for prox_scaled
MUS = (0.1, 2.0)  # μ for prox_phi

each_psi = pytest.mark.parametrize("psi", CATALOGUE, ids=str)


# ---------------------------------------------------------------- helpers

def as_xp(xp: Any, a: Any, dtype: str = "float64") -> Any:
    return xp.asarray(np.asarray(a, dtype=np.float64), dtype=getattr(xp, dtype))


def as_np(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=np.float64)


def width(psi: Psi) -> int:
    """Length of the vectors the tests use (the simplex is small so SLSQP is reliable)."""
    return 4 if psi.elementwise else 3


@functools.lru_cache(maxsize=None)
def bounds(psi: Psi) -> tuple[float, float]:
    """dom Ψ of a separable Ψ as an interval, from ``project_domain(±∞)``."""
    ends = as_np(psi.project_domain(np.array([[-np.inf], [np.inf]])))
    return float(ends[0, 0]), float(ends[1, 0])


def psi_values(psi: Psi, u: np.ndarray) -> np.ndarray:
    """Ψ at each scalar in ``u`` (separable Ψ), through the NumPy backend."""
    return as_np(psi.psi(np.asarray(u, dtype=np.float64)[:, None]))


def in_domain(psi: Psi, y: Any) -> np.ndarray:
    return np.isfinite(as_np(psi.psi(y)))


@functools.lru_cache(maxsize=None)
def sample_z(psi: Psi, seed: int = 0) -> np.ndarray:
    """Random points, plus ones on and near the kinks of the piecewise Ψ's."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(6, width(psi))) * 2.5
    if psi.elementwise:
        special = [0.0] + [v + d for v in bounds(psi) if math.isfinite(v) for d in (0.0, 1e-3)]
        for name in ("theta", "lo", "hi"):
            if name in psi.params():
                special += [psi.params()[name], -psi.params()[name]]
        flat = z.reshape(-1)
        flat[: len(special)] = special
    return z


@functools.lru_cache(maxsize=None)
def sample_y(psi: Psi, seed: int = 1) -> np.ndarray:
    """Random points of dom Ψ, including points on its edges."""
    rng = np.random.default_rng(seed)
    n = width(psi)
    if not psi.elementwise:  # the simplex: Dirichlet points and a vertex
        y = rng.dirichlet(np.full(n, 0.8), size=6)
        y[0] = np.eye(n)[0]
        return y
    lo, hi = bounds(psi)
    if math.isfinite(lo) and math.isfinite(hi):
        y = rng.uniform(lo, hi, size=(6, n))
    elif math.isfinite(lo):
        y = lo + rng.exponential(1.5, size=(6, n))
    else:
        y = rng.normal(size=(6, n)) * 2.0
    edges = [v for v in (lo, hi) if math.isfinite(v)]
    y.reshape(-1)[: len(edges)] = edges
    return y


def search_interval(psi: Psi, centre: float) -> tuple[float, float]:
    """An interval of dom Ψ that holds the minimisers used below (|u| ≤ |centre| + R)."""
    lo, hi = bounds(psi)
    reach = 3.0 + max([abs(v) for v in (lo, hi) if math.isfinite(v)], default=0.0)
    return max(lo, -abs(centre) - reach), min(hi, abs(centre) + reach)


def brute_min_scalar(f: Any, lo: float, hi: float) -> tuple[float, float]:
    """(argmin, min) of a vectorised f on [lo, hi]: dense grid, then bounded Brent."""
    grid = np.linspace(lo, hi, 2001)
    values = f(grid)
    k = int(np.argmin(values))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = minimize_scalar(lambda u: float(f(np.array([u]))[0]), bounds=(a, b),
                          method="bounded", options={"xatol": 1e-14, "maxiter": 500})
    return min((float(res.fun), float(res.x)), (float(values[k]), float(grid[k])))[::-1]


def brute_min_simplex(f: Any, n: int) -> tuple[np.ndarray, float]:
    """(argmin, min) of f over the probability simplex in ℝⁿ by SLSQP from several starts."""
    best: tuple[float, np.ndarray] | None = None
    starts = [np.full(n, 1.0 / n)] + [0.7 * np.eye(n)[k] + 0.3 / n for k in range(n)]
    for x0 in starts:
        res = minimize(lambda u: f(np.clip(u, 0.0, 1.0) / np.clip(u, 0.0, 1.0).sum()), x0,
                       method="SLSQP", bounds=[(0.0, 1.0)] * n,
                       constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1.0}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        u = np.clip(res.x, 0.0, 1.0)
        u /= u.sum()
        if best is None or f(u) < best[0]:
            best = (float(f(u)), u)
    assert best is not None
    return best[1], best[0]


@functools.lru_cache(maxsize=None)
def brute_prox(psi: Psi, kind: str, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, argmins, minima) of a defining problem at ``sample_z(psi)``, by brute force.

    ``kind``: "prox_scaled" (min_u ½|u − v|² + c Ψ(u), c = scale), "prox_phi"
    (min_u ½|u − v|² + μ Φ(u), μ = scale) or "conj" (min_u Φ(u) − ⟨u, z⟩, i.e. −Φ*).
    """
    z = sample_z(psi)

    def objective(v: np.ndarray, u: np.ndarray, values: np.ndarray) -> np.ndarray:
        sq = 0.5 * np.sum(u * u, axis=-1)
        if kind == "prox_scaled":
            return 0.5 * np.sum((u - v) ** 2, axis=-1) + scale * values
        if kind == "prox_phi":
            return 0.5 * np.sum((u - v) ** 2, axis=-1) + scale * (sq + values)
        return sq + values - np.sum(u * v, axis=-1)

    argmins, minima = np.empty_like(z), np.empty(z.shape if psi.elementwise else z.shape[:-1])
    if psi.elementwise:
        for idx, v in np.ndenumerate(z):
            lo, hi = search_interval(psi, v)
            f = functools.partial(lambda v, u: objective(v, u[:, None], psi_values(psi, u)), v)
            argmins[idx], minima[idx] = brute_min_scalar(f, lo, hi)
    else:
        for i, v in enumerate(z):
            def f(u: np.ndarray, v: np.ndarray = v) -> float:
                return float(objective(v, u, as_np(psi.psi(u[None, :]))[0]))
            argmins[i], minima[i] = brute_min_simplex(f, z.shape[-1])
    return z, argmins, minima


def entrywise_total(psi: Psi, values: np.ndarray) -> np.ndarray:
    """Brute-force minima of a separable problem summed over the vector (last) axis."""
    return values.sum(axis=-1) if psi.elementwise else values


# ---------------------------------------------------------------- 1, 5: proxes are argmins

@each_psi
@pytest.mark.parametrize("c", (None, *SCALES), ids=lambda c: "prox" if c is None else f"c={c}")
def test_prox_and_prox_scaled_are_the_argmin(psi: Psi, c: float | None, xp: Any) -> None:
    z, u_brute, f_brute = brute_prox(psi, "prox_scaled", 1.0 if c is None else c)
    zx = as_xp(xp, z)
    u = as_np(psi.prox(zx) if c is None else psi.prox_scaled(zx, c))
    assert u.shape == z.shape
    np.testing.assert_allclose(u, u_brute, atol=2e-6)
    # The computed prox is at least as good as brute force, to rounding of the objective.
    scale = 1.0 if c is None else c
    f_ours = 0.5 * (u - z) ** 2 if psi.elementwise else 0.5 * np.sum((u - z) ** 2, axis=-1)
    vals = (psi_values(psi, u.reshape(-1)).reshape(u.shape) if psi.elementwise
            else as_np(psi.psi(u)))
    f_ours = f_ours + scale * vals
    assert np.all(f_ours <= f_brute + 1e-11 * (1.0 + np.abs(f_brute)))


@each_psi
@pytest.mark.parametrize("c", SCALES)
def test_prox_scaled_satisfies_its_optimality_condition(psi: Psi, c: float, xp: Any) -> None:
    """u = prox_{cΨ}(v) ⟺ (v − u)/c ∈ ∂Ψ(u) ⟺ u = σ(u + (v − u)/c): sharper than brute force."""
    v = np.concatenate([sample_z(psi), 10.0 * sample_z(psi)])
    u = as_np(psi.prox_scaled(as_xp(xp, v), c))
    back = as_np(psi.prox(as_xp(xp, u + (v - u) / c)))
    np.testing.assert_allclose(back, u, rtol=0, atol=1e-14 * (1.0 + np.max(np.abs(v))) / c)


@each_psi
@pytest.mark.parametrize("mu", MUS)
def test_prox_phi_satisfies_its_optimality_condition(psi: Psi, mu: float, xp: Any) -> None:
    """u = prox_{μΦ}(v) ⟺ (v − u)/μ − u ∈ ∂Ψ(u) ⟺ u = σ((v − u)/μ)."""
    v = np.concatenate([sample_z(psi), 10.0 * sample_z(psi)])
    u = as_np(psi.prox_phi(as_xp(xp, v), mu))
    back = as_np(psi.prox(as_xp(xp, (v - u) / mu)))
    np.testing.assert_allclose(back, u, rtol=0, atol=1e-14 * (1.0 + np.max(np.abs(v))) / mu)


@each_psi
@pytest.mark.parametrize("mu", MUS)
def test_prox_phi_is_the_argmin(psi: Psi, mu: float, xp: Any) -> None:
    z, u_brute, _ = brute_prox(psi, "prox_phi", mu)
    u = as_np(psi.prox_phi(as_xp(xp, z), mu))
    np.testing.assert_allclose(u, u_brute, atol=2e-6)


@each_psi
def test_prox_scaled_with_c_1_is_prox(psi: Psi, xp: Any) -> None:
    z = as_xp(xp, np.concatenate([sample_z(psi), 40.0 * sample_z(psi)]))
    np.testing.assert_allclose(as_np(psi.prox_scaled(z, 1.0)), as_np(psi.prox(z)),
                               rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------- 2, 6: Φ* and the envelope

@each_psi
def test_phi_conj_is_the_sup(psi: Psi, xp: Any) -> None:
    z, _, neg_conj = brute_prox(psi, "conj", 0.0)
    expected = -entrywise_total(psi, neg_conj)
    got = as_np(psi.phi_conj(as_xp(xp, z)))
    assert got.shape == z.shape[:-1]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


@each_psi
def test_envelope_is_the_min_and_moreau(psi: Psi, xp: Any) -> None:
    z, _, minima = brute_prox(psi, "prox_scaled", 1.0)
    zx = as_xp(xp, z)
    env = as_np(psi.envelope(zx))
    np.testing.assert_allclose(env, entrywise_total(psi, minima), rtol=1e-9, atol=1e-10)
    # Moreau: env_Ψ(z) + Φ*(z) = ½‖z‖²
    half_sq = 0.5 * np.sum(z * z, axis=-1)
    np.testing.assert_allclose(env + as_np(psi.phi_conj(zx)), half_sq, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------- 3, 4: the Bregman penalty

@each_psi
def test_bregman_bounds_and_fenchel_young(psi: Psi, xp: Any) -> None:
    z, y = sample_z(psi), sample_y(psi)
    zx, yx = as_xp(xp, z), as_xp(xp, y)
    b = as_np(psi.bregman(yx, zx))
    s = as_np(psi.prox(zx))
    assert b.shape == z.shape[:-1]
    # B ≥ ½‖y − σ(z)‖² ≥ 0
    assert np.all(b >= 0.5 * np.sum((y - s) ** 2, axis=-1) * (1 - 1e-12) - 1e-14)
    # B(σ(z), z) = 0
    assert np.all(np.abs(as_np(psi.bregman(psi.prox(zx), zx))) <= 1e-13)
    # B = Φ(y) + Φ*(z) − ⟨y, z⟩ where that difference is well conditioned
    phi, conj = as_np(psi.phi(yx)), as_np(psi.phi_conj(zx))
    naive = phi + conj - np.sum(y * z, axis=-1)
    scale = 1.0 + np.abs(phi) + np.abs(conj) + np.sum(np.abs(y * z), axis=-1)
    np.testing.assert_allclose(b, naive, rtol=0, atol=1e-13 * scale.max())


@each_psi
def test_bregman_grad_z_matches_central_differences(psi: Psi, xp: Any) -> None:
    z, y = sample_z(psi), sample_y(psi)
    grad = as_np(psi.bregman_grad_z(as_xp(xp, y), as_xp(xp, z)))
    np.testing.assert_allclose(grad, as_np(psi.prox(as_xp(xp, z))) - y, rtol=0, atol=1e-15)
    h = 1e-6
    for i in range(z.shape[-1]):
        e = np.zeros_like(z)
        e[..., i] = h
        b_plus = as_np(psi.bregman(as_xp(xp, y), as_xp(xp, z + e)))
        b_minus = as_np(psi.bregman(as_xp(xp, y), as_xp(xp, z - e)))
        fd = (b_plus - b_minus) / (2 * h)
        # ∇_z B is 1-Lipschitz, so the central difference is within h/2 of it even across
        # the kinks of σ; the rest is the rounding of B divided by h.
        tol = h / 2 + 1e-9 * (1.0 + np.abs(b_plus))
        assert np.all(np.abs(fd - grad[..., i]) <= tol), (i, fd, grad[..., i])


# ---------------------------------------------------------------- the math.md table, independently

def _reference(psi: Psi) -> dict[str, Any] | None:
    """σ, Φ, Φ* from the math.md table, written with NumPy/SciPy (not with lbdsl)."""
    inf = np.inf
    if isinstance(psi, Identity):
        return {"prox": lambda z: z, "phi": lambda y: 0.5 * y**2, "conj": lambda z: 0.5 * z**2}
    if isinstance(psi, ReLU):
        return {"prox": lambda z: np.maximum(z, 0),
                "phi": lambda y: np.where(y >= 0, 0.5 * y**2, inf),
                "conj": lambda z: 0.5 * np.maximum(z, 0) ** 2}
    if isinstance(psi, LeakyReLU):
        a = psi.a
        return {"prox": lambda z: np.where(z >= 0, z, a * z),
                "phi": lambda y: np.where(y >= 0, 0.5 * y**2, y**2 / (2 * a)),
                "conj": lambda z: np.where(z >= 0, 0.5 * z**2, 0.5 * a * z**2)}
    if isinstance(psi, ELU):
        al = psi.alpha

        def phi(y: np.ndarray) -> np.ndarray:   # (α + y) log(1 + y/α) − y on [−α, 0)
            with np.errstate(all="ignore"):
                neg = sps.xlogy(al + y, (al + y) / al) - y
            return np.where(y >= 0, 0.5 * y**2, np.where(y >= -al, neg, inf))
        return {"prox": lambda z: np.where(z >= 0, z, al * np.expm1(np.minimum(z, 0))),
                "phi": phi,
                "conj": lambda z: np.where(z >= 0, 0.5 * z**2,
                                           al * (np.expm1(np.minimum(z, 0)) - z))}
    if isinstance(psi, SoftThreshold):
        t = psi.theta
        return {"prox": lambda z: np.sign(z) * np.maximum(np.abs(z) - t, 0),
                "phi": lambda y: 0.5 * y**2 + t * np.abs(y),
                "conj": lambda z: 0.5 * np.maximum(np.abs(z) - t, 0) ** 2}
    if isinstance(psi, Clip):
        lo, hi = psi.lo, psi.hi
        return {"prox": lambda z: np.minimum(np.maximum(z, lo), hi),
                "phi": lambda y: np.where((y >= lo) & (y <= hi), 0.5 * y**2, inf),
                "conj": lambda z: 0.5 * z**2 - 0.5 * (z - np.clip(z, lo, hi)) ** 2}
    if isinstance(psi, Tanh):
        def phi(y: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                v = np.where(np.abs(y) < 1, y * np.arctanh(y) + 0.5 * np.log1p(-y**2), inf)
            # the lsc extension at |y| = 1 (the limit of the formula): log 2
            return np.where(np.abs(y) == 1, np.log(2.0), v)
        return {"prox": np.tanh, "phi": phi, "conj": lambda z: np.logaddexp(z, -z) - np.log(2)}
    if isinstance(psi, Sigmoid):
        def phi(y: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                v = sps.xlogy(y, y) + sps.xlog1py(1 - y, -y)
            return np.where((y >= 0) & (y <= 1), v, inf)
        return {"prox": sps.expit, "phi": phi, "conj": lambda z: np.logaddexp(0, z)}
    if isinstance(psi, Softmax):
        def phi(y: np.ndarray) -> np.ndarray:
            on = np.all(y >= 0, axis=-1) & np.isclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
            return np.where(on, np.sum(sps.xlogy(y, np.where(y > 0, y, 1)), axis=-1), inf)
        return {"prox": lambda z: sps.softmax(z, axis=-1), "phi": phi,
                "conj": lambda z: sps.logsumexp(z, axis=-1)}
    return None


@each_psi
def test_matches_the_math_md_table(psi: Psi, xp: Any) -> None:
    ref = _reference(psi)
    if ref is None:
        pytest.skip(f"no independent reference written for {psi}")
    z, y = sample_z(psi), sample_y(psi)
    total = (lambda a: a.sum(axis=-1)) if psi.elementwise else (lambda a: a)
    np.testing.assert_allclose(as_np(psi.prox(as_xp(xp, z))), ref["prox"](z), rtol=1e-14,
                               atol=1e-15)
    np.testing.assert_allclose(as_np(psi.phi(as_xp(xp, y))), total(ref["phi"](y)), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(as_np(psi.phi_conj(as_xp(xp, z))), total(ref["conj"](z)),
                               rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------- exact arithmetic at extremes

def _mp_phi_conj(psi: Psi) -> tuple[Any, Any] | None:
    """Φ and Φ* of one entry (one row for softmax) in mpmath, from the math.md table."""
    if isinstance(psi, Identity):
        return (lambda y: y * y / 2), (lambda z: z * z / 2)
    if isinstance(psi, ReLU):
        return (lambda y: y * y / 2), (lambda z: max(z, 0) ** 2 / 2)
    if isinstance(psi, LeakyReLU):
        a = mp.mpf(psi.a)
        return ((lambda y: y * y / 2 if y >= 0 else y * y / (2 * a)),
                (lambda z: z * z / 2 if z >= 0 else a * z * z / 2))
    if isinstance(psi, ELU):
        al = mp.mpf(psi.alpha)
        return ((lambda y: y * y / 2 if y >= 0
                 else (0 if y == -al else (al + y) * mp.log(1 + y / al)) - y),
                (lambda z: z * z / 2 if z >= 0 else al * (mp.exp(z) - 1 - z)))
    if isinstance(psi, SoftThreshold):
        t = mp.mpf(psi.theta)
        return (lambda y: y * y / 2 + t * abs(y)), (lambda z: max(abs(z) - t, 0) ** 2 / 2)
    if isinstance(psi, Clip):
        lo, hi = mp.mpf(psi.lo), mp.mpf(psi.hi)
        return (lambda y: y * y / 2), (lambda z: z * z / 2 - (z - min(max(z, lo), hi)) ** 2 / 2)

    def xlogx(x: Any) -> Any:
        return 0 if x == 0 else x * mp.log(x)

    if isinstance(psi, Tanh):
        return ((lambda y: (xlogx(1 + y) + xlogx(1 - y)) / 2),
                (lambda z: mp.log(mp.cosh(z))))
    if isinstance(psi, Sigmoid):
        return (lambda y: xlogx(y) + xlogx(1 - y)), (lambda z: mp.log(1 + mp.exp(z)))
    if isinstance(psi, Softmax):
        return ((lambda y: sum(xlogx(v) for v in y)),
                (lambda z: mp.log(sum(mp.exp(v) for v in z))))
    return None


def _extreme_pairs(psi: Psi) -> list[tuple[np.ndarray, np.ndarray]]:
    """(y, z) rows with |z| up to 1e3, y on / within 1e-12 of domain edges, y ≈ σ(z)."""
    # not round numbers: Φ(y) + Φ*(z) − yz is exact in floating point for dyadic y, z
    zs = [-1e6 / 3, -1e3 + 0.1, -30.3, -1.1, 0.3, 30.7, 1e3 - 0.3, 1e6 / 3]
    pairs = []
    if psi.elementwise:
        lo, hi = bounds(psi)
        for z in zs:
            s = float(as_np(psi.prox(np.array([[z]])))[0, 0])
            ys = [s, z + 0.37, z - 0.37, 0.25]
            ys += [e + d for e in (lo, hi) if math.isfinite(e) for d in (0.0, 1e-12, -1e-12)]
            for y in ys:
                if lo <= y <= hi:
                    pairs.append((np.array([y]), np.array([z])))
    else:
        for z in ([1e3, -1e3, 0.0], [30.0, 29.0, -30.0], [0.1, -0.2, 0.3]):
            z = np.array(z)
            s = as_np(psi.prox(z))
            for y in (s, np.array([1.0, 0, 0]), np.array([1 - 2e-12, 1e-12, 1e-12]),
                      np.array([0.0, 0.5, 0.5]), np.array([0.2, 0.3, 0.5])):
                pairs.append((y, z))
    return pairs


@each_psi
def test_bregman_matches_exact_arithmetic_at_extremes(psi: Psi, xp: Any) -> None:
    forms = _mp_phi_conj(psi)
    if forms is None:
        pytest.skip(f"no mpmath reference written for {psi}")
    phi, conj = forms
    pairs = _extreme_pairs(psi)
    y = np.stack([p[0] for p in pairs])
    z = np.stack([p[1] for p in pairs])
    got = as_np(psi.bregman(as_xp(xp, y), as_xp(xp, z)))
    with mp.workdps(60):
        for k, (yk, zk) in enumerate(pairs):
            ym, zm = [mp.mpf(float(v)) for v in yk], [mp.mpf(float(v)) for v in zk]
            if psi.elementwise:
                exact = sum(phi(a) + conj(b) - a * b for a, b in zip(ym, zm))
            else:  # Φ*(z)·Σy: the float y sums to 1 only to rounding, times |z| = 1e3
                exact = phi(ym) + conj(zm) * sum(ym) - sum(a * b for a, b in zip(ym, zm))
            exact = float(exact)
            # no cancellation: the error is relative to B itself (plus rounding of O(1) terms),
            # not to the O(z²) terms of Φ(y) + Φ*(z) − ⟨y, z⟩.
            tol = 1e-12 * exact + 1e-15 * (1.0 + np.sum(np.abs(yk)))
            assert abs(got[k] - exact) <= tol, (yk, zk, got[k], exact)


# ---------------------------------------------------------------- 8: domains

@each_psi
def test_outside_the_domain_is_inf_not_nan(psi: Psi, xp: Any) -> None:
    if psi.elementwise:
        lo, hi = bounds(psi)
        outside = [v for v in (lo - 1e-9 * max(1.0, abs(lo)), hi + 1e-9 * max(1.0, abs(hi)),
                               lo - 5.0, hi + 5.0) if math.isfinite(v)]
        if not outside:  # dom Ψ = ℝⁿ: finite everywhere
            y = np.array([[-1e3, -1.0, 0.0, 1e3][: width(psi)]])
            assert np.all(np.isfinite(as_np(psi.psi(as_xp(xp, y)))))
            return
        y = np.array(outside)[:, None] * np.ones((1, width(psi)))
        y[:, 1:] = sample_y(psi)[0, 1:]  # only the first entry leaves the domain
    else:
        y = np.array([[0.5, 0.6, -0.1], [0.5, 0.6, 0.1], [0.2, 0.2, 0.2], [1.0 + 1e-6, 0, 0]])
    z = np.ones_like(y)
    for value in (psi.psi(as_xp(xp, y)), psi.phi(as_xp(xp, y)),
                  psi.bregman(as_xp(xp, y), as_xp(xp, z))):
        assert np.all(as_np(value) == np.inf)


@each_psi
def test_project_domain_is_admissible_idempotent_and_nearest(psi: Psi, xp: Any) -> None:
    rng = np.random.default_rng(3)
    noisy = rng.normal(size=(20, width(psi))) * 3
    p = psi.project_domain(as_xp(xp, noisy))
    assert np.all(in_domain(psi, p))
    np.testing.assert_allclose(as_np(psi.project_domain(p)), as_np(p), rtol=0, atol=1e-15)
    # nearest: no domain point sampled is closer than the projection
    dist = np.sum((as_np(p) - noisy) ** 2, axis=-1)
    for y in sample_y(psi):
        assert np.all(dist <= np.sum((y - noisy) ** 2, axis=-1) + 1e-12)
    # y already in the domain is unchanged
    y = sample_y(psi)
    np.testing.assert_allclose(as_np(psi.project_domain(as_xp(xp, y))), y, atol=1e-15)


@each_psi
def test_project_domain_with_margin(psi: Psi, xp: Any) -> None:
    margin = 0.01
    noisy = np.random.default_rng(4).normal(size=(10, width(psi))) * 3
    p = as_np(psi.project_domain(as_xp(xp, noisy), margin=margin))
    if psi.elementwise:
        lo, hi = bounds(psi)
        assert np.all(p >= lo + margin - 1e-15) and np.all(p <= hi - margin + 1e-15)
    else:
        assert np.all(p >= margin - 1e-15)
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-14)
    with pytest.raises(ValueError, match="margin"):
        psi.project_domain(as_xp(xp, noisy), margin=-1.0)


# ---------------------------------------------------------------- structure

@each_psi
def test_shapes_on_stacks_of_vectors(psi: Psi, xp: Any) -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2, 3, width(psi)))
    y = np.stack([sample_y(psi)[:3], sample_y(psi)[3:6]])
    zx, yx = as_xp(xp, z), as_xp(xp, y)
    for value in (psi.psi(yx), psi.phi(yx), psi.phi_conj(zx), psi.envelope(zx),
                  psi.bregman(yx, zx)):
        assert value.shape == (2, 3)
    for mapped in (psi.prox(zx), psi.bregman_grad_z(yx, zx), psi.prox_scaled(zx, 0.3),
                   psi.prox_phi(zx, 0.3), psi.project_domain(zx)):
        assert mapped.shape == (2, 3, width(psi))
    # a stack is its rows, one at a time
    np.testing.assert_allclose(as_np(psi.prox_scaled(zx, 0.3))[1, 2],
                               as_np(psi.prox_scaled(as_xp(xp, z[1, 2][None]), 0.3))[0],
                               rtol=1e-14, atol=1e-15)


@each_psi
def test_prox_scaled_accepts_an_array_of_scales(psi: Psi, xp: Any) -> None:
    z = sample_z(psi)
    c = np.array([0.01, 0.3, 1.0, 2.0, 7.0, 100.0])[:, None]
    if psi.elementwise:  # separable: one scale per entry is allowed too
        c = c * np.ones_like(z)
    got = as_np(psi.prox_scaled(as_xp(xp, z), as_xp(xp, c)))
    for i in range(z.shape[0]):
        one = as_np(psi.prox_scaled(as_xp(xp, z[i:i + 1]), float(c[i, 0])))[0]
        np.testing.assert_allclose(got[i], one, rtol=1e-13, atol=1e-15)


@each_psi
@pytest.mark.parametrize("c", (None, 1e-3, 0.3, 5.0, 1e3))
def test_firmly_nonexpansive(psi: Psi, c: float | None, xp: Any) -> None:
    """⟨P a − P b, a − b⟩ ≥ ‖P a − P b‖² for P = prox_{cΨ}: monotone and 1-Lipschitz."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(200, width(psi))) * rng.choice([0.1, 1.0, 10.0], size=(200, 1))
    b = a + rng.normal(size=a.shape) * rng.choice([1e-3, 0.1, 3.0], size=(200, 1))
    prox = psi.prox if c is None else functools.partial(psi.prox_scaled, c=c)
    pa, pb = as_np(prox(as_xp(xp, a))), as_np(prox(as_xp(xp, b)))
    inner = np.sum((pa - pb) * (a - b), axis=-1)
    sq = np.sum((pa - pb) ** 2, axis=-1)
    assert np.all(inner >= sq - 1e-12 * (1.0 + np.sum((a - b) ** 2, axis=-1)))


@each_psi
def test_attributes_and_params(psi: Psi) -> None:
    assert isinstance(psi.name, str) and psi.name
    assert psi.elementwise == (not isinstance(psi, Softmax))
    assert all(isinstance(v, float) for v in psi.params().values())
    assert str(psi).startswith(psi.name)
    with pytest.raises(ValueError, match="> 0"):
        psi.prox_scaled(np.zeros((1, width(psi))), 0.0)
    with pytest.raises(ValueError, match="> 0"):
        psi.prox_phi(np.zeros((1, width(psi))), -1.0)


@pytest.mark.parametrize("build, message", [
    (lambda: LeakyReLU(0.0), "0 < a <= 1"), (lambda: LeakyReLU(1.5), "0 < a <= 1"),
    (lambda: SoftThreshold(-0.1), "theta >= 0"), (lambda: Clip(1.0, 1.0), "lo < hi"),
    (lambda: ELU(1.5), "0 < alpha <= 1"), (lambda: ELU(0.0), "0 < alpha <= 1"),
    (lambda: Clip(0.0, math.inf), "lo < hi"),
])
def test_constructors_reject_bad_parameters(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# ---------------------------------------------------------------- float32

@each_psi
def test_float32_keeps_dtype_and_accuracy(psi: Psi, xp: Any) -> None:
    z32 = as_xp(xp, np.concatenate([sample_z(psi), 30.0 * sample_z(psi)]), "float32")
    y32 = as_xp(xp, np.concatenate([sample_y(psi), sample_y(psi)]), "float32")
    # the float64 reference at the same (float32-rounded) inputs; a float32 point of the
    # simplex sums to 1 only within float32 rounding, which float64 would call off the simplex
    y_ref = as_np(y32)
    if not psi.elementwise:
        y_ref = y_ref / y_ref.sum(axis=-1, keepdims=True)
    z64, y64 = as_xp(xp, as_np(z32)), as_xp(xp, y_ref)
    maps = {
        "prox": lambda z, y: psi.prox(z), "grad": lambda z, y: psi.bregman_grad_z(y, z),
        "scaled_small": lambda z, y: psi.prox_scaled(z, 0.01),
        "scaled_big": lambda z, y: psi.prox_scaled(z, 20.0),
        "prox_phi": lambda z, y: psi.prox_phi(z, 0.5),
        "project": lambda z, y: psi.project_domain(z, 0.01),
    }
    values = {
        "psi": lambda z, y: psi.psi(y), "phi": lambda z, y: psi.phi(y),
        "conj": lambda z, y: psi.phi_conj(z), "env": lambda z, y: psi.envelope(z),
        "bregman": lambda z, y: psi.bregman(y, z),
    }
    for name, f in {**maps, **values}.items():
        got = f(z32, y32)
        assert got.dtype == xp.float32, name
        ref = as_np(f(z64, y64))
        scale = 1.0 + np.abs(ref) if name in maps else 1.0 + np.max(np.abs(ref))
        # values are sums of terms of size up to ~z²: tolerance relative to the largest
        if name in values:
            scale = scale + np.max(np.sum(as_np(z64) ** 2, axis=-1))
        np.testing.assert_array_less(np.abs(as_np(got) - ref), 2e-6 * scale + 1e-30, name)


# ---------------------------------------------------------------- 7: hypothesis at the extremes

_EDGE_OFFSETS = (0.0, 1e-300, 1e-12, 1e-9, 1e-6, 1e-3)
_EXTREME_Z = st.one_of(st.floats(-1e3, 1e3, allow_nan=False),
                       st.sampled_from([-1e3, -700.0, -30.0, -1e-12, 0.0, 1e-12, 30.0, 700.0,
                                        1e3]))
_SCALE = st.floats(-6.0, 6.0).map(lambda e: 10.0**e)


@st.composite
def _domain_vector(draw: Any, psi: Psi) -> np.ndarray:
    """A point of dom Ψ, often on or within 1e-12 of an edge, or far out if unbounded."""
    n = width(psi)
    if not psi.elementwise:
        k = draw(st.integers(0, n - 1))
        d = draw(st.sampled_from(_EDGE_OFFSETS + (0.1, 0.3)))
        y = np.full(n, d)
        y[k] = 1.0 - (n - 1) * d
        return y
    lo, hi = bounds(psi)
    entries = []
    for _ in range(n):
        edges = [(lo, 1.0), (hi, -1.0)]
        edges = [(e, sign) for e, sign in edges if math.isfinite(e)]
        if edges and draw(st.booleans()):
            e, sign = draw(st.sampled_from(edges))
            entries.append(e + sign * draw(st.sampled_from(_EDGE_OFFSETS)))
        else:
            entries.append(draw(st.floats(max(lo, -1e3), min(hi, 1e3), allow_nan=False)))
    return np.array(entries)


@each_psi
@given(data=st.data())
def test_extremes_are_finite_admissible_and_nonnegative(psi: Psi, xp: Any, data: Any) -> None:
    n = width(psi)
    z_np = np.array(data.draw(st.lists(_EXTREME_Z, min_size=n, max_size=n)))[None]
    y_np = data.draw(_domain_vector(psi))[None]
    c = data.draw(_SCALE)
    z, y = as_xp(xp, z_np), as_xp(xp, y_np)

    def finite(x: Any) -> bool:
        return bool(np.all(np.isfinite(as_np(x))))

    s = psi.prox(z)
    assert finite(s) and np.all(in_domain(psi, s))
    assert finite(psi.psi(y)) and finite(psi.phi(y))
    assert finite(psi.phi_conj(z)) and finite(psi.envelope(z))
    b = as_np(psi.bregman(y, z))
    assert np.all(np.isfinite(b)) and np.all(b >= 0)
    assert np.all(b >= 0.5 * np.sum((y_np - as_np(s)) ** 2, axis=-1) * (1 - 1e-9) - 1e-12)
    b0 = as_np(psi.bregman(s, z))
    assert np.all(b0 >= 0) and np.all(b0 <= 1e-12 * (1.0 + np.sum(np.abs(z_np))))
    assert finite(psi.bregman_grad_z(y, z))
    for u in (psi.prox_scaled(z, c), psi.prox_phi(z, c)):
        assert finite(u) and np.all(in_domain(psi, u))
    noisy = as_xp(xp, y_np + z_np * 1e-3)
    assert np.all(in_domain(psi, psi.project_domain(noisy)))


@pytest.mark.parametrize("psi", CATALOGUE, ids=str)
def test_prox_vjp_matches_finite_differences(psi) -> None:  # noqa: ANN001
    """``σ'(z)ᵀ g`` (used only by the backprop baselines) against central differences of σ."""
    rng = np.random.default_rng(7)
    z = rng.normal(scale=2.0, size=(3, 5))
    g = rng.normal(size=(3, 5))
    h = 1e-6
    got = np.asarray(psi.prox_vjp(z, g))
    for i in range(3):
        for j in range(5):
            dz = np.zeros_like(z)
            dz[i, j] = h
            column = (np.asarray(psi.prox(z + dz)) - np.asarray(psi.prox(z - dz))) / (2 * h)
            assert np.sum(column * g) == pytest.approx(got[i, j], abs=1e-6)


# ---------------------------------------------------------------- the contract itself

#: what a Ψ must define: the abstract methods of the contract (``phi``, ``bregman_grad_z`` and
#: ``prox_phi`` are generic; ElementwisePsi's four entrywise terms are its own contract)
CONTRACT = ("prox", "prox_vjp", "psi", "phi_conj", "envelope", "bregman", "prox_scaled",
            "project_domain")


def test_the_contract_is_what_is_abstract() -> None:
    assert set(Psi.__abstractmethods__) == set(CONTRACT)


@pytest.mark.parametrize("psi", CATALOGUE, ids=str)
def test_every_psi_implements_the_whole_contract(psi: Psi) -> None:
    """Every method of the contract is defined below ``Psi`` (none is the abstract stub), and
    each returns an array of the documented shape on a stack of vectors."""
    for name in CONTRACT:
        assert getattr(type(psi), name) is not getattr(Psi, name), f"{psi} lacks {name}"
    z = np.linspace(-0.9, 0.9, 12).reshape(3, 4)
    y = np.asarray(psi.project_domain(np.abs(z) / 4 if psi.name == "softmax" else z * 0.5, 0.01))
    for name, args, shape in (("prox", (z,), z.shape), ("prox_vjp", (z, z), z.shape),
                              ("psi", (y,), (3,)), ("phi_conj", (z,), (3,)),
                              ("envelope", (z,), (3,)), ("bregman", (y, z), (3,)),
                              ("prox_scaled", (z, 0.5), z.shape),
                              ("project_domain", (z,), z.shape)):
        out = getattr(psi, name)(*args)
        assert out is not None and np.shape(out) == shape, name


def test_a_psi_that_forgets_a_method_cannot_be_built() -> None:
    """The bug this guards: ``@abstractmethod`` on the wrong method let a Ψ without ``psi``
    be instantiated, and its ``psi`` silently returned None."""
    class Partial(Psi):
        name = "partial"

        def prox(self, z):  # noqa: ANN001, ANN201
            return z

    with pytest.raises(TypeError, match="psi"):
        Partial()


@each_psi
def test_flat_values_are_the_values_sigma_keeps_on_an_interval(psi: Psi) -> None:
    """Brute force on a grid of z (step 1e-3 on [−8, 8]): the values σ takes at 50 or more
    consecutive points are exactly ``flat_values``.  Softmax is constant along ``z + t·1``
    for every value, so it has no value of its own to snap data to: none."""
    if not psi.elementwise:
        assert psi.flat_values() == ()
        return
    s = as_np(psi.prox(np.linspace(-8.0, 8.0, 16001)))
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    runs = np.diff(np.r_[starts, s.size])
    held = {float(s[i]) for i, n in zip(starts, runs) if n >= 50}
    assert held == set(psi.flat_values())


@each_psi
@pytest.mark.parametrize("width", (0.0, 0.05, 0.4, 5.0))
def test_snap_sets_each_entry_near_a_flat_value_to_the_nearest(psi: Psi, width: float,
                                                              xp: Any) -> None:
    y = np.random.default_rng(3).uniform(-3.0, 3.0, (4, 25))
    out = as_np(psi.snap(as_xp(xp, y), width))
    flats = np.array(psi.flat_values())
    for got, entry in zip(out.ravel(), y.ravel()):
        d = np.abs(flats - entry) if flats.size else np.array([np.inf])
        assert got == (flats[np.argmin(d)] if d.min() < width else entry)
