"""TV's prox against scikit-image's Chambolle solver on a real image, and its own certificate.

scikit-image 0.26, ``restoration/_denoise.py``: ``denoise_tv_chambolle(f, weight)`` solves
``min_u ½‖u − f‖² + weight·Σ_i ‖(∇u)_i‖₂`` (its docstring's ROF form ``Σ|∇u| + (λ/2)(f − u)²``
with ``weight = 1/λ``, multiplied by ``weight``).  Its ``_denoise_tv_chambolle_nd`` uses forward
differences whose last entry stays 0 (Neumann), isotropic norms over the stacked axis
components, and ``out = f − div p`` with ``‖p_i‖ ≤ weight``.  So

    denoise_tv_chambolle(f, weight = c)  ≈  prox_{c·TV}(f)

with the same TV; its mean-normalised energy only decides when it stops.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from skimage import data
from skimage.restoration import denoise_tv_chambolle

from lbdsl.backend import asarray, to_numpy
from lbdsl.prox.regularisers import TV, Weighted
from reg_oracles import brute_prox, sample, CASES, CASE_IDS

WEIGHT = 0.05


@functools.lru_cache(maxsize=None)
def camera32() -> np.ndarray:
    """The camera image, 512×512 block-averaged to 32×32, in [0, 1]."""
    cam = data.camera().astype(np.float64) / 255.0
    return cam.reshape(32, 16, 32, 16).mean(axis=(1, 3))


@functools.lru_cache(maxsize=None)
def skimage_solution() -> np.ndarray:
    # a tight eps so that the iteration cap decides: 3000 Chambolle steps
    return denoise_tv_chambolle(camera32(), weight=WEIGHT, eps=1e-14, max_num_iter=3000)


def objective(u: np.ndarray, f: np.ndarray, c: float) -> float:
    """½‖u − f‖² + c·TV(u), TV written with numpy.diff (Neumann: the last difference is 0)."""
    gx = np.diff(u, axis=0, append=u[-1:, :])
    gy = np.diff(u, axis=1, append=u[:, -1:])
    return 0.5 * float(np.sum((u - f) ** 2)) + c * float(np.sum(np.hypot(gx, gy)))


def test_prox_agrees_with_skimage_within_its_accuracy(xp):
    f = camera32()
    sk = skimage_solution()
    res = TV(f.shape).prox_with_dual(asarray(xp, f), WEIGHT, tol=1e-3, max_iter=5000)
    assert res.converged
    ours = to_numpy(res.u)
    scale = np.linalg.norm(f - f.mean())
    # P is 1-strongly convex: ‖x − u*‖ ≤ sqrt(2(P(x) − P*)), and P* ≥ P(ours) − gap
    sk_error = math.sqrt(2 * max(objective(sk, f, WEIGHT) - objective(ours, f, WEIGHT)
                                 + res.gap, 0.0))
    our_error = math.sqrt(2 * res.gap)
    distance = np.linalg.norm(ours - sk)
    assert distance <= sk_error + our_error + 1e-12
    # and both solve the same problem well: the bound is small against the image's contrast
    assert (sk_error + our_error) / scale < 5e-3
    assert distance / scale < 5e-4


def test_skimage_weight_is_c_not_a_multiple(xp):
    """The mapping is discriminating: with c = 2·weight or weight/2 the solutions are far off."""
    f = camera32()
    sk = skimage_solution()
    scale = np.linalg.norm(f - f.mean())
    for c in (2 * WEIGHT, WEIGHT / 2):
        other = to_numpy(TV(f.shape).prox(asarray(xp, f), c, tol=1e-3))
        assert np.linalg.norm(other - sk) / scale > 1e-2


def test_float32_prox_agrees_with_skimage(xp):
    f = camera32()
    res = TV(f.shape).prox_with_dual(asarray(xp, f, xp.float32), WEIGHT, tol=2e-3)
    assert res.u.dtype == xp.float32 and res.p.dtype == xp.float32
    scale = np.linalg.norm(f - f.mean())
    assert np.linalg.norm(to_numpy(res.u) - skimage_solution()) / scale < 1e-3


@pytest.mark.parametrize("max_iter", [5, 20, 60])
def test_certificate_bounds_the_true_error(xp, max_iter):
    case = CASES[CASE_IDS.index("tv2d")]
    v, c = sample(case, 0), 0.7
    res = case.make().prox_with_dual(asarray(xp, v), c, tol=0.0, max_iter=max_iter)
    exact = brute_prox("tv2d", 0, c, False)
    assert np.linalg.norm(to_numpy(res.u) - exact) <= math.sqrt(2 * res.gap) + 1e-6


def test_dual_is_feasible_and_gives_u(xp):
    v = np.random.default_rng(0).standard_normal((6, 7))
    tv = TV((6, 7))
    res = tv.prox_with_dual(asarray(xp, v), 0.4, tol=1e-6, max_iter=5000)
    p = to_numpy(res.p)
    assert p.shape == (2, 6, 7)
    assert np.sqrt((p**2).sum(axis=0)).max() <= 1 + 1e-12
    u_from_p = v + 0.4 * to_numpy(tv.operator.divergence(asarray(xp, p)))
    np.testing.assert_allclose(to_numpy(res.u), u_from_p, atol=1e-12)


def test_warm_start_saves_iterations(xp):
    rng = np.random.default_rng(1)
    v1 = rng.standard_normal((12, 12))
    v2 = v1 + 0.01 * rng.standard_normal((12, 12))
    tv = TV((12, 12))
    first = tv.prox_with_dual(asarray(xp, v1), 0.5, tol=1e-5, max_iter=20000)
    cold = tv.prox_with_dual(asarray(xp, v2), 0.5, tol=1e-5, max_iter=20000)
    warm = tv.prox_with_dual(asarray(xp, v2), 0.5, tol=1e-5, max_iter=20000, p0=first.p)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations
    bound = math.sqrt(2 * cold.gap) + math.sqrt(2 * warm.gap)
    assert np.linalg.norm(to_numpy(warm.u) - to_numpy(cold.u)) <= bound + 1e-12


def test_mean_kept_and_tv_reduced(xp):
    v = 3.0 + np.random.default_rng(2).standard_normal((5, 8))
    tv = TV((5, 8))
    u = tv.prox(asarray(xp, v), 0.3)
    assert float(np.mean(to_numpy(u))) == pytest.approx(v.mean(), rel=1e-13)
    assert float(tv.value(u)) < float(tv.value(asarray(xp, v)))


@pytest.mark.parametrize("shape", [(9,), (4, 5)])
def test_batch_axes_solve_each_problem(xp, shape):
    rng = np.random.default_rng(3)
    vs = rng.standard_normal((3, *shape))
    tv = TV(shape)
    batched = to_numpy(tv.prox(asarray(xp, vs), 0.6, tol=1e-8, max_iter=50000))
    for i in range(3):
        single = to_numpy(tv.prox(asarray(xp, vs[i]), 0.6, tol=1e-8, max_iter=50000))
        np.testing.assert_allclose(batched[i], single, atol=1e-6)


def test_tv_is_the_mixed_norm_of_the_gradient_and_weights_scale_c(xp):
    v = asarray(xp, np.random.default_rng(4).standard_normal((5, 6)))
    tv = TV((5, 6))
    assert float(tv.value(v)) == pytest.approx(float(tv.outer.value(tv.operator.forward(v))))
    weighted = Weighted(tv, 0.25)
    assert float(weighted.value(v)) == pytest.approx(0.25 * float(tv.value(v)))
    np.testing.assert_allclose(to_numpy(weighted.prox(v, 2.0, tol=1e-8, max_iter=50000)),
                               to_numpy(tv.prox(v, 0.5, tol=1e-8, max_iter=50000)), atol=1e-12)
    with pytest.raises(NotImplementedError):
        tv.conj(v)


def test_bad_options_are_refused(xp):
    v = asarray(xp, np.ones((3, 3)))
    with pytest.raises(ValueError, match="max_iter"):
        TV((3, 3)).prox(v, 1.0, max_iter=0)
