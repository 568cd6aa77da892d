"""The certificate is sound in floating point: "certified" implies that the smallest eigenvalue
of the dense Hessian ``H_ρ`` of the quadratic part of ``E^ρ_Ψ`` — assembled here from the block
matrices, and computed again with 40-digit mpmath — is at least minus the verdict's tolerance;
a negative margin beyond rounding is never certified, and λ, ρ outside the range the test
resolves are refused or left without a verdict."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from lbdsl.certify.certificate import certify
from lbdsl.ir.tasks.records import WEIGHT_RANGE
from lbdsl.lift.compact import lift
from spec_helpers import build_net

EPS = np.finfo(float).eps

SPECS = {
    "tied": """network n {{ input u : 2
      repeat {layers} {{ param W : 3x2 = normal(std = {std}, seed = {seed})
                        param b : 3 = normal(std = 0.1, seed = 7)
                        u = u + W.T @ relu(W @ u + b) }}
      output u }}""",
    "untied": """network n {{ input u : 2
      param A : 3x2 = normal(std = {std}, seed = {seed})  param V : 2x3 = normal(std = 0.3, seed = 9)
      u = u + V @ relu(A @ u)
      repeat {layers} {{ param W : 3x2 = normal(std = {std}, seed = {seed})
                        u = u + W.T @ relu(W @ u) }}
      output u }}""",
    "feedforward": """network n {{ input u : 2
      param A : 3x2 = normal(std = {std}, seed = {seed})  h = relu(A @ u)
      param B : 2x3 = normal(std = {std}, seed = 3)  y = B @ h
      output y }}""",
}


def _dense(op, n):  # noqa: ANN001, ANN202 - a block operator applied to the identity
    return np.asarray(op.forward(np.eye(n))).T


def _hessian(lp, lam: float, rho: float) -> np.ndarray:
    """``H_ρ`` of docs/certificate.md, written out from K, M, V, W (not the library's)."""
    K, M = _dense(lp.K, lp.u_size), _dense(lp.M, lp.u_size)
    V, W = _dense(lp.V, lp.z_size), _dense(lp.W, lp.u_size)
    return np.block([[lam * K.T @ K + rho * M.T @ M, -W.T - rho * M.T @ V],
                     [-W - rho * V.T @ M, np.eye(lp.z_size) + rho * V.T @ V]])


def _mp_min_eig(h: np.ndarray) -> float:
    with mp.workdps(40):
        evals = mp.eigsy(mp.matrix(h.tolist()), eigvals_only=True)
        return float(min(evals))


CASES = [(kind, layers, std, seed, lam, rho)
         for kind, layers, std, seed in (("tied", 1, 0.5, 1), ("tied", 3, 0.8, 2),
                                         ("untied", 1, 0.4, 3), ("untied", 2, 0.2, 4),
                                         ("feedforward", 0, 0.5, 5))
         for lam, rho in ((1e-6, 1e6), (1.0, 1e3), (1e3, 1e-3), (1e6, 1.0), (0.3, 20.0),
                          (1.0, 1e6))]


@pytest.mark.parametrize("kind, layers, std, seed, lam, rho", CASES)
def test_certified_implies_the_dense_hessian_is_psd_up_to_the_tolerance(kind, layers, std,
                                                                         seed, lam, rho):
    lp = lift(build_net(SPECS[kind].format(layers=layers, std=std, seed=seed)))
    cert = certify(lp, lam, rho)
    h = _hessian(lp, lam, rho)
    # the float64 eigenvalue is itself off by rounding, up to about ε·n·‖H‖
    rounding = 10 * EPS * h.shape[0] * max(np.abs(np.linalg.eigvalsh(h)).max(), 1.0)
    if cert.certified:
        assert np.linalg.eigvalsh(h)[0] >= -(cert.tolerance + rounding), cert.render()
        assert _mp_min_eig(h) >= -(cert.tolerance + rounding), cert.render()
    if cert.kind == "numeric" and cert.margin is not None and cert.certified:
        assert cert.margin >= -cert.tolerance


def test_a_huge_rho_is_refused_by_the_range_and_never_certified_below_it():
    lp = lift(build_net(SPECS["feedforward"].format(layers=0, std=0.2, seed=5)))
    with pytest.raises(ValueError, match="outside the range"):
        certify(lp, 1.0, 1e300)
    # with an input modulus no structural rule decides (μ > 0, ‖B‖² < 1 + λ): the eigenvalues
    # run, and inside the range the test cannot resolve ρ = 10¹⁰⁰
    high = certify(lp, 1.0, WEIGHT_RANGE[1], modulus=1.0)
    assert not high.certified and any("no verdict" in n for n in high.notes)
    assert high.tolerance > 1e-3 and high.margin < 0
    # without one, the structure answers at every ρ
    assert not certify(lp, 1.0, WEIGHT_RANGE[1]).certified


def test_extreme_weights_inside_the_range_give_a_verdict_or_say_why_not():
    tied = lift(build_net(SPECS["tied"].format(layers=3, std=0.8, seed=2)))
    for lam, rho in ((WEIGHT_RANGE[1], 1.0), (1.0, WEIGHT_RANGE[0]), (WEIGHT_RANGE[0], 10.0)):
        cert = certify(tied, lam, rho)       # exact (symbolic): no crash, a verdict
        assert cert.kind == "symbolic" and cert.margin is not None
        q_lam_min = cert.margin
        assert np.isfinite(q_lam_min)
    assert certify(tied, 1.0, WEIGHT_RANGE[0]).certified is False   # 1/ρ dominates


def test_a_structural_answer_allocates_nothing_proportional_to_the_network(tmp_path):
    """A single layer with a 2 GB weight matrix: ``lbdsl check`` (and ``show``) answer from the
    structure; the process never holds the matrix (its peak memory stays far below 2 GB)."""
    import subprocess
    import sys

    spec = tmp_path / "big.lbn"
    spec.write_text("""network big { input u : 16000
      param W : 16000x16000 = normal(std = 1, seed = 0)  param b : 16000 = zeros
      h = relu(W @ u + b)  output h }""")
    # VmHWM, the peak of this process image: ru_maxrss would carry the parent's peak over
    # fork and exec on Linux, and so depend on what the tests before this one allocated
    probe = ("import resource, sys\nfrom lbdsl.cli import main\nrc = main(sys.argv[1:])\n"
             "try:\n    hwm = next(int(l.split()[1]) for l in open('/proc/self/status')\n"
             "               if l.startswith('VmHWM'))\n"
             "except OSError:\n    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "print('peak', hwm)\nsys.exit(rc)")
    for command in (["check", str(spec)], ["show", str(spec)]):
        proc = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        peak_kib = int(proc.stdout.rsplit("peak", 1)[1])
        assert peak_kib < 600 * 1024, f"{command[0]} peaked at {peak_kib / 1024:.0f} MiB"
        if command[0] == "check":
            assert "certified convex (symbolic; single layer)" in proc.stdout
