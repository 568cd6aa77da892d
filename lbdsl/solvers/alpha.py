"""Choosing the regularisation parameter α (math.md §3): fixed, a-priori, discrepancy principle.

The rules are written against two callables, so that they work with any solver:

* ``solve(alpha, x0) -> SolveResult`` solves the problem at ``alpha``; ``x0`` is None or the
  :class:`SolveResult` of a previous α (a warm start: ``pdhg`` reads the iterate *and* its dual
  from it; a solver that wants an array takes ``x0.u``);
* ``residual_norm(result) -> float`` is ``‖N(u_α) − f^δ‖₂``.

**A priori**: ``α(δ) = √2·δ/‖v†‖``, which gives ``D_J(u†, u_α) ≤ 2√2‖v†‖δ`` when the source
condition ``Wᵀv† ∈ ∂J(u†)`` holds (math.md §3; ``δ`` is the noise norm ``‖f^δ − f‖``).  Which
``v†``:

* *truth known* (:func:`source_element`): a subgradient ``ξ ∈ ∂J(u†)`` built from the truth —
  TV: ``∇ᵀq`` with ``q_i = (∇u†)_i/‖(∇u†)_i‖`` on the jump set and ``q_i = 0`` where ``u†`` is
  flat (the element of least norm on the flat part); l1: ``sign(u†)``; l2sq: ``u†``; indicators:
  ``0`` — and ``v† = argmin_v ‖Wᵀv − ξ‖`` (the minimum-norm least-squares solution,
  ``v = (WWᵀ)⁺Wξ``).  The relative misfit ``‖Wᵀv† − ξ‖/‖ξ‖`` is reported: it is 0 exactly when
  this ``ξ`` satisfies the source condition.  With ``m < n`` (experiment 1: 512 < 4096) a
  generic ``ξ`` is not in the range of ``Wᵀ``, and ``‖v†‖`` then measures only the part that is.
* *truth unknown* (:func:`apriori_from_dual`): the dual of the solution itself.  At ``u_α`` the
  optimality condition reads ``Wᵀv_α ∈ ∂J(u_α)`` with ``v_α = (f^δ − N(u_α))/α`` (single layer,
  Bregman fidelity), so ``v_α`` is a source element of ``u_α``.  Iterating
  ``α ← √2·δ/‖v_α‖`` (warm-started, a few steps) has the fixed point ``‖N(u_α) − f^δ‖ = √2·δ``:
  the data-driven a-priori rule is Morozov's principle with ``τ = √2``, which we state rather
  than hide.

**Discrepancy principle** (:func:`discrepancy`): the largest α with ``‖N(u_α) − f^δ‖ ≤ τδ``
(τ > 1).  The residual grows with α, so: α₀, α₀q, α₀q², … (at most ``max_tries``) until one
satisfies the bound, then ``bisect`` bisections (geometric means) between it and the last one
that did not, each solve warm-started from the nearest solution so far.  The answer satisfies the
bound and the next larger α tried does not (if α₀ already satisfies it, α₀ is returned).

**Sweep** (:func:`sweep`): the problem at each α of a geometric grid from ``hi`` down to ``lo``
(warm-started from the previous, larger α), every solution measured — the residual
``‖N(u_α) − f^δ‖``, the penalty ``J(u_α) = Σ w_i J_i(u_α)``, the objective, PSNR/SSIM when a truth
is known — and one α picked: by the discrepancy principle on the grid (the largest α with
``‖N(u_α) − f^δ‖ ≤ τδ``) when ``δ`` is known, else at the corner of the L-curve
(:func:`lcurve_corner`).  The best-PSNR α is reported beside it (an oracle: it needs the
truth), never picked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace

from ..errors import SolveError
from .base import SolveResult
from .problems import InverseProblem

__all__ = ["AlphaChoice", "Apriori", "Discrepancy", "Sweep", "Rule", "fixed", "apriori",
           "apriori_alpha", "source_element", "apriori_from_dual", "discrepancy",
           "sweep_grid", "lcurve_corner", "sweep", "residual_norm_of", "penalty_of",
           "quadratic_only", "choose"]

Solve = Callable[[float, Any], SolveResult]
ResidualNorm = Callable[[SolveResult], float]
Measure = Callable[[SolveResult], dict[str, Any]]


@dataclass(frozen=True)
class Apriori:
    """``α = scale·δ``, or ``√2·δ/‖v†‖`` when ``scale`` is None (module docstring)."""

    scale: float | None = None


@dataclass(frozen=True)
class Discrepancy:
    """The largest α of ``α₀, α₀q, α₀q², …`` (at most ``max_tries``) with
    ``‖N(u_α) − f^δ‖ ≤ τδ``."""

    tau: float = 1.1
    alpha0: float = 1.0
    q: float = 0.5
    max_tries: int = 30


@dataclass(frozen=True)
class Sweep:
    """``n`` values of α from ``hi`` down to ``lo`` (geometric), one picked by the discrepancy
    principle (``τ``; δ known) or at the L-curve's corner (``pick``)."""

    lo: float
    hi: float
    n: int = 12
    pick: str = "auto"
    tau: float = 1.1


Rule = Apriori | Discrepancy | Sweep


@dataclass
class AlphaChoice:
    """The chosen α, its solution, every (α, ‖N(u_α) − f‖) tried in order, and details."""

    alpha: float
    result: SolveResult
    tried: list[tuple[float, float]] = field(default_factory=list)
    rule: str = "fixed"
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "alpha": self.alpha,
                "tried": [{"alpha": a, "residual": r} for a, r in self.tried], **self.info}


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def fixed(alpha: float, solve: Solve, x0: Any = None) -> AlphaChoice:
    """Solve at the given α."""
    alpha = _positive("alpha", alpha)
    return AlphaChoice(alpha, solve(alpha, x0), [], "fixed", {"value": alpha})


def apriori_alpha(delta: float, v_norm: float) -> float:
    """``α = √2·δ/‖v‖`` (math.md §3)."""
    delta = _positive("delta", delta)
    v_norm = _positive("the norm of the source element v", v_norm)
    return math.sqrt(2.0) * delta / v_norm


def apriori(delta: float, solve: Solve, *, v_norm: float, x0: Any = None) -> AlphaChoice:
    """Solve at ``α = √2·δ/‖v‖`` for a given source-element norm ``‖v‖``."""
    alpha = apriori_alpha(delta, v_norm)
    return AlphaChoice(alpha, solve(alpha, x0), [], "apriori",
                       {"delta": float(delta), "v_norm": float(v_norm)})


# --- the source element ----------------------------------------------------------------------

def _subgradient(problem: InverseProblem, truth: Any) -> Any:
    """``ξ ∈ ∂(Σ w_i J_i)(u†)`` as described in the module docstring (flat, ``(B, n)``)."""
    reg = problem.regulariser
    xp = problem.xp
    u = xp.reshape(xp.asarray(truth, dtype=problem.lifted.dtype), (-1, math.prod(reg.shape)))
    return reg.subgradient(u)


def source_element(problem: InverseProblem, truth: Any) -> tuple[Any, float]:
    """``(v†, misfit)``: ``v† = (WWᵀ)⁺ W ξ`` for the ``ξ ∈ ∂J(u†)`` of the module docstring, and
    ``‖Wᵀv† − ξ‖ / ‖ξ‖`` (0 when the source condition holds for this ``ξ``).

    Single layer only (``SolveError`` otherwise); ``v†`` has the data's shape ``(…, m)``.
    """
    from .pdhg.problem import single_layer

    if problem.fidelity != "bregman" or not problem.structure.has("single_layer"):
        raise SolveError("the source element v† is defined for a single-layer Bregman problem")
    prob = single_layer(problem)
    xp = prob.xp
    xi = _subgradient(problem, truth)
    eye = xp.eye(prob.m, dtype=prob.dtype)
    gram = prob.W.forward(prob.W.adjoint(eye))                  # W Wᵀ, (m, m)
    v = xp.matmul(prob.W.forward(xi), xp.linalg.pinv(gram))     # rows: (W ξ)ᵀ (WWᵀ)⁺
    ref = float(xp.linalg.vector_norm(xp.reshape(xi, (-1,))))
    misfit = float(xp.linalg.vector_norm(xp.reshape(prob.W.adjoint(v) - xi, (-1,))))
    v = v if prob.batched or problem.f.ndim > 1 else v[0, ...]
    return v, (misfit / ref if ref > 0 else 0.0)


def apriori_from_dual(delta: float, solve: Solve, residual_norm: ResidualNorm, *,
                      alpha0: float = 1.0, steps: int = 5, rtol: float = 0.05,
                      warm_start: bool = True) -> AlphaChoice:
    """The a-priori rule with ``‖v‖ = ‖N(u_α) − f‖/α`` from the solution itself (module
    docstring): ``α ← √2·δ/‖v_α‖`` from ``alpha0`` until α changes by less than ``rtol``
    (relative) or after ``steps`` solves; returns the last α and its solution."""
    delta = _positive("delta", delta)
    alpha = _positive("alpha0", alpha0)
    tried: list[tuple[float, float]] = []
    result = solve(alpha, None)
    for _ in range(max(int(steps), 1)):
        r = residual_norm(result)
        tried.append((alpha, r))
        if not r > 0:
            break
        new = math.sqrt(2.0) * delta * alpha / r          # √2 δ / ‖v_α‖, ‖v_α‖ = r/α
        if abs(new - alpha) <= rtol * alpha:
            break
        alpha = new
        result = solve(alpha, result if warm_start else None)
    else:  # out of steps: the last solve is not recorded yet
        tried.append((alpha, residual_norm(result)))
    v_norm = tried[-1][1] / alpha
    return AlphaChoice(alpha, result, tried, "apriori",
                       {"delta": delta, "v_norm": v_norm,
                        "v_source": "dual of the solution, v = (f − N(u_α))/α"})


# --- discrepancy principle -------------------------------------------------------------------

def discrepancy(delta: float, tau: float, solve: Solve, residual_norm: ResidualNorm, *,
                alpha0: float = 1.0, q: float = 0.5, max_tries: int = 30, bisect: int = 6,
                warm_start: bool = True) -> AlphaChoice:
    """Morozov's principle by the monotone search of the module docstring.

    ``info["satisfied"]`` is False when no α on the grid met the bound (then the smallest α
    tried is returned); ``info["bracket"]`` is ``(α, next larger α tried)``.
    """
    delta = _positive("delta", delta)
    tau = _positive("tau", tau)
    alpha0 = _positive("alpha0", alpha0)
    if not (0.0 < q < 1.0):
        raise ValueError(f"q must lie in (0, 1), got {q!r}")
    if int(max_tries) < 1 or int(bisect) < 0:
        raise ValueError("max_tries must be >= 1 and bisect >= 0")
    bound = tau * delta
    tried: list[tuple[float, float]] = []
    solutions: dict[float, SolveResult] = {}

    def attempt(alpha: float, start: SolveResult | None) -> bool:
        result = solve(alpha, start if warm_start else None)
        r = residual_norm(result)
        tried.append((alpha, r))
        solutions[alpha] = result
        return r <= bound

    alpha, previous = alpha0, None
    ok = attempt(alpha, None)
    info: dict[str, Any] = {"delta": delta, "tau": tau, "bound": bound}
    if ok:
        return AlphaChoice(alpha, solutions[alpha], tried, "discrepancy",
                           {**info, "satisfied": True, "bracket": (alpha, None),
                            "note": "alpha0 already satisfies the bound"})
    for _ in range(int(max_tries) - 1):
        previous, alpha = alpha, alpha * q
        ok = attempt(alpha, solutions[previous])
        if ok:
            break
    if not ok:
        return AlphaChoice(alpha, solutions[alpha], tried, "discrepancy",
                           {**info, "satisfied": False, "bracket": (None, alpha),
                            "note": f"no alpha down to {alpha:.3g} met ‖N(u) − f‖ <= τδ"})
    lo, hi = alpha, previous                      # lo satisfies, hi does not
    for _ in range(int(bisect)):
        mid = math.sqrt(lo * hi)
        if attempt(mid, solutions[lo]):
            lo = mid
        else:
            hi = mid
    return AlphaChoice(lo, solutions[lo], tried, "discrepancy",
                       {**info, "satisfied": True, "bracket": (lo, hi)})


# --- a sweep --------------------------------------------------------------------------------

def sweep_grid(lo: float, hi: float, n: int) -> list[float]:
    """``n ≥ 2`` values ``α_k = hi·(lo/hi)^(k/(n−1))``, ``k = 0 … n−1``: from ``hi`` down to
    ``lo``, equally spaced in ``log α``."""
    lo, hi = _positive("lo", lo), _positive("hi", hi)
    if not (lo < hi and int(n) >= 2):
        raise ValueError(f"a sweep needs lo < hi and n >= 2, got lo = {lo:g}, hi = {hi:g}, "
                         f"n = {n!r}")
    n = int(n)
    return [hi * (lo / hi) ** (k / (n - 1)) for k in range(n)]


def lcurve_corner(residuals: list[float], penalties: list[float]) -> int | None:
    """The index of the L-curve's corner (Hansen 1992): of the points
    ``p_k = (log ‖N(u_k) − f‖, log J(u_k))`` in order of *increasing* α, the interior one of
    largest signed Menger curvature

        κ_k = 2·(a × b) / (|a|·|b|·|a + b|),   a = p_k − p_{k−1},  b = p_{k+1} − p_k,

    the curvature of the circle through ``p_k`` and its neighbours, positive where the curve
    turns left (the corner of the "L": it comes down, small α, then goes right, large α).
    Points with a residual or penalty ≤ 0 or not finite have no logarithm and are left out;
    None when no three are left or none turns left by more than rounding (``κ > 10⁻⁶``: a
    straight line's κ is rounding noise)."""
    keep = [k for k, (r, j) in enumerate(zip(residuals, penalties))
            if math.isfinite(r) and math.isfinite(j) and r > 0 and j > 0]
    pts = [(math.log(residuals[k]), math.log(penalties[k])) for k in keep]
    best, best_kappa = None, 1e-6
    for i in range(1, len(pts) - 1):
        ax, ay = pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]
        bx, by = pts[i + 1][0] - pts[i][0], pts[i + 1][1] - pts[i][1]
        lengths = math.hypot(ax, ay) * math.hypot(bx, by) * math.hypot(ax + bx, ay + by)
        if lengths == 0.0:
            continue
        kappa = 2.0 * (ax * by - ay * bx) / lengths
        if kappa > best_kappa:
            best, best_kappa = keep[i], kappa
    return best


def sweep(alphas: list[float], solve: Solve, measure: Measure, *, delta: float | None = None,
          tau: float = 1.1, pick: str = "auto", warm_start: bool = True) -> AlphaChoice:
    """Solve at every α of ``alphas`` (largest first, each warm-started from the previous) and
    pick one (module docstring).

    ``measure(result)`` gives at least ``residual`` (``‖N(u) − f‖``) and ``penalty``
    (``J(u)``), and ``psnr`` where a truth is known; ``pick`` is ``"discrepancy"`` (needs
    ``delta``), ``"lcurve"`` or ``"auto"`` (discrepancy when ``delta`` is given, else the
    L-curve; its second axis is ``lcurve_penalty`` where the row has one, else ``penalty``).
    ``info["table"]`` holds one row per α in the order solved."""
    alphas = sorted((_positive("alpha", a) for a in alphas), reverse=True)
    if pick == "auto":
        pick = "lcurve" if delta is None else "discrepancy"
    if pick not in ("discrepancy", "lcurve"):
        raise ValueError(f"pick must be 'discrepancy', 'lcurve' or 'auto', got {pick!r}")
    if pick == "discrepancy":
        if delta is None:
            raise ValueError("picking by the discrepancy principle needs delta")
        delta, tau = _positive("delta", delta), _positive("tau", tau)
    rows: list[dict[str, Any]] = []
    results: list[SolveResult] = []
    for alpha in alphas:
        start = results[-1] if results and warm_start else None
        results.append(solve(alpha, start))
        rows.append({"alpha": alpha, "objective": float(results[-1].objective),
                     "stop_reason": results[-1].stop_reason, **measure(results[-1])})
    info: dict[str, Any] = {"pick": pick, "table": rows, "grid": [min(alphas), max(alphas),
                                                                 len(alphas)]}
    up = list(range(len(rows)))[::-1]                   # increasing α
    corner = lcurve_corner([rows[k]["residual"] for k in up],
                           [rows[k].get("lcurve_penalty", rows[k]["penalty"]) for k in up])
    info["lcurve_alpha"] = None if corner is None else rows[up[corner]]["alpha"]
    psnrs = [(r.get("psnr"), k) for k, r in enumerate(rows) if r.get("psnr") is not None]
    if psnrs:
        info["best_psnr_alpha"] = rows[max(psnrs)[1]]["alpha"]
    if delta is not None:
        bound = tau * delta
        info.update(delta=delta, tau=tau, bound=bound)
        meets = [k for k, r in enumerate(rows) if r["residual"] <= bound]
        info["discrepancy_alpha"] = rows[meets[0]]["alpha"] if meets else None
    if pick == "discrepancy":
        chosen = next((k for k, r in enumerate(rows) if r["residual"] <= bound), None)
        info["satisfied"] = chosen is not None
        if chosen is None:
            chosen = len(rows) - 1
            info["note"] = (f"no α of the sweep down to {rows[-1]['alpha']:.3g} met "
                            "‖N(u) − f‖ <= τδ: the smallest is taken")
    else:
        chosen = up[corner] if corner is not None else None
        if chosen is None:
            chosen = len(rows) - 1
            info["note"] = ("the L-curve has no corner on this grid (it does not turn): the "
                            "smallest α is taken; widen the sweep")
    return AlphaChoice(rows[chosen]["alpha"], results[chosen],
                       [(r["alpha"], r["residual"]) for r in rows], "sweep", info)


# --- glue for the task runner ----------------------------------------------------------------

def residual_norm_of(problem: InverseProblem, measured: Any = None) -> ResidualNorm:
    """``result ↦ ‖N(u) − f‖₂`` on ``problem`` (whole batch), by the lifted forward pass;
    ``f`` is ``measured`` when given (the data as measured, before the Bregman fidelity's
    projection and threshold: what the noise norm δ is the distance to), else ``problem.f``."""
    lp = problem.lifted
    xp = lp.xp
    n = lp.u_blocks[0].size
    data = problem.f if measured is None else measured

    def norm(result: SolveResult) -> float:
        u = xp.asarray(result.u, dtype=lp.dtype)
        u = xp.reshape(u, (-1, n))
        out = lp.output(lp.forward(u))
        f = xp.reshape(xp.asarray(data, dtype=lp.dtype), (-1, out.shape[-1]))
        return float(xp.linalg.vector_norm(xp.reshape(out - f, (-1,))))

    return norm


def penalty_of(problem: InverseProblem) -> Callable[[SolveResult], float]:
    """``result ↦ J(u) = Σ w_i J_i(u)`` of ``problem``'s regulariser (whole batch)."""
    reg, xp, lp = problem.regulariser, problem.xp, problem.lifted
    n = lp.u_blocks[0].size
    return lambda result: reg.value(xp.reshape(xp.asarray(result.u, dtype=lp.dtype), (-1, n)))


def quadratic_only(problem: InverseProblem) -> bool:
    """Whether ``J`` is ``l2sq`` alone (2-homogeneous: the L-curve then takes ``(2J)^½``, so
    that both of its axes are norms, as in Hansen's ``(‖Ax − b‖, ‖x‖)``)."""
    reg = problem.regulariser
    return bool(reg.quadratic_weight) and not reg.form.names("gradient", "separable", "prox")


def choose(rule: Rule, problem: InverseProblem, delta: float | None,
           solve_at: Callable[..., SolveResult], *, warm_start: bool = True,
           truth: Any = None, quality: Measure | None = None, measured: Any = None,
           ) -> tuple[float, SolveResult, dict[str, Any]]:
    """Apply the α rule ``rule`` with noise norm ``delta`` (None only for a sweep without one).

    ``problem`` is the problem at α = 1 (used for ``N`` and ``f``, for ``J`` and for ``v†``);
    ``solve_at(alpha, x0)`` solves at α from ``x0``, the previous :class:`SolveResult` (None
    without ``warm_start``: the caller gives its solver the warm start that solver takes);
    ``quality`` (a sweep's PSNR/SSIM against the truth) adds to each row of a sweep's table;
    residuals are measured against ``measured`` when given (:func:`residual_norm_of`).
    Returns ``(α, result, JSON-able info)``.
    """
    residual_norm = residual_norm_of(problem, measured)

    def solve(alpha: float, x0: SolveResult | None) -> SolveResult:
        return solve_at(alpha, x0 if warm_start else None)

    if isinstance(rule, Sweep):
        penalty, squared = penalty_of(problem), quadratic_only(problem)

        def measure(result: SolveResult) -> dict[str, Any]:
            row = {"residual": residual_norm(result), "penalty": penalty(result)}
            if squared:
                row["lcurve_penalty"] = math.sqrt(2.0 * row["penalty"])
            return {**row, **(quality(result) if quality is not None else {})}

        choice = sweep(sweep_grid(rule.lo, rule.hi, rule.n), solve, measure, delta=delta,
                       tau=rule.tau, pick=rule.pick, warm_start=warm_start)
    elif isinstance(rule, Discrepancy):
        choice = discrepancy(delta, rule.tau, solve, residual_norm, alpha0=rule.alpha0,
                             q=rule.q, max_tries=rule.max_tries, warm_start=warm_start)
    elif rule.scale is not None:
        alpha = _positive("scale", rule.scale) * _positive("delta", delta)
        choice = AlphaChoice(alpha, solve(alpha, None), [], "apriori",
                             {"delta": float(delta), "scale": float(rule.scale)})
    else:
        choice = _apriori_from_source(problem, delta, solve, residual_norm, truth, warm_start)
    choice.info.setdefault("residual", residual_norm(choice.result))
    return choice.alpha, choice.result, choice.to_json()


def _apriori_from_source(problem: InverseProblem, delta: float, solve: Solve,
                         residual_norm: ResidualNorm, truth: Any,
                         warm_start: bool) -> AlphaChoice:
    """The a-priori rule with ``‖v†‖`` from the truth where it is known and the problem has
    one layer, else from the dual of the solution (module docstring)."""
    v = None
    if truth is not None and problem.structure.has("single_layer"):
        try:
            v, misfit = source_element(problem, truth)
        except SolveError:
            v = None
    if v is None:
        return apriori_from_dual(delta, solve, residual_norm, warm_start=warm_start)
    xp = array_namespace(v)
    v_norm = float(xp.linalg.vector_norm(xp.reshape(v, (-1,))))
    if not v_norm > 0:
        raise SolveError("apriori: the source element v† computed from the truth is "
                         "zero (J has no subgradient direction the network sees); "
                         "give alpha = apriori(delta = …, scale = c) or a number")
    choice = apriori(delta, solve, v_norm=v_norm)
    choice.info.update(v_source="truth: least squares Wᵀv = ξ ∈ ∂J(u†)",
                       source_misfit=misfit)
    return choice
