"""``pdhg``: single-layer Bregman inversion ``min_u B_Ψ(f, W u + b) + Σ α_i J_i(u)`` (math.md §3).

Three variants of one primal–dual scheme share the problem (:mod:`.problem`), the check
(:mod:`.driver`) under the loop every solver runs (:mod:`lbdsl.solvers.driver`: stopping,
divergence guard, monitor, interrupt) and the result:

========== ====================================================================================
admm       ADMM with the exact ``u``-solve (Woodbury + DCT), over-relaxation and residual
           balancing — the default (:mod:`.admm`, :mod:`.woodbury`, :mod:`.dct`)
precond    PDHG with Pock–Chambolle diagonal preconditioning and adaptive balancing
           (:mod:`.precond`)
condat_vu  the seed's Condat–Vũ iteration, kept as the reference (:mod:`.condat_vu`)
========== ====================================================================================

On experiment 1 (W 512×4096, Shepp–Logan 64×64, TV) ``admm`` reaches a 1e-4 relative objective
accuracy in about half a second on one core (CVXPY + Clarabel: about 13 s), ``precond`` in about
6 s, while ``condat_vu`` is still about 50% off after 30 s: ``bench/pdhg.py`` measures it.

Stopping (the one loop of :mod:`lbdsl.solvers.driver`, each variant's check in :mod:`.driver`):
every ``check_every`` iterations, relative change of the iterate and
the variant's optimality measure both ``≤ tol`` — ADMM's relative primal/dual residuals, the
PDHG fixed-point (KKT) residuals for the other two (documented in each module).

Warm start: ``x0`` is an array (the input, flat or in its shape, with or without the batch axis)
or a previous :class:`~lbdsl.solvers.base.SolveResult`, whose ``lifted["p"]`` (the TV dual) and,
for ADMM, ``lifted["rho"]`` (the balanced penalties) are used too; ``p0`` overrides the dual.
Batched data ``f`` of shape ``(B, m)`` solves ``B`` independent problems at once (matrix–matrix
products; each problem keeps its own penalties); ``u`` then has shape ``(B, *input_shape)``.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ...backend import asarray
from ...errors import SolveError
from ..base import Monitor, SolveResult
from ..driver import run
from ..info import SolverInfo
from ..problems import InverseProblem
from .admm import ADMM
from .condat_vu import CondatVu
from .precond import Preconditioned, absolute_operator
from .problem import SingleLayer, single_layer
from .settings import VARIANTS, PDHGSettings, StepSizeError, Variant

__all__ = ["pdhg", "solve", "SOLVER", "PDHGSettings", "StepSizeError", "Variant", "VARIANTS",
           "choose_variant"]


def choose_variant(prob: SingleLayer, settings: PDHGSettings) -> str:
    """The variant ``"auto"`` stands for (see :class:`PDHGSettings`)."""
    if settings.variant != "auto":
        return settings.variant
    if settings.tau is not None or settings.sigma is not None:
        return "condat_vu"
    if prob.m * prob.n <= settings.max_dense and prob.m <= settings.max_gram:
        return "admm"
    try:
        absolute_operator(prob)
    except SolveError:
        return "condat_vu"
    return "precond"


def _rows(xp: Any, a: Any, batch: int, tail: tuple[int, ...], what: str, dtype: Any) -> Any:
    """``a`` as ``(batch, *tail)``: a missing or length-1 batch axis is broadcast."""
    a = asarray(xp, a, dtype)
    size = 1
    for t in tail:
        size *= t
    total = 1
    for s in a.shape:
        total *= int(s)
    if total % size or total // size not in (1, batch):
        raise SolveError(f"pdhg: {what} has shape {tuple(a.shape)}, which is not "
                         f"{tail} or ({batch}, *{tail})")
    a = xp.reshape(a, (total // size, *tail))
    return a if a.shape[0] == batch else xp.broadcast_to(a, (batch, *tail))


def _warm_start(prob: SingleLayer, x0: Any, p0: Any, variant: str) -> tuple[Any, Any, Any, bool]:
    """``(u0, p0, rho0, warm)`` from the caller's ``x0`` / ``p0``."""
    xp, B, dtype = prob.xp, prob.batch, prob.dtype
    rho0 = None
    if isinstance(x0, SolveResult):
        lifted = x0.lifted
        if p0 is None:
            p0 = lifted.get("p")
        if lifted.get("variant") == variant:
            rho0 = lifted.get("rho")
        x0 = x0.u
    if x0 is None:
        return xp.zeros((B, prob.n), dtype=dtype), None, None, False
    u0 = _rows(xp, x0, B, (prob.n,), "x0", dtype)
    grad = prob.penalty.gradient
    if p0 is not None and grad is not None:
        p0 = _rows(xp, p0, B, tuple(grad.shape_out), "p0", dtype)
    else:
        p0 = None
    return u0, p0, rho0, True


def pdhg(problem: InverseProblem, settings: PDHGSettings | None = None, *, x0: Any = None,
         p0: Any = None, monitor: Monitor | None = None,
         resume: dict[str, Any] | None = None) -> SolveResult:
    """Solve a single-layer Bregman inversion (see the module docstring and :class:`PDHGSettings`).

    ``resume``: the ``state`` of an interrupted result of the same problem and settings; the
    run goes on from it (``x0`` and ``p0`` are then ignored).

    Refuses (``SolveError``) other fidelities, deeper networks and regularisers other than
    tv, l1, l2sq, nonneg and box; refuses (``StepSizeError``, a ``ValueError``) step sizes that
    break the chosen variant's convergence condition, stating the bound.
    """
    settings = settings or PDHGSettings()
    SOLVER.require(problem)
    prob = single_layer(problem)
    variant = choose_variant(prob, settings)
    if resume is not None:
        if resume.get("variant") != variant:
            raise SolveError(f"pdhg: cannot resume a `{resume.get('variant')}` run with the "
                             f"`{variant}` variant")
        x0 = p0 = None
    u0, p0, rho0, warm = _warm_start(prob, x0, p0, variant)
    if variant == "admm":
        if prob.m * prob.n > settings.max_dense:
            raise SolveError(f"pdhg (admm) builds a dense {prob.m}×{prob.n} copy of W, more "
                             f"than max_dense = {settings.max_dense} entries; raise max_dense "
                             "or use variant = \"precond\"")
        it: Any = ADMM(prob, settings, u0, p0, rho0, warm)
    elif variant == "precond":
        it = Preconditioned(prob, settings, u0, p0, warm)
    else:
        it = CondatVu(prob, settings, u0, p0)
    outcome = run(it, settings.stopping, monitor, resume)
    if it.objective is None or outcome.reason == "diverged":
        it.check(outcome.iterations)           # the objective at the iterate returned
    return _result(problem, prob, it, variant, outcome)


def _result(problem: InverseProblem, prob: SingleLayer, it: Any, variant: str,
            outcome: Any) -> SolveResult:
    xp = prob.xp
    u = it.out
    z = prob.affine(u)
    lifted: dict[str, Any] = {"u": problem.lifted.forward(u), "z": prob.psi.prox(z),
                              **it.duals(), "variant": variant, "objectives": it.objective}
    if not prob.batched:
        lifted = {k: (v[0, ...] if _is_batched_array(v, prob.batch) else v)
                  for k, v in lifted.items()}
        if "rho" in lifted:
            lifted["rho"] = tuple(r[0:1] for r in lifted["rho"])
        u_out = xp.reshape(u, tuple(problem.input_shape))
    else:
        u_out = xp.reshape(u, (prob.batch, *problem.input_shape))
    return SolveResult(u=u_out, iterations=outcome.iterations, stop_reason=outcome.reason,
                       objective=float(xp.sum(it.objective)), residual=_residual(it, outcome),
                       history=outcome.history, lifted=lifted, message=outcome.message,
                       solver=f"pdhg ({variant})",
                       state=None if outcome.state is None else {**outcome.state,
                                                                 "variant": variant})


def _residual(it: Any, outcome: Any) -> float:
    """The optimality measure at the returned iterate (re-measured where no check made it)."""
    if outcome.metrics and outcome.reason != "diverged":
        return float(outcome.metrics["residual"])
    return float(it.measure()[1])


def _is_batched_array(v: Any, batch: int) -> bool:
    try:
        array_namespace(v)
    except TypeError:
        return False
    return v.ndim >= 1 and int(v.shape[0]) == batch


solve = pdhg


def _whole_result(result: SolveResult) -> SolveResult:
    """pdhg warm-starts from a whole previous result: its iterate, its dual and (for the same
    variant) its penalties."""
    return result


SOLVER = SolverInfo(
    "pdhg", pdhg, PDHGSettings, fidelities=frozenset({"bregman"}), regulariser="primal_dual",
    needs={"bregman": "single_layer"}, auto=frozenset({"bregman"}),
    why="single layer, Bregman fidelity", warm_start=_whole_result)
