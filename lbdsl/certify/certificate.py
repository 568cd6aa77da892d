"""The convexity certificate of a lifted network: verdict, kind, thresholds, margin, culprits.

Routes, in order (docs/certificate.md derives each):

1. **single layer** ``N(u) = prox_Ψ(W u + b)``: inversion minimises ``B_Ψ(f, W u + b) + αJ(u)``,
   convex for every ``W`` because ``B_Ψ(f, ·)`` is convex — exact, no condition on λ, ρ.
2. **symbolic** — every layer a tied residual ``u_l = u_{l−1} ± A_lᵀ prox(A_l u_{l−1} + b_l)``
   in one chain: ``Q = A(λ, ρ) ⊗ I`` and ``A ⪰ 0`` is decided exactly (:mod:`.symbolic`) — up
   to :data:`~.symbolic.EXACT_LIMIT` blocks; a longer chain is decided on the same ``A`` in
   floating point, the rounding counted against it (kind ``numeric``; the note says so).
3. **numeric** — anything else: ``H_ρ ⪰ 0`` by eigenvalues (:mod:`.numeric`) — unless the
   structure rules it out at every ρ (:mod:`.structural`: no curvature in the input, a hidden
   layer read through ``‖A‖² ≥ 1 + λ′``): then no eigenvalue is computed, and the fix search
   skips every candidate the structure rules out; the smallest input modulus that certifies
   is computed directly (:func:`.numeric.least_modulus`).

An uncertified report lists the conditions tried and why each fails (:class:`Condition`).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..ir.nodes import NetworkIR
from ..lift.compact import LiftedProblem, lift
from ..lift.network import lifted_network
from ..lift.structure import structure
from ..threads import pinned
from .fixes import Fix, round_up, search
from .numeric import DENSE_LIMIT, _dense, certify_numeric, hessian_blocks, least_modulus
from .structural import Hidden, Obstructions, obstructions
from .weights import WEIGHT_RANGE

if TYPE_CHECKING:   # the chain route imports sympy (a quarter second) only when it runs
    from .symbolic import Sparse, SymbolicResult

__all__ = ["Culprit", "Condition", "Certificate", "Fix", "certify", "certify_network",
           "RHO_GRID", "WEIGHT_RANGE"]

#: ρ values scanned by the numeric route when the spec gives none.
RHO_GRID = tuple(10.0 ** (k / 2) for k in range(-4, 13))
#: The coarser grid on which the numeric route tests its fixes, and the largest network
#: (size(u) + size(z)) for which it tests them (each test is an eigenvalue problem).
FIX_GRID = RHO_GRID[::2]
FIX_LIMIT = 1000
#: The longest tied chain (in blocks) whose fix search explores with exact tests; a longer one
#: explores in floating point and tests what it prints exactly (each exact test costs O(p²)).
SEARCH_EXACT = 200


@dataclass(frozen=True)
class Culprit:
    """A layer that breaks the certificate, where it is, and the tested fixes in words (every
    one of :attr:`Certificate.fixes`, or that none was found)."""

    layer: str
    line: int | None
    reason: str
    fix: str


#: The sufficient conditions an uncertified network's report goes through (docs/certificate.md).
SINGLE_LAYER = "single layer (route 1)"
TIED_CHAIN = "tied residual chain, Q = A(λ, ρ) ⊗ I ⪰ 0 (route 2)"
LARGER_MODULUS = "H_ρ + μE₀ ⪰ 0, an l2sq weight μ = α·w on the input (§4)"


@dataclass(frozen=True)
class Condition:
    """A sufficient condition the certificate tried, and what became of it: ``status`` one of
    ``does not apply`` (the structure rules the route out), ``fails``, ``holds``, ``not
    decided``; ``reason`` why, for this network."""

    name: str
    status: str
    reason: str


@dataclass
class Certificate:
    """What ``lbdsl check`` reports for one network."""

    network: str
    certified: bool
    kind: str                              # "symbolic" | "numeric" | "none"
    lam: float
    rho: float | None                      # None: the verdict is "for some ρ" (see rho_min)
    modulus: float = 0.0                   # μ of the input regulariser counted in the test
    rho_min: float | None = None
    rho_min_exact: str | None = None
    margin: float | None = None            # λ_min of A(λ, ρ) or H_ρ at the reported ρ
    tolerance: float | None = None
    route: str = ""
    a_matrix: list[list[str]] | None = None
    culprits: list[Culprit] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)   # tested: each certifies when applied
    notes: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)   # tried (when not certified)
    time_s: float | None = None            # how long it took (set by the run that made it)

    def to_json(self) -> dict:
        """The JSON object of ``lbdsl check --json`` (language.md's keys, then details)."""
        out = asdict(self)
        out["culprits"] = [asdict(c) for c in self.culprits]
        out["fixes"] = [asdict(f) for f in self.fixes]
        out["conditions"] = [asdict(c) for c in self.conditions]
        for key in ("margin", "tolerance", "rho_min", "rho", "lam"):
            value = out[key]
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out

    def __repr__(self) -> str:
        verdict = "certified" if self.certified else "NOT certified"
        return f"<Certificate {self.network}: {verdict} ({self.kind}; {self.route})>"

    def _repr_html_(self) -> str:
        """Jupyter: the rendered lines, the verdict in bold."""
        import html

        first, *rest = self.render().splitlines()
        return ("<pre><b>" + html.escape(first) + "</b>"
                + "".join("\n" + html.escape(line) for line in rest) + "</pre>")

    def render(self) -> str:
        """Human-readable lines."""
        at = f"λ = {self.lam:g}" + (f", ρ = {self.rho:g}" if self.rho is not None else "")
        verdict = "certified convex" if self.certified else "NOT certified"
        lines = [f"network {self.network}: {verdict} ({self.kind}; {self.route}) at {at}"]
        if self.rho_min is not None:
            lines.append(f"  holds for ρ ≥ {self.rho_min:.6g}"
                         + (f"  (exactly {self.rho_min_exact})" if self.rho_min_exact and
                            len(self.rho_min_exact) < 80 else ""))
        if self.margin is not None:
            lines.append(f"  margin λ_min = {self.margin:.6g} (tolerance {self.tolerance:.1e})")
        for cond in self.conditions:
            lines.append(f"  tried: {cond.name}: {cond.status}"
                         + (f" — {cond.reason}" if cond.reason else ""))
        for c in self.culprits:
            where = f"line {c.line}" if c.line else "?"
            lines.append(f"  culprit: {c.layer} ({where}): {c.reason}")
        lines.extend(f"  fix (tested): {f.text}" for f in self.fixes)
        if self.culprits and not self.fixes:
            lines.append(f"  fix: {self.culprits[0].fix}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _line(layer) -> int | None:  # noqa: ANN001
    return layer.span.line if layer.span is not None else None


def _layer_name(lp: LiftedProblem, layer) -> str:  # noqa: ANN001
    return lp.u_blocks[layer.output_block].name


def _tied_chain(lp: LiftedProblem) -> tuple[Sparse, Sparse]:
    """Block coefficients ``k``, ``m`` (square in u-blocks, sparse) of a tied chain (route 2)."""
    from . import symbolic

    p = len(lp.u_blocks)
    k = symbolic.coefficient_matrix((1, p), {(0, lp.output_block): 1})
    entries: dict[tuple[int, int], object] = {}
    for layer in lp.layers:  # the row of layer l sits at its input block, where A_lᵀ lands
        s = int(layer.step.sign)  # type: ignore[union-attr]
        entries[(layer.base_block, layer.output_block)] = s
        entries[(layer.base_block, layer.base_block)] = -s
    return k, symbolic.coefficient_matrix((p, p), entries)


def _check_weights(lam: float, rho: float | None, modulus: float = 0.0) -> None:
    lo, hi = WEIGHT_RANGE
    for what, value in (("lambda", lam), ("rho", rho)):
        if value is not None and not lo <= value <= hi:
            raise ValueError(f"{what} = {value:g} is outside the range the certificate resolves "
                             f"({lo:g} to {hi:g})")
    if not (math.isfinite(modulus) and 0.0 <= modulus <= hi):
        raise ValueError(f"the modulus {modulus:g} must be a number from 0 to {hi:g}")


def certify(lp: LiftedProblem, lam: float = 1.0, rho: float | None = None,
            modulus: float = 0.0) -> Certificate:
    """The certificate of ``E^ρ_Ψ + (μ/2)‖u_0‖²`` for ``lp`` at λ and ρ (ρ None: the set of ρ
    where it holds), ``μ = modulus`` the strong convexity of the inversion's regulariser on the
    input (``α·w`` for ``w * l2sq``); ``ValueError`` for λ or ρ outside
    :data:`~lbdsl.certify.weights.WEIGHT_RANGE`."""
    _check_weights(lam, rho, modulus)
    shape = structure(lp)
    if shape.has("single_layer"):
        return _single_layer(lp.network.name, lam, rho, modulus)
    chain = shape.has("tied_chain")
    with _blas_threads(lp.u_size + lp.z_size, scipy=chain):
        if chain:
            return _symbolic(lp, *_tied_chain(lp), lam, rho, modulus)
        return _numeric(lp, lam, rho, modulus)


def _blas_threads(size: int, scipy: bool = False) -> AbstractContextManager[None]:
    """One BLAS thread for the dense eigenvalue problems (``size ≤ DENSE_LIMIT``): at these
    sizes threads cost more than they give — ``eigh`` of 352×352 took 103 ms with OpenBLAS's
    2 threads and 36 ms with one, of 2000×2000 5.1 s and 1.1 s (2-core machine; a user's
    many-core machine took 2 min 43 s for the 107 eigenvalue problems of one certificate,
    20 s with one thread).  Larger problems (Lanczos, matrix-free) keep the threads.
    ``scipy``: whether the block uses scipy.linalg (the chain route; the numeric route uses
    NumPy's BLAS alone, and a structural answer need not pay scipy's import)."""
    return pinned(1 if size <= DENSE_LIMIT else None, scipy=scipy)


def certify_network(net: NetworkIR, lam: float = 1.0, rho: float | None = None,
                    modulus: float = 0.0) -> Certificate:
    """:func:`certify` of ``net``, answered from the structure alone where it decides (a
    single layer): then no parameter is made and nothing proportional to the network is
    allocated."""
    if structure(lifted_network(net)).has("single_layer"):
        _check_weights(lam, rho, modulus)
        return _single_layer(net.name, lam, rho, modulus)
    return certify(lift(net), lam, rho, modulus)


def _counted(cert: Certificate) -> Certificate:
    if cert.modulus:
        cert.notes.append(f"counts the regulariser's strong convexity on the input: "
                          f"+ (μ/2)‖u_0‖², μ = {cert.modulus:g}")
    return cert


def _single_layer(name: str, lam: float, rho: float | None, modulus: float) -> Certificate:
    return Certificate(
        name, True, "symbolic", lam, rho, modulus, route="single layer",
        notes=["B_Ψ(f, W u + b) is convex in u for every W, b and Ψ, so "
               "min_u B_Ψ(f, W u + b) + αJ(u) is a convex problem (no condition on λ, ρ)"])


def _symbolic(lp: LiftedProblem, k: Sparse, m: Sparse, lam: float,
              rho: float | None, modulus: float) -> Certificate:
    from . import symbolic

    res = symbolic.certify_blocks(k, m, lam, rho, modulus)
    route = "tied residual chain: Q = A(λ, ρ) ⊗ I"
    if not res.exact:
        route += ", λ_min(A) in floating point"
    verdict = res.certified if rho is not None else res.certifiable
    cert = Certificate(lp.network.name, bool(verdict), "symbolic" if res.exact else "numeric",
                       lam, rho, modulus, route=route)
    cert.rho_min = res.rho_min
    exact = res.rho_min_exact()
    cert.rho_min_exact = None if exact is None else str(exact)
    p = res.blocks
    if p <= 30:
        cert.a_matrix = [[str(e) for e in row] for row in res.a_matrix().tolist()]
    lo, hi = res.lambda_min_b
    if not res.exact:
        cert.notes.append(
            f"numeric route: the exact certificate is limited to {symbolic.EXACT_LIMIT - 1} "
            f"layers (this chain has {p - 1}); λ_min(A) of the tridiagonal A ({p}×{p}) is "
            f"bracketed in float64 — LAPACK's bisection, confirmed by Sturm counts with A's "
            f"diagonal rounded down and up — and the bracket's half-width "
            f"{float(hi - lo) / 2:.1e} is counted against the network")
        if not res.certifiable and hi > 0:
            cert.notes.append(f"λ_min(λkᵀk − M − Mᵀ) = {res.lambda_min_b_float:.6g} ± "
                              f"{float(hi - lo) / 2:.1e}: floating point cannot tell its sign; "
                              "no verdict")
        elif rho is not None and not res.certified and 1 / symbolic.rational(rho) <= hi:
            cert.notes.append(f"1/ρ = {1 / rho:.6g} lies within the floating-point bracket of "
                              "λ_min: no verdict at this ρ")
    else:
        if p > 30:
            cert.notes.append(f"decided in exact rational arithmetic ({p} blocks)")
        if res.certifiable and exact is None:
            cert.notes.append(
                f"rho_min_exact is not written: the threshold is 1/λ_min with λ_min the smallest "
                f"root of det(xI − B), of degree {p} (written up to {symbolic.POLY_LIMIT - 1} "
                f"layers and {symbolic.POLY_TEXT_DIGITS}-digit coefficients); rho_min is from its "
                "exact bracket")
    rho_eval = rho if rho is not None else (2 * res.rho_min if res.rho_min else math.inf)
    exact_margin = res.lambda_min_b_float - (0.0 if math.isinf(rho_eval) else 1 / rho_eval)
    cert.margin, cert.tolerance = _cross_check(lp, res, lam, rho_eval, exact_margin, cert)
    if rho is None and res.certifiable:
        cert.notes.append(f"margin reported at ρ = 2·ρ_min = {rho_eval:.6g}")
    if not cert.certified:
        _symbolic_culprits(lp, k, m, cert, res)
        shape = structure(lp)
        cert.conditions = [Condition(SINGLE_LAYER, "does not apply", shape.single_layer),
                           Condition(TIED_CHAIN, "fails", cert.culprits[0].reason
                                     if cert.culprits else "")]
    return _counted(cert)


def _cross_check(lp: LiftedProblem, res: SymbolicResult, lam: float, rho: float,
                 exact: float, cert: Certificate) -> tuple[float, float]:
    """Compare λ_min(A) with eigenvalues of the assembled Q (small), of the tridiagonal A by
    another LAPACK algorithm (QR, up to :data:`~.symbolic.CROSS_CHECK_LIMIT` blocks), or with
    float64 pivot counts at the ends of the bracket (longer chains); nothing of size p²."""
    from . import symbolic

    inv_rho = 0.0 if math.isinf(rho) else 1 / rho
    if lp.u_size <= 300:
        n = lp.u_size
        mats = {"K": _dense(lp.K, n), "M": _dense(lp.M, n)}   # V and W are not needed
        ms = np.zeros((n, n))
        for layer in lp.layers:  # the same re-indexing as _tied_chain, on the full matrices
            rows = slice(lp.u_blocks[layer.base_block].offset,
                         lp.u_blocks[layer.base_block].offset + lp.u_blocks[layer.base_block].size)
            ms[rows] += _m_row(lp, layer, mats["M"])
        q = lam * mats["K"].T @ mats["K"] - inv_rho * np.eye(n) - ms - ms.T
        n0 = lp.u_blocks[0].size
        q[range(n0), range(n0)] += cert.modulus
        numeric = float(np.linalg.eigvalsh(q)[0])
        what = f"eigenvalues of the assembled Q ({n}×{n})"
    else:
        numeric = res.float_lambda_min(inv_rho)
        what = f"QR eigenvalues of the tridiagonal A ({res.blocks}×{res.blocks})"
    lo, hi = res.lambda_min_b
    if numeric is None:      # a long chain: QR would cost O(p²); its bracket's counts stand
        cert.notes.append(f"no second eigenvalue algorithm beyond {symbolic.CROSS_CHECK_LIMIT} "
                          "blocks (QR is O(p²)): the bracket is LAPACK's bisection confirmed by "
                          "the Sturm counts written in lbdsl/certify/symbolic.py")
        return exact, float((hi - lo) / 2)
    tol = 1e3 * np.finfo(float).eps * max(1.0, abs(lam) + 2 + inv_rho + cert.modulus) * \
        max(lp.u_size, 1)
    agree = abs(numeric - exact) <= tol
    label = "exact" if res.exact else "bisection"
    cert.notes.append(f"numeric cross-check ({what}): λ_min = {numeric:.6g}, {label} "
                      f"{exact:.6g}, {'agree' if agree else 'DISAGREE'} within {tol:.1e}")
    # the verdict is exact (or counts the rounding bound); the margin is known to the width of
    # its bracket
    return exact, float((hi - lo) / 2)


def _m_row(lp: LiftedProblem, layer, m_dense: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Layer ``l``'s block row of the assembled M (rows are layers' output sizes)."""
    start = sum(lp.u_blocks[other.output_block].size for other in lp.layers[:layer.index])
    return m_dense[start:start + lp.u_blocks[layer.output_block].size]


def _chain_verdict(k: Sparse, m: Sparse, exact: bool | None = None):  # noqa: ANN202
    """The verdict of a tied chain with blocks ``k``, ``m``, for :func:`.fixes.search`: at ρ,
    or the smallest ρ (rounded up, and checked) where it holds — by the certificate's own route
    (``exact`` None), or forced.  Its ``confirm`` attribute is the certificate's route."""
    from . import symbolic

    def verdict(lam: float, rho: float | None, mu: float) -> bool | float | None:
        if rho is not None:
            return symbolic.verdict_blocks(k, m, lam, rho, mu, exact)
        res = symbolic.certify_blocks(k, m, lam, None, mu, exact)
        if not res.certifiable or res.rho_min is None:
            return None
        shown = round_up(res.rho_min)
        for _ in range(4):   # the bracket's midpoint can sit a rounding below the threshold
            if symbolic.verdict_blocks(k, m, lam, shown, mu, exact):
                return shown
            shown = round_up(shown * 1.001)
        return None
    verdict.confirm = verdict if exact is None else _chain_verdict(k, m)  # type: ignore
    return verdict


def _chain_search_verdict(k: Sparse, m: Sparse):  # noqa: ANN202
    """The fix search's verdict of a tied chain: it explores in floating point (O(p) per
    candidate, conservative: what it certifies the exact route certifies) where the chain is
    longer than :data:`SEARCH_EXACT` blocks, and every fix it prints is tested by the
    certificate's own route (``confirm``)."""
    return _chain_verdict(k, m, None if m.shape[0] <= SEARCH_EXACT else False)


def _plus_signs(m: Sparse) -> Sparse:
    """``m`` with every `−` tied layer made `+` (the layer's two entries change sign)."""
    from . import symbolic

    flipped = dict(m.entries)
    for (i, j), value in m.entries.items():
        if i != j and value < 0:           # the (base, output) entry is the layer's sign
            flipped[(i, j)], flipped[(i, i)] = -value, -m.entries.get((i, i), 0)
    return symbolic.Sparse(m.shape, flipped)


def _symbolic_culprits(lp: LiftedProblem, k: Sparse, m: Sparse, cert: Certificate,
                       res: SymbolicResult) -> None:
    minus = [layer for layer in lp.layers if layer.step.sign < 0]  # type: ignore[union-attr]
    verdict = _chain_search_verdict(k, m)
    cert.fixes = search(verdict, cert.lam, cert.rho, cert.modulus, 1.0,
                        plus=_chain_search_verdict(k, _plus_signs(m)) if minus else None)
    tested = _tested(cert, "λ up to 1000×, an input modulus up to 1000"
                     + (", the `+` sign" if minus else ""))
    by_line: dict[int | None, list] = {}
    for layer in minus:  # a `repeat` body is one spec line: name it once
        by_line.setdefault(_line(layer), []).append(layer)
    for line, group in by_line.items():
        count = f" ({len(group)} layers)" if len(group) > 1 else ""
        cert.culprits.append(Culprit(
            _layer_name(lp, group[0]) + count, line,
            "a `−` tied residual layer makes −(M + Mᵀ) indefinite: A(λ, ρ) ⪰ 0 fails for every ρ",
            tested))
    if minus:
        return
    if cert.rho is not None and res.certifiable:
        cert.culprits.append(Culprit(
            "ρ", None, f"ρ = {cert.rho:g} is below the threshold ρ_min = {cert.rho_min:.6g}",
            tested))
        return
    worst = int(np.argmax(np.abs(res.eigvec)))
    owner = next((layer for layer in lp.layers if worst in (layer.output_block,
                                                            layer.base_block)), lp.layers[0])
    cert.culprits.append(Culprit(_layer_name(lp, owner), _line(owner),
                                 "λkᵀk − M − Mᵀ is not positive definite here", tested))


def _tested(cert: Certificate, candidates: str) -> str:
    """The culprits' fix in words: the tested fixes, or that none of the candidates works."""
    if cert.fixes:
        return " — or — ".join(f.text for f in cert.fixes)
    return f"none found: no tested change certifies it ({candidates})"


def _not_applicable(lp: LiftedProblem) -> list[Condition]:
    """Routes 1 and 2, where the structure rules them out, with the structure's reason."""
    shape = structure(lp)
    return [Condition(SINGLE_LAYER, "does not apply", shape.single_layer),
            Condition(TIED_CHAIN, "does not apply", shape.tied_chain)]


def _hidden_text(lp: LiftedProblem, pair: Hidden, lam: float) -> str:
    """The hidden-layer rule on ``pair`` in words (docs/certificate.md)."""
    hidden, reader = _layer_name(lp, pair.writer), _layer_name(lp, pair.reader)
    where = f" (line {_line(pair.reader)})" if _line(pair.reader) else ""
    bound = f"1 + λ = {1 + lam:g}" if pair.output else "1"
    need = (f" (it can hold only for λ > {pair.norm2 - 1:.4g})" if pair.output
            else " (whatever λ: only smaller weights there can help)")
    return (f"{reader}{where} reads the hidden layer {hidden} through {pair.label} with "
            f"‖{pair.label}‖² ≥ {pair.norm2:.4g} > {bound}, and {hidden}'s only curvature is "
            f"its own constraint's: H_ρ on {hidden}, {reader} and their layers' z is "
            f"indefinite{need}")


INPUT_TEXT = ("u_0 has no curvature: K and M do not touch it and μ = 0, so H_ρ's u_0 block is 0 "
              "while its (u_0, z) block −W_1ᵀ is not")


def _structural(lp: LiftedProblem, lam: float, rho: float | None, modulus: float,
                obs: Obstructions) -> Certificate:
    """Not certified at any ρ, decided from the structure (no eigenvalue of ``H_ρ``; module
    :mod:`.structural`): a positive semidefinite matrix has positive semidefinite principal
    submatrices.  The fixes the structure does not rule out are still searched (small
    networks), the modulus by its exact smallest value."""
    by_input = obs.input and modulus == 0
    hidden = obs.every_modulus(lam)
    if by_input:
        cert = Certificate(lp.network.name, False, "symbolic", lam, rho, modulus,
                           route="structure: no curvature in the input")
        test = Condition(_h_name(modulus), "fails at every λ and ρ", INPUT_TEXT)
    else:
        assert hidden is not None
        cert = Certificate(lp.network.name, False, "numeric", lam, rho, modulus,
                           route="structure: a hidden layer without curvature")
        test = Condition(_h_name(modulus), "fails at every ρ", _hidden_text(lp, hidden, lam))
    cert.notes.append("decided from the structure (docs/certificate.md): no eigenvalue of H_ρ "
                      "computed" + (f"; ‖{hidden.label}‖ is bounded from below by a power "
                                    "iteration" if hidden is not None else ""))
    size = lp.u_size + lp.z_size
    if size <= FIX_LIMIT:
        found = _Search(lp, obs, None, modulus)     # least replaces the modulus ladder
        cert.fixes = search(found.verdict, lam, rho, modulus, 1.0, least=found.least)
        tested = _tested(cert, "another ρ, λ up to 1000×, the smallest input modulus")
    elif hidden is not None:
        tested = ("none found: no " + ("λ or ρ certifies it, nor an l2sq weight at this λ"
                                       if by_input else "ρ or l2sq weight certifies it at "
                                       "this λ"))
    else:
        tested = (f"none found: no λ or ρ certifies it; only curvature on the input can (an "
                  f"l2sq weight, whose smallest value is computed up to size(u) + size(z) = "
                  f"{FIX_LIMIT}; this network: {size})")
    if by_input:
        first = lp.layers[0]
        cert.culprits.append(Culprit(
            _layer_name(lp, first), _line(first),
            "the input u_0 enters E only through the bilinear term −⟨z_1, W_1 u_0⟩ "
            "(no curvature in u_0)", tested))
    if hidden is not None:
        cert.culprits.append(Culprit(
            _layer_name(lp, hidden.reader), _line(hidden.reader),
            f"it reads the hidden layer {_layer_name(lp, hidden.writer)} through "
            f"{hidden.label}, ‖{hidden.label}‖² ≥ {hidden.norm2:.4g} > "
            f"{'1 + λ' if hidden.output else '1'}: no ρ or l2sq weight certifies it", tested))
    cert.conditions = _not_applicable(lp) + [test, _modulus_condition(lp, cert, obs, size)]
    return _counted(cert)


def _h_name(modulus: float) -> str:
    return ("H_ρ ⪰ 0 (route 3)" if modulus == 0 else
            f"H_ρ + μE₀ ⪰ 0 (route 3) at the task's μ = {modulus:g}")


def _modulus_condition(lp: LiftedProblem, cert: Certificate, obs: Obstructions,
                       size: int, searched: bool = True) -> Condition:
    """Condition 4 (a larger l2sq weight), as the structure and the fix search (``searched``:
    whether it ran) leave it."""
    hidden = obs.every_modulus(cert.lam)
    alone = [f for f in cert.fixes if set(f.change) - {"rho"} == {"modulus"}]
    both = [f for f in cert.fixes if {"lam", "modulus"} <= set(f.change)]
    if hidden is not None:
        reason = _hidden_text(lp, hidden, cert.lam)
        if both:
            reason += f"; with a larger λ it holds: {both[0].text} (tested)"
        return Condition(LARGER_MODULUS, f"fails at every μ and ρ at λ = {cert.lam:g}", reason)
    if alone:
        change = alone[0].change
        at = f" at ρ = {change['rho']:g}" if "rho" in change else ""
        return Condition(LARGER_MODULUS, "holds",
                         f"for μ ≥ {change['modulus']:g}{at}: the smallest such μ (a Schur "
                         "complement of H_ρ), rounded up and tested")
    if size > FIX_LIMIT:
        return Condition(LARGER_MODULUS, "not decided",
                         "no hidden layer rules it out; the smallest μ is computed up to "
                         f"size(u) + size(z) = {FIX_LIMIT} (this network: {size})")
    if not searched:
        return Condition(LARGER_MODULUS, "not decided", "no hidden layer rules it out; not "
                         "searched, since the test has no verdict at this λ and ρ")
    return Condition(LARGER_MODULUS, f"fails at the ρ tried at λ = {cert.lam:g}",
                     "H_ρ outside the u_0 block is not positive definite at any ρ of "
                     f"{{{', '.join(f'{r:g}' for r in FIX_GRID)}}}, so no μ reaches it")


@dataclass
class _Search:
    """The numeric route's fix search: ``verdict`` for :func:`.fixes.search`, cut short
    where the structure decides (no eigenvalue for a candidate it rules out), and ``least``
    the smallest modulus by a Schur complement; the dense blocks are made once, when first
    needed."""

    lp: LiftedProblem
    obs: Obstructions
    mats: dict[str, np.ndarray] | None
    modulus: float = 0.0                                     # the certificate's own μ
    hint: dict[float, float] = field(default_factory=dict)   # λ → the ρ of least's minimum

    def blocks_(self) -> dict[str, np.ndarray]:
        if self.mats is None:
            self.mats = hessian_blocks(self.lp)
        return self.mats

    def verdict(self, lam: float, rho: float | None, mu: float) -> bool | float | None:
        if self.obs.blocks(lam, mu):
            return False if rho is not None else None
        mats = self.blocks_()
        if rho is not None:
            return certify_numeric(self.lp, lam, rho, mats, mu).certified
        # a ρ of the grid where it holds: where the least modulus was found first (one
        # eigenvalue problem to confirm it), else the first
        hint = self.hint.get(lam) if mu != self.modulus else None   # a modulus from least
        order = sorted(FIX_GRID, key=lambda r: r != hint)
        return next((r for r in order if certify_numeric(self.lp, lam, r, mats, mu).certified),
                    None)

    def least(self, lam: float, rho: float | None) -> float | None:
        """The smallest μ with ``H_ρ + μE₀ ⪰ 0`` at ρ, or at a ρ of :data:`FIX_GRID` if that is
        smaller (ρ None: over the grid); None when the structure rules every μ out or none
        is found."""
        if self.obs.every_modulus(lam) is not None:
            return None
        mats = self.blocks_()
        values = [(least_modulus(self.lp, lam, r, mats), r)
                  for r in ((rho,) if rho is not None else ()) + FIX_GRID]
        values = [(v, r) for v, r in values if v is not None and v <= WEIGHT_RANGE[1]]
        if not values:
            return None
        value, self.hint[lam] = min(values)
        return value


def _numeric(lp: LiftedProblem, lam: float, rho: float | None, modulus: float) -> Certificate:
    route = "H_ρ ⪰ 0 (weights-dependent; see docs/certificate.md)"
    obs = obstructions(lp)
    if obs.blocks(lam, modulus):
        # no eigenvalue can change this verdict (structural.py): none is computed
        return _structural(lp, lam, rho, modulus, obs)
    if lp.u_size + lp.z_size > 50 * DENSE_LIMIT:
        return Certificate(lp.network.name, False, "none", lam, rho, modulus, route="too large",
                           notes=[f"size(u) + size(z) = {lp.u_size + lp.z_size} is too large "
                                  "for the numeric certificate; no verdict"])
    mats = hessian_blocks(lp) if lp.u_size + lp.z_size <= DENSE_LIMIT else None
    grid = (rho,) if rho is not None else RHO_GRID
    results = [certify_numeric(lp, lam, r, mats, modulus) for r in grid]
    good = [r for r in results if r.certified]
    best = max(results, key=lambda r: r.margin)
    chosen = results[0] if rho is not None else (good[0] if good else best)
    cert = Certificate(lp.network.name, bool(good), "numeric", lam, rho, modulus, route=route,
                       margin=chosen.margin, tolerance=chosen.tolerance)
    cert.notes.append(f"{chosen.method} at ρ = {chosen.rho:g}; assumes Ψ convex (true for the "
                      "catalogue) and uses only the quadratic part of E")
    if chosen.unresolved:
        cert.notes.append(chosen.unresolved)
    if rho is None:
        cert.rho_min = good[0].rho if good else None
        scanned = f"ρ ∈ {{{', '.join(f'{r.rho:g}' for r in results)}}}"
        cert.notes.append(f"scanned {scanned}: "
                          + (f"certified for ρ ≥ {good[0].rho:g} on the grid"
                             if good else "certified for none"))
    if not cert.certified and not chosen.unresolved:
        _numeric_culprits(lp, chosen, cert, mats, obs)
    if not cert.certified:
        status = (f"no verdict at ρ = {chosen.rho:g}" if chosen.unresolved else
                  f"fails at ρ = {chosen.rho:g}" if rho is not None else
                  "fails at every ρ scanned")
        why = chosen.unresolved or (
            f"λ_min(H_ρ) = {chosen.margin:.6g} < −{chosen.tolerance:.1e}"
            + ("" if rho is not None else f" at best (ρ = {chosen.rho:g})")
            + "; no structural rule decides it, so the eigenvalues did")
        cert.conditions = _not_applicable(lp) + [
            Condition(_h_name(modulus), status, why),
            _modulus_condition(lp, cert, obs, lp.u_size + lp.z_size,
                               searched=not chosen.unresolved)]
    return _counted(cert)


def _numeric_culprits(lp: LiftedProblem, res, cert: Certificate,  # noqa: ANN001
                      mats: dict[str, np.ndarray] | None, obs: Obstructions) -> None:
    if lp.u_size + lp.z_size <= FIX_LIMIT:
        found = _Search(lp, obs, mats, cert.modulus)   # least replaces the modulus ladder
        cert.fixes = search(found.verdict, cert.lam, cert.rho, cert.modulus, 1.0,
                            least=found.least)
        tested = _tested(cert, "another ρ, λ up to 1000×, the smallest input modulus")
    else:
        tested = (f"fixes are tested only up to size(u) + size(z) = {FIX_LIMIT} (this network: "
                  f"{lp.u_size + lp.z_size}); none is suggested untested")
    v = res.eigvec
    nu = lp.u_size
    energy: dict[int, float] = {}
    for layer in lp.layers:
        zb = v[nu + layer.z_offset: nu + layer.z_offset + layer.z_size]
        ub = v[lp.u_blocks[layer.output_block].offset:
               lp.u_blocks[layer.output_block].offset + lp.u_blocks[layer.output_block].size]
        energy[layer.index] = float(zb @ zb + ub @ ub)
    u0 = v[:lp.u_blocks[0].size]
    if float(u0 @ u0) >= max(energy.values(), default=0.0):
        first = lp.layers[0]
        cert.culprits.append(Culprit(
            _layer_name(lp, first), _line(first),
            "the input u_0 enters E only through the bilinear term −⟨z_1, W_1 u_0⟩ "
            "(no curvature in u_0)", tested))
        return
    for index in sorted(energy, key=energy.get, reverse=True)[:2]:
        layer = lp.layers[index]
        cert.culprits.append(Culprit(
            _layer_name(lp, layer), _line(layer),
            f"the most negative curvature of H_ρ lies on this layer ({layer.kind})", tested))
