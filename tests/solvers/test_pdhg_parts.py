"""The pieces ADMM is built from, against independent references.

The array-API DCT against ``scipy.fft.dct(norm="ortho")`` and as the eigenbasis of the Neumann
Laplacian ``∇ᵀ∇`` of ``lbdsl.ops.gradient``; the Woodbury solve against a dense
``numpy.linalg.solve`` of the same system, with and without the mean border, one penalty pair per
batch row; the data-term conjugate prox against its definition.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from lbdsl.backend import asarray, namespace
from lbdsl.ops.gradient import Gradient
from lbdsl.prox.catalogue import DEFAULTS
from lbdsl.solvers.pdhg.admm import prox_phi_conj
from lbdsl.solvers.pdhg.dct import DCT, neumann_eigenvalues
from lbdsl.solvers.pdhg.woodbury import SpectralSystem
from pdhg_cases import host


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (8,), (3, 5), (4, 4), (2, 3, 4)])
def test_dct_is_scipys_orthonormal_dct(xp, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((2, *shape))
    dct = DCT(xp, shape, xp.float64)
    axes = tuple(range(1, len(shape) + 1))
    forward = host(dct.forward(asarray(xp, x, xp.float64)))
    assert np.allclose(forward, scipy.fft.dctn(x, norm="ortho", axes=axes), atol=1e-12)
    back = host(dct.inverse(asarray(xp, forward, xp.float64)))
    assert np.allclose(back, x, atol=1e-12)


def test_dct_diagonalises_the_neumann_laplacian(xp):
    shape = (5, 6)
    rng = np.random.default_rng(1)
    u = rng.standard_normal(shape)
    grad = Gradient(shape)
    lap = host(grad.adjoint(grad.forward(asarray(xp, u, xp.float64))))
    dct = DCT(xp, shape, xp.float64)
    lam = asarray(xp, neumann_eigenvalues(shape), xp.float64)
    spectral = host(dct.inverse(lam * dct.forward(asarray(xp, u, xp.float64))))
    assert np.allclose(spectral, lap, atol=1e-12)


def test_dct_float32_keeps_its_dtype():
    xp = namespace("numpy")
    dct = DCT(xp, (4, 4), xp.float32)
    out = dct.forward(xp.ones((4, 4), dtype=xp.float32))
    assert out.dtype == xp.float32
    assert abs(float(out[0, 0]) - 4.0) < 1e-5   # the mean mode of an all-ones image: ‖1‖ = 4


def _dense_laplacian(shape):
    n = int(np.prod(shape))
    grad = Gradient(shape)
    eye = np.eye(n).reshape(n, *shape)
    return grad.adjoint(grad.forward(eye)).reshape(n, n)


@pytest.mark.parametrize("border", [True, False])
def test_woodbury_solves_the_dense_system(xp, border):
    shape, m = (4, 5), 7
    n = 20
    rng = np.random.default_rng(2)
    W = rng.standard_normal((m, n))
    lam = neumann_eigenvalues(shape).reshape(-1)
    kappa3 = 0.0 if border else 0.7
    mu = lam + kappa3
    if border:
        mu[0] = 1.3
    dct = DCT(xp, shape, xp.float64)
    Wt = host(dct.forward(asarray(xp, W.reshape(m, *shape), xp.float64))).reshape(m, n)
    system = SpectralSystem(asarray(xp, Wt, xp.float64), asarray(xp, mu, xp.float64), border)
    r1 = np.array([[0.3], [2.0]])
    rb = np.array([[1.5], [0.2]])
    v1 = rng.standard_normal((2, m))
    h = rng.standard_normal((2, n))
    hhat = host(dct.forward(asarray(xp, h.reshape(2, *shape), xp.float64))).reshape(2, n)
    uhat, Wu = system.solve(asarray(xp, v1, xp.float64), asarray(xp, hhat, xp.float64),
                            asarray(xp, r1, xp.float64), asarray(xp, rb, xp.float64))
    u = host(dct.inverse(xp.reshape(uhat, (2, *shape)))).reshape(2, n)
    L = _dense_laplacian(shape)
    for i in range(2):
        A = r1[i, 0] * W.T @ W + rb[i, 0] * (L + kappa3 * np.eye(n))
        expected = np.linalg.solve(A, r1[i, 0] * W.T @ v1[i] + h[i])
        assert np.allclose(u[i], expected, rtol=1e-9, atol=1e-10)
        assert np.allclose(host(Wu)[i], W @ expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("psi", DEFAULTS, ids=lambda p: p.name)
def test_data_conjugate_prox_is_its_definition(psi):
    """``prox_{cΦ*}(x) = argmin_z ½‖z − x‖² + cΦ*(z)``: the optimality condition
    ``z − x + c·σ(z) = 0`` (``∇Φ* = σ``) holds at the ADMM formula's output."""
    rng = np.random.default_rng(5)
    x = 3.0 * rng.standard_normal((2, 6))
    for c in (1e-3, 0.7, 40.0):
        z = prox_phi_conj(psi, x, c)
        residual = z - x + c * np.asarray(psi.prox(z))
        assert np.max(np.abs(residual)) <= 1e-8 * max(1.0, c) * np.max(np.abs(x))
