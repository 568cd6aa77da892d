"""ELU's own facts, beyond the generic catalogue tests (``test_catalogue.py`` holds ``ELU()`` and
``ELU(0.375)`` in ``CATALOGUE``): σ is PyTorch's ``elu``, Φ* and Ψ are the integrals of σ and of
``σ⁻¹ − id`` (numerical quadrature), the penalty on the edge of dom Ψ has its closed form, and
α > 1 is refused with the reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from lbdsl.prox.elu import ELU
from lbdsl.prox.registry import NOT_PROXIMAL, explain_unknown, make_activation

torch = pytest.importorskip("torch")

ALPHAS = (1.0, 0.5, 0.3, 0.01)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", ("float64", "float32"))
def test_sigma_is_torch_elu(alpha: float, dtype: str) -> None:
    z = np.concatenate([np.linspace(-60.0, 8.0, 4001), [-1e-12, 0.0, 1e-12, -800.0]])
    z = z.astype(dtype)
    expected = torch.nn.functional.elu(torch.from_numpy(z), alpha=alpha).numpy()
    got = ELU(alpha).prox(z)
    assert got.dtype == np.dtype(dtype)
    eps = float(np.finfo(dtype).eps)
    np.testing.assert_allclose(got, expected, rtol=2 * eps, atol=2 * eps * alpha)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_phi_conj_is_the_integral_of_sigma(alpha: float) -> None:
    """``∇Φ* = σ`` and ``Φ*(0) = 0``: ``Φ*(z) = ∫₀ᶻ σ``."""
    psi = ELU(alpha)
    for z in (-40.0, -3.0, -1.0, -0.2, -1e-3, 0.7, 5.0):
        integral, err = quad(lambda s: float(psi.prox(np.array([s]))[0]), 0.0, z,
                             epsabs=1e-14, epsrel=1e-13)
        got = float(psi.phi_conj(np.array([[z]]))[0])
        assert got == pytest.approx(integral, rel=1e-11, abs=1e-15), z


@pytest.mark.parametrize("alpha", ALPHAS)
def test_psi_is_the_integral_of_its_derivative(alpha: float) -> None:
    """``Ψ'(y) = σ⁻¹(y) − y = log(1 + y/α) − y`` on ``(−α, 0)``, ``Ψ(0) = 0``; its limit at
    ``−α`` is ``α − α²/2``, which the lower semicontinuous Ψ takes there."""
    psi = ELU(alpha)
    for frac in (1.0, 1.0 - 1e-9, 0.9, 0.5, 0.1, 1e-4):
        y = -alpha * frac
        integral, _ = quad(lambda s: math.log1p(s / alpha) - s, 0.0, y, epsabs=1e-15,
                           epsrel=1e-12, limit=200)
        got = float(psi.psi(np.array([[y]]))[0])
        assert got == pytest.approx(integral, rel=1e-9, abs=1e-15), y
    assert float(psi.psi(np.array([[-alpha]]))[0]) == pytest.approx(alpha - alpha**2 / 2,
                                                                    rel=1e-15)
    assert float(psi.psi(np.array([[3.0]]))[0]) == 0.0
    assert float(psi.psi(np.array([[-alpha * (1 + 1e-12)]]))[0]) == math.inf


@pytest.mark.parametrize("alpha", ALPHAS)
def test_bregman_on_the_edge_is_alpha_e_to_the_z(alpha: float) -> None:
    """``B(−α, z) = Φ(−α) + Φ*(z) + αz = α eᶻ``: tiny, and still relatively exact, far out."""
    z = np.array([-700.0, -300.0, -30.0, -1.0, -1e-8, 0.0, 2.0])
    got = ELU(alpha).bregman(np.full((z.size, 1), -alpha), z[:, None])
    expected = np.where(z < 0, alpha * np.exp(z), alpha + 0.5 * z**2 + alpha * z)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("c", (1e-6, 0.01, 0.7, 1.0, 1.3, 40.0, 1e6))
@pytest.mark.parametrize("alpha", (1.0, 0.3))
def test_prox_scaled_of_a_negative_v_solves_its_equation(alpha: float, c: float) -> None:
    """``u = α(eᵗ − 1)`` with ``(1 − c)α(eᵗ − 1) + ct = v``, i.e. ``u + c Ψ'(u) = v``.

    t is read back from u as ``log(p)``, ``p = 1 + u/α``: the rounding of u moves it by
    ``eps/p``, which the tolerance allows."""
    v = -np.logspace(-12, 4, 50)
    u = ELU(alpha).prox_scaled(v[:, None], c)[:, 0]
    assert np.all(u >= -alpha) and np.all(u < 0)
    p = (alpha + u) / alpha
    inside = p > 0
    t = np.log(p[inside])
    residual = (1 - c) * alpha * np.expm1(t) + c * t - v[inside]
    scale = np.abs(v[inside]) + c * np.abs(t) + alpha + c / p[inside]
    assert np.all(np.abs(residual) <= 1e-14 * scale)


def test_alpha_above_one_is_refused_with_the_reason() -> None:
    assert "elu" not in NOT_PROXIMAL
    with pytest.raises(ValueError, match=r"`elu` needs 0 < alpha <= 1 .*not 1-Lipschitz"):
        make_activation("elu", alpha=1.5)
    with pytest.raises(ValueError, match="not 1-Lipschitz"):
        ELU(2.0)
    assert make_activation("elu") == ELU(1.0)
    message, _ = explain_unknown("celu")
    assert "not in lbdsl's activation catalogue" in message


ELU_SPEC = """
network e {
    input  u : 8x8
    param  W : 160x64 = normal(std = 0.125, seed = 0)
    param  b : 160    = normal(std = 0.1, seed = 1)
    h = elu(W @ u + b)
    output h
}
invert e {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.001, seed = 3)
    fidelity    = bregman
    regulariser = 0.001 * tv
    solver      = pdhg(max_iter = 3000, tol = 1e-7)
}
"""


def test_a_spec_with_elu_inverts_end_to_end() -> None:
    """``h = elu(W @ u + b)`` (PyTorch's default α = 1) through ``solve``: the data are
    projected strictly inside dom Ψ = [−1, ∞) and the truth comes back."""
    import lbdsl

    (result,) = lbdsl.loads(ELU_SPEC).solve(verbose=False)
    assert result.ok and result.report["stop_reason"] == "tol", result.report
    assert result.report["psnr"] > 30.0, result.report["psnr"]


def test_a_spec_with_alpha_above_one_is_a_spec_error_at_the_argument() -> None:
    import lbdsl
    from lbdsl.errors import SpecError

    with pytest.raises(SpecError) as info:
        lbdsl.loads(ELU_SPEC.replace("elu(W @ u + b)", "elu(W @ u + b, alpha = 1.5)"))
    text = str(info.value)
    assert "`elu` needs 0 < alpha <= 1" in text and "not 1-Lipschitz" in text, text
