"""Deep tied residual chains: the exact route against the floating-point one, against brute
force, and the bound between them (issue #27).

A tied `+` chain of l layers at λ = 1 (no modulus) has ``B = tridiag(−1, 2, −1)`` with a last
diagonal entry 1, whose smallest eigenvalue is known in closed form,
``λ_min = 2 − 2 cos(π/(2p + 1))`` with ``p = l + 1`` (a discrete Laplacian, Dirichlet at one end
and Neumann at the other); that formula and NumPy's / mpmath's eigenvalues of matrices written
here are the independent references.  No test asserts a time: speed is bench/certify_depth.py's.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from lbdsl.certify import symbolic
from lbdsl.certify.certificate import certify
from lbdsl.certify.symbolic import (EXACT_LIMIT, POLY_LIMIT, certify_blocks, coefficient_matrix,
                                    verdict_blocks)
from lbdsl.lift.compact import lift
from spec_helpers import build_net


def _spec(layers: int, sign: str = "+", width: int = 1, name: str = "n") -> str:
    return f"""
    network {name} {{ input u : {width}
      repeat {layers} {{ param W : 3x{width} = normal(std = 0.4, seed = 1)
                        u = u {sign} W.T @ relu(W @ u) }}
      output u }}"""


def _chain(layers: int, sign: int = 1):  # noqa: ANN202 - the k, m of _tied_chain, built here
    p = layers + 1
    k = coefficient_matrix((1, p), {(0, layers): 1})
    entries = {}
    for i in range(layers):
        entries[(i, i + 1)] = sign
        entries[(i, i)] = -sign
    return k, coefficient_matrix((p, p), entries)


def _closed_form(layers: int) -> mp.mpf:
    p = layers + 1
    return 2 - 2 * mp.cos(mp.pi / (2 * p + 1))


def _seed_b(layers: int, lam: float, mu: float) -> np.ndarray:
    """λKᵀK − M − Mᵀ + μE₀ for width 1, from the seed's M (rows [−1, 1], zero last row)."""
    p = layers + 1
    M = np.zeros((p, p))
    for i in range(layers):
        M[i, i], M[i, i + 1] = -1.0, 1.0
    K = np.zeros((1, p))
    K[0, layers] = 1.0
    b = lam * K.T @ K - M - M.T
    b[0, 0] += mu
    return b


def _q(x: Fraction) -> mp.mpf:
    return mp.mpf(x.numerator) / x.denominator


@pytest.mark.parametrize("layers", [1, 20, 300, 2000])
def test_the_exact_bracket_contains_the_closed_form(layers: int) -> None:
    with mp.workdps(60):
        exact = _closed_form(layers)
        res = certify_blocks(*_chain(layers), 1, None)
        assert res.exact and res.certifiable
        lo, hi = res.lambda_min_b
        assert _q(lo) <= exact <= _q(hi)
        assert hi - lo <= Fraction(1, 10 ** 12) * hi


@pytest.mark.parametrize("layers", [1, 20, 300, 2000, 20000])
def test_the_floating_bracket_contains_the_closed_form(layers: int) -> None:
    with mp.workdps(60):
        res = certify_blocks(*_chain(layers), 1, None, exact=False)
        assert not res.exact and res.certifiable
        lo, hi = res.lambda_min_b
        assert _q(lo) <= _closed_form(layers) <= _q(hi)


@pytest.mark.parametrize("layers", [1, 3, 20, 120, 400])
@pytest.mark.parametrize("lam, mu", [(1, 0), (0.5, 0), (3.25, 0), (1, 0.25), (0.7, 2),
                                     (1e100, 0), (1, 1e100), (1e-100, 0)])
def test_exact_and_floating_routes_agree(layers: int, lam: float, mu: float) -> None:
    """Both brackets hold λ_min (40-digit mpmath eigenvalues of the matrix written here, for
    the small ones); a huge λ or μ, whose rounding is larger than λ_min, does not blur the
    floating bracket (its diagonal is rounded down and up); the floating route is
    conservative: what it certifies the exact route certifies, and its threshold is at or
    above the exact one and close to it."""
    k, m = _chain(layers)
    ex = certify_blocks(k, m, lam, None, mu, exact=True)
    fl = certify_blocks(k, m, lam, None, mu, exact=False)
    assert max(ex.lambda_min_b[0], fl.lambda_min_b[0]) <= min(ex.lambda_min_b[1],
                                                              fl.lambda_min_b[1])
    if layers <= 20 and max(lam, mu) < 1e6:
        with mp.workdps(40):
            b = mp.matrix(_seed_b(layers, 0.0, 0.0).tolist())   # integers: exact
            b[layers, layers] += _q(Fraction(str(lam)))
            b[0, 0] += _q(Fraction(str(mu)))
            smallest = min(mp.eigsy(b, eigvals_only=True))
            for res in (ex, fl):
                assert _q(res.lambda_min_b[0]) <= smallest + mp.mpf(10) ** -35
                assert smallest - mp.mpf(10) ** -35 <= _q(res.lambda_min_b[1])
    assert fl.certifiable <= ex.certifiable
    assert fl.certifiable == ex.certifiable or abs(ex.lambda_min_b_float) < 1e-13
    if fl.certifiable:
        assert fl.rho_min >= ex.rho_min * (1 - 1e-12)
        assert fl.rho_min == pytest.approx(ex.rho_min, rel=1e-6)
    # brute force: λ_min of the matrix written here
    brute = np.linalg.eigvalsh(_seed_b(layers, lam, mu))[0]
    assert ex.lambda_min_b_float == pytest.approx(brute, abs=1e-12 * max(1.0, lam, mu))
    for rho in (1.0, 10.0, 1e3, 1e5, 1e7):
        assert verdict_blocks(k, m, lam, rho, mu, exact=False) <= \
            verdict_blocks(k, m, lam, rho, mu, exact=True)
        assert verdict_blocks(k, m, lam, rho, mu, exact=True) == \
            certify_blocks(k, m, lam, rho, mu).certified


@pytest.mark.parametrize("layers", [50, 149])
def test_certificates_of_both_routes_against_eigenvalues_of_the_assembled_q(
        layers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the lifting pass (width 2: the assembled Q is 2p × 2p); the floating route is
    forced by lowering the limit, and says so."""
    lp = lift(build_net(_spec(layers, width=2)))
    exact = certify(lp, 1.0, None)
    assert exact.kind == "symbolic" and exact.certified
    with mp.workdps(30):
        assert exact.rho_min == pytest.approx(float(1 / _closed_form(layers)), rel=1e-11)
    q_min = np.linalg.eigvalsh(np.kron(_seed_b(layers, 1.0, 0.0), np.eye(2)))[0]
    assert exact.rho_min == pytest.approx(1 / q_min, rel=1e-9)
    rhos = (0.5 * exact.rho_min, 0.999 * exact.rho_min, 1.001 * exact.rho_min, 1e9)
    assert [certify(lp, 1.0, rho).certified for rho in rhos] == [False, False, True, True]
    monkeypatch.setattr(symbolic, "EXACT_LIMIT", layers)   # p = layers + 1 blocks: beyond it
    floating = certify(lp, 1.0, None)
    assert floating.kind == "numeric" and floating.certified
    assert any(f"limited to {layers - 1} layers" in n for n in floating.notes)
    assert floating.rho_min >= exact.rho_min and \
        floating.rho_min == pytest.approx(exact.rho_min, rel=1e-6)
    assert [certify(lp, 1.0, rho).certified for rho in rhos] == [False, False, True, True]
    assert all(certify(lp, 1.0, rho).kind == "numeric" for rho in rhos)


def test_the_exact_sturm_count_against_sympy_on_small_matrices() -> None:
    """Eigenvalues below t, and whether t is one, for random small tridiagonal rationals — with
    zero off-diagonals (reducible) and t at eigenvalues of leading blocks (zero minors).  The
    reference: sympy's characteristic polynomial (exact: is t a root?) and 50-digit mpmath
    eigenvalues (how many lie below t)."""
    rng = random.Random(1)
    x = sp.Symbol("x")
    for _ in range(200):
        p = rng.randint(1, 6)
        diag = [Fraction(rng.randint(-2, 2), rng.choice([1, 1, 2])) for _ in range(p)]
        off = [Fraction(rng.choice([0, 1, -1, 1, 2]), rng.choice([1, 1, 3])) for _ in range(p - 1)]
        mat = sp.zeros(p, p)
        for i in range(p):
            mat[i, i] = sp.Rational(diag[i].numerator, diag[i].denominator)
        for i in range(p - 1):
            mat[i + 1, i] = mat[i, i + 1] = sp.Rational(off[i].numerator, off[i].denominator)
        charpoly = sp.Poly(mat.charpoly(x).as_expr(), x)
        with mp.workdps(50):
            eigs = mp.eigsy(mp.matrix([[_q(Fraction(str(e))) for e in mat.row(i)]
                                       for i in range(p)]), eigvals_only=True)
        entries = {(i, i): d for i, d in enumerate(diag) if d}
        entries.update({(i + 1, i): b for i, b in enumerate(off) if b})
        entries.update({(i, i + 1): b for i, b in enumerate(off) if b})
        tri = symbolic._tridiagonal(symbolic._as_scaled(coefficient_matrix((p, p), entries)))
        points = [Fraction(rng.randint(-6, 6), rng.choice([1, 2, 3])) for _ in range(2)]
        for r in range(1, p + 1):   # rational eigenvalues of the leading blocks: zero minors
            lead = sp.Poly(mat[:r, :r].charpoly(x).as_expr(), x)
            points += [Fraction(int(q.p), int(q.q)) for q in lead.ground_roots()]
        for t in points:
            with mp.workdps(50):
                below = sum(1 for e in eigs if e < _q(t) - mp.mpf(10) ** -30)
            root = charpoly.eval(sp.Rational(t.numerator, t.denominator)) == 0
            assert tri.count_below(t) == (below, root), (diag, off, t)


def test_the_exact_route_at_a_huge_lambda_and_a_singular_b() -> None:
    """λ = 10¹⁰⁰ makes the float estimate useless for λ_min; λ = 1/2, l = 1 has λ_min = 0."""
    k, m = _chain(3)
    res = certify_blocks(k, m, 1e100, None)
    with mp.workdps(250):
        b = mp.matrix(_seed_b(3, 0.0, 0.0).tolist())
        b[3, 3] = mp.mpf(10) ** 100
        smallest = min(mp.eigsy(b, eigvals_only=True))
        assert _q(res.lambda_min_b[0]) <= smallest <= _q(res.lambda_min_b[1])
    singular = certify_blocks(*_chain(1), 0.5, None)
    assert singular.lambda_min_b == (0, 0) and not singular.certifiable


def test_fixes_of_a_long_chain_are_tested_exactly() -> None:
    """Beyond SEARCH_EXACT blocks the search explores in floating point; every fix printed
    certifies by the exact route when applied."""
    lp = lift(build_net(_spec(300)))
    cert = certify(lp, 1.0, 1000.0)
    assert cert.kind == "symbolic" and not cert.certified and cert.fixes
    for fix in cert.fixes:
        change = fix.change
        applied = certify(lp, change.get("lam", 1.0), change.get("rho", 1000.0),
                          change.get("modulus", 0.0))
        assert applied.certified and applied.kind == "symbolic", fix.text


def test_the_exact_threshold_is_written_up_to_the_polynomial_limit() -> None:
    k, m = _chain(20)
    exact = certify_blocks(k, m, 1.3, None).rho_min_exact()
    assert exact is not None
    assert float(sp.sympify(str(exact)).evalf(20)) == pytest.approx(
        certify_blocks(k, m, 1.3, None).rho_min, rel=1e-11)
    assert certify_blocks(*_chain(POLY_LIMIT - 1), 1, None).rho_min_exact() is not None
    assert certify_blocks(*_chain(POLY_LIMIT), 1, None).rho_min_exact() is None


_PROBE = textwrap.dedent("""
    import resource, sys
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from lbdsl.cli import main
    rc = main(sys.argv[2:])
    hwm = next(int(line.split()[1]) for line in open('/proc/self/status')
               if line.startswith('VmHWM'))
    print('peak', hwm)
    sys.exit(rc)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_deep_chains_get_an_answer_within_an_address_space_limit(tmp_path: Path) -> None:
    """2,000 layers (the last depth decided exactly) and 6,000 (the floating route) under a
    1.5 GiB address-space limit: before the bound the exact route held p² rationals and a
    dense p×p eigenproblem (6,000 layers: tens of GB)."""
    deep = EXACT_LIMIT + 4000 - 1
    spec = tmp_path / "deep.lbn"
    spec.write_text(_spec(EXACT_LIMIT - 1, name="at_limit") + _spec(deep, name="beyond"))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(3 << 29), "check", str(spec),
                           "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body, peak = proc.stdout.rsplit("peak", 1)
    assert int(peak) > 0
    nets = json.loads(body)["networks"]
    at, beyond = nets["at_limit"], nets["beyond"]
    assert at["certified"] and at["kind"] == "symbolic"
    assert beyond["certified"] and beyond["kind"] == "numeric"
    assert any(f"limited to {EXACT_LIMIT - 1} layers" in n for n in beyond["notes"])
    with mp.workdps(30):
        assert at["rho_min"] == pytest.approx(float(1 / _closed_form(EXACT_LIMIT - 1)), rel=1e-11)
        assert beyond["rho_min"] >= float(1 / _closed_form(deep))
        assert beyond["rho_min"] == pytest.approx(float(1 / _closed_form(deep)), rel=1e-5)
