"""``invert NET { ... }``: reading its settings into an :class:`InvertTask` (math.md §3)."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

from ...bounded import excess
from ...errors import Diagnostic
from ...limits import MAX_PARAM_BYTES
from ...syntax import tree
from . import records as m
from . import reader as r
from .schema import SHARED_READERS, Context, Read, Schema, plain, typed_task
from ...prox.regularisers.composite import RegulariserForm
from ...prox.regularisers.registry import REGULARISERS
from ...solvers.base import Stopping
from ...solvers.registry import SOLVERS

__all__ = ["INVERT", "IMAGES", "finish_invert", "solver_options"]

IMAGES = ("shepp_logan", "camera", "digit", "mnist")
FIDELITIES = ("bregman", "l2", "hybrid")
_FIDELITY_HINTS = {
    "mse": "the quadratic fidelity ½‖N(u) − f‖² is called `l2`",
    "quadratic": "the quadratic fidelity ½‖N(u) − f‖² is called `l2`",
    "l2sq": "the quadratic fidelity ½‖N(u) − f‖² is called `l2`",
    "lifted": "the lifted Bregman fidelity is called `bregman`",
}


# --- truth -----------------------------------------------------------------------------------

def _image_name(expr: tree.Expr, what: str) -> str:
    return r.choice(expr, what, IMAGES, noun="image", quoted=True)


def _image_size(expr: tree.Expr, what: str) -> tuple[int, ...]:
    dims = r.shape(expr, what)
    if len(dims) < 2 or any(d != 1 for d in dims[:-2]):
        r.fail(expr.span, f"an image needs a 2-D size such as 64x64, got `{r.show(expr)}`")
    return dims


def _optional_string(expr: tree.Expr, what: str) -> str:
    return r.string(expr, what)


_LOAD_ARGS = (r.Arg("path", r.file_name, positional=True),
              r.Arg("key", _optional_string, None, positional=True))


def read_truth(expr: tree.Expr, what: str, ctx: Context) -> m.Truth:
    """``image(...)``, ``load(...)``, ``linspace(...)`` or ``given`` (an array from Python)."""
    forms = ("image", "load", "linspace")
    if isinstance(expr, tree.Name) and expr.id == "given":
        return m.GivenTruth(span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "image":
        b = r.bind(expr, (r.Arg("name", _image_name, positional=True),
                          r.Arg("size", _image_size, None, positional=True),
                          r.Arg("index", lambda e, w: r.integer(e, w, 0), 0)),
                   example='image("shepp_logan", size = 64x64)')
        if b["index"] and b["name"] not in ("digit", "mnist"):
            r.fail(b.spans["index"], "`index` picks one of the test digits; it only applies "
                   "to image(\"digit\", ...) and image(\"mnist\", ...)")
        return m.ImageTruth(name=b["name"], size=b["size"], index=b["index"],
                            spans=MappingProxyType(dict(b.spans)), span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "load":
        b = r.bind(expr, _LOAD_ARGS, example='load("truth.npy")')
        return m.LoadTruth(path=b["path"], key=b["key"], span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "linspace":
        b = r.bind(expr, (r.Arg("start", r.number, positional=True),
                          r.Arg("stop", r.number, positional=True),
                          r.Arg("n", lambda e, w: r.integer(e, w, 1), None, positional=True)),
                   example="linspace(0, 1.5)")
        return m.LinspaceTruth(start=b["start"], stop=b["stop"], n=b["n"], span=expr.span)
    _unknown_form(expr, what, forms, 'image("shepp_logan", size = 64x64)')


def _unknown_form(expr: tree.Expr, what: str, forms: tuple[str, ...], example: str) -> None:
    listing = ", ".join(f"{f}(...)" for f in forms)
    if isinstance(expr, tree.Call):
        r.fail(expr.func_span, f"unknown form `{expr.func}(...)` for {what}",
               r.suggest(expr.func, forms, noun="forms"))
    if isinstance(expr, tree.Name) and expr.id in forms:
        r.fail(expr.span, f"`{expr.id}` needs arguments in {what}", f"e.g. {what.strip('`')} = "
               f"{example}")
    r.fail(expr.span, f"{what} must be one of {listing}, got `{r.show(expr)}`",
           f"e.g. {what.strip('`')} = {example}")


# --- data ------------------------------------------------------------------------------------

def _seed(expr: tree.Expr, what: str) -> int:
    return r.integer(expr, what, minimum=0)


def read_noise(call: tree.Call) -> m.GaussianNoise:
    """``gaussian(sigma = S, seed = N)`` or ``gaussian(relative = R, seed = N)``."""
    b = r.bind(call, (r.Arg("sigma", r.nonnegative, None),
                      r.Arg("relative", r.nonnegative, None),
                      r.Arg("seed", _seed, None)),
               example="gaussian(sigma = 0.01, seed = 3)")
    if b["sigma"] is not None and b["relative"] is not None:
        r.fail(b.spans["relative"], "give `sigma` or `relative`, not both",
               "sigma: the std of each entry; relative: ‖noise‖₂ / ‖forward(truth)‖₂")
    if b["sigma"] is None and b["relative"] is None:
        r.fail(call.span, "`gaussian` needs `sigma` (std per entry) or `relative` "
               "(‖noise‖₂ / ‖data‖₂)", "e.g. gaussian(sigma = 0.01, seed = 3)")
    kind = "sigma" if b["sigma"] is not None else "relative"
    return m.GaussianNoise(kind=kind, value=b[kind], seed=b["seed"], span=call.span)


def read_data(expr: tree.Expr, what: str, ctx: Context) -> m.InvertData:
    """``forward(truth)``, ``load(...)`` or ``given`` (an array from Python), optionally
    ``+ gaussian(...)``."""
    example = "forward(truth) + gaussian(sigma = 0.01, seed = 3)"
    source: tree.Call | None = None
    noise: tree.Call | None = None
    for term in r.sum_terms(expr):
        if isinstance(term, tree.Name) and term.id == "given":   # read as a call without args
            term = tree.Call("given", (), (), term.span, term.span)
        if isinstance(term, tree.Call) and term.func == "gaussian":
            if noise is not None:
                r.fail(term.span, "the data has two noise terms; give one gaussian(...)")
            noise = term
        elif isinstance(term, tree.Call) and term.func in ("forward", "load", "given"):
            if source is not None:
                r.fail(term.span, f"{what} has two sources (`{source.func}` and `{term.func}`); "
                       "give one", f"e.g. {what.strip('`')} = {example}")
            source = term
        else:
            _unknown_form(term, what, ("forward", "load", "gaussian"), example)  # or `given`
    if source is None:
        assert noise is not None
        r.fail(noise.span, "noise needs data to be added to",
               f"e.g. {what.strip('`')} = {example}")
    parsed_noise = read_noise(noise) if noise is not None else None
    if source.func == "given":
        r.bind(source, (), example="given")
        return m.GivenData(noise=parsed_noise, span=expr.span)
    if source.func == "load":
        b = r.bind(source, _LOAD_ARGS, example='load("data.npy")')
        return m.LoadData(path=b["path"], key=b["key"], noise=parsed_noise, span=expr.span)
    b = r.bind(source, (r.Arg("of", lambda e, w: e, positional=True),), example="forward(truth)")
    arg = b["of"]
    if not (isinstance(arg, tree.Name) and arg.id == "truth"):
        r.fail(arg.span, f"`forward` applies the network to the ground truth: write "
               f"forward(truth), not forward({r.show(arg)})",
               "set the ground truth with `truth = ...`, or load data with load(...)")
    return m.ForwardData(noise=parsed_noise, span=expr.span)


# --- fidelity, regulariser, alpha ------------------------------------------------------------

def read_fidelity(expr: tree.Expr, what: str, ctx: Context) -> str:
    if isinstance(expr, tree.Name) and expr.id in _FIDELITY_HINTS:
        r.fail(expr.span, f"unknown fidelity `{expr.id}`", _FIDELITY_HINTS[expr.id])
    return r.choice(expr, what, FIDELITIES, noun="fidelity")


def _weight(expr: tree.Expr | None) -> float:
    if expr is None:
        return 1.0
    value = r.numeric_value(expr)
    if value is None or not math.isfinite(value) or value <= 0:
        r.fail(expr.span, f"a regulariser weight must be a positive number, got `{r.show(expr)}`",
               "to choose the weight by a rule, set `alpha = discrepancy(...)` or "
               "`apriori(...)`" if isinstance(expr, tree.Name) else None)
    return float(value)


def _read_term(term: tree.Expr) -> m.RegTerm:
    weight_expr, body = r.split_weight(term)
    name = body.func if isinstance(body, tree.Call) else (
        body.id if isinstance(body, tree.Name) else None)
    if name is None:
        r.fail(body.span, f"a regulariser term must be one of {', '.join(REGULARISERS)}, got "
               f"`{r.show(body)}`", "e.g. regulariser = 0.015 * tv + nonneg")
    where = body.func_span if isinstance(body, tree.Call) else body.span
    if name not in REGULARISERS:
        r.fail(where, f"unknown regulariser `{name}`",
               r.suggest(name, REGULARISERS, noun="regularisers"))
    cls = REGULARISERS[name]
    params = r.option_args(cls, positional=True)
    example = cls.example or name
    args: dict[str, float] = {}
    if params:
        if not isinstance(body, tree.Call):
            r.fail(body.span, f"`{name}` needs its parameters: "
                   f"{name}({', '.join(p.name for p in params)})", f"e.g. {example}")
        args = dict(r.bind(body, params, example=example).values)
        try:
            cls.build(shape=(1,), **args)      # the parameters' joint conditions (lo < hi)
        except ValueError as exc:
            r.fail(body.span, str(exc))
    elif isinstance(body, tree.Call) and (body.args or body.kwargs):
        r.fail(body.span, f"`{name}` in a regulariser takes no arguments: it acts on the "
               "network's input", f"write `{name}`; penalties on hidden states belong to "
               "`train` tasks (penalty = 0.01 * l1(z3))")
    if weight_expr is not None and cls.indicator:
        r.fail(weight_expr.span, f"`{name}` is a constraint (0 or +∞); a weight does not "
               "change it", f"write `{r.show(body)}` without `{r.show(weight_expr)} *`")
    return m.RegTerm(name=name, weight=_weight(weight_expr),
                     args=MappingProxyType(args), span=term.span)


def read_regulariser(expr: tree.Expr, what: str, ctx: Context) -> m.RegulariserTerms:
    """``0.015 * tv + nonneg``; ``none`` for no regulariser."""
    if isinstance(expr, tree.Name) and expr.id == "none":
        return m.RegulariserTerms(terms=(), span=expr.span)
    terms = r.read_sum(expr, what, _read_term, lambda t: t.name,
                       "give each regulariser once, with its total weight")
    return m.RegulariserTerms(terms=terms, span=expr.span)


def _delta(expr: tree.Expr, what: str) -> float | str:
    if isinstance(expr, tree.Name) and expr.id == "auto":
        return "auto"
    return r.bounded(expr, what, lambda v: v > 0, "be a positive number or `auto`",
                     "delta is the noise norm ‖f^δ − f‖₂; `auto` takes the true one of "
                     "synthetic noise")


def _tau(expr: tree.Expr, what: str) -> float:
    return r.bounded(expr, what, lambda v: v > 1, "be a number > 1",
                     "the discrepancy principle needs τ > 1 (e.g. 1.1)")


def _fraction(expr: tree.Expr, what: str) -> float:
    return r.bounded(expr, what, lambda v: 0 < v < 1, "lie strictly between 0 and 1")


_ALPHA_RULES = ("apriori", "discrepancy", "sweep")
SWEEP_PICKS = ("auto", "discrepancy", "lcurve")


def _read_sweep(expr: tree.Call) -> m.SweepAlpha:
    d = m.SweepAlpha(lo=1.0, hi=2.0)
    b = r.bind(expr, (r.Arg("lo", r.positive, positional=True),
                      r.Arg("hi", r.positive, positional=True),
                      r.Arg("n", lambda e, w: r.integer(e, w, 3), d.n, positional=True),
                      r.Arg("pick", lambda e, w: r.choice(e, w, SWEEP_PICKS, noun="pick"),
                            d.pick),
                      r.Arg("delta", _delta, None),
                      r.Arg("tau", _tau, d.tau)),
               example="sweep(1e-4, 1e-1, n = 12)")
    if not b["lo"] < b["hi"]:
        r.fail(b.spans["hi"], f"a sweep runs from lo to hi > lo, got lo = {b['lo']:g}, "
               f"hi = {b['hi']:g}", "e.g. alpha = sweep(1e-4, 1e-1, n = 12)")
    if b["pick"] == "discrepancy" and b["delta"] is None:
        r.fail(b.spans["pick"], "`pick = discrepancy` needs the noise norm `delta`",
               "give delta = D (or `auto` for synthetic noise), or pick = lcurve")
    return m.SweepAlpha(lo=b["lo"], hi=b["hi"], n=b["n"], pick=b["pick"], delta=b["delta"],
                        tau=b["tau"], spans=MappingProxyType(dict(b.spans)), span=expr.span)


def read_alpha(expr: tree.Expr, what: str, ctx: Context) -> m.Alpha:
    """A number >= 0, ``apriori(delta = D)``, ``discrepancy(delta = D, tau = T)`` or
    ``sweep(lo, hi, n = N, …)``."""
    if isinstance(expr, tree.Name) and expr.id in _ALPHA_RULES:
        expr = tree.Call(expr.id, (), (), expr.span, expr.span)
    if isinstance(expr, tree.Call) and expr.func == "apriori":
        b = r.bind(expr, (r.Arg("delta", _delta, positional=True),
                          r.Arg("scale", r.positive, None)),
                   example="apriori(delta = 0.05)")
        return m.AprioriAlpha(delta=b["delta"], scale=b["scale"],
                              spans=MappingProxyType(dict(b.spans)), span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "sweep":
        return _read_sweep(expr)
    if isinstance(expr, tree.Call) and expr.func == "discrepancy":
        d = m.DiscrepancyAlpha(delta=1.0)
        b = r.bind(expr, (r.Arg("delta", _delta, positional=True),
                          r.Arg("tau", _tau, d.tau),
                          r.Arg("alpha0", r.positive, d.alpha0),
                          r.Arg("q", _fraction, d.q),
                          r.Arg("max_tries", lambda e, w: r.integer(e, w, 1), d.max_tries)),
                   example="discrepancy(delta = 0.05, tau = 1.1)")
        return m.DiscrepancyAlpha(delta=b["delta"], tau=b["tau"], alpha0=b["alpha0"], q=b["q"],
                                  max_tries=b["max_tries"],
                                  spans=MappingProxyType(dict(b.spans)), span=expr.span)
    if isinstance(expr, tree.Call):
        r.fail(expr.func_span, f"unknown parameter-choice rule `{expr.func}`",
               r.suggest(expr.func, _ALPHA_RULES, noun="rules"))
    value = r.numeric_value(expr)
    if value is None:
        r.fail(expr.span, f"{what} must be a number, apriori(...), discrepancy(...) or "
               "sweep(...), "
               f"got `{r.show(expr)}`", "e.g. alpha = 0.015")
    if not math.isfinite(value) or value < 0:
        r.fail(expr.span, f"{what} must be a number >= 0, got `{r.show(expr)}`",
               "alpha multiplies the regulariser; it cannot be negative")
    return m.FixedAlpha(value=float(value), span=expr.span)


# --- solver ----------------------------------------------------------------------------------

#: What every solver takes: the stopping rule's options, and whether the α rules warm-start.
_COMMON_SOLVER = (*r.option_args(Stopping),
                  r.Arg("warm_start", r.boolean, None))


def solver_options(name: str) -> tuple[r.Arg, ...]:
    """The options a spec may give the solver ``name`` (``auto``: the common ones): the
    stopping rule's, ``warm_start``, and those its settings dataclass declares."""
    extra = () if name == "auto" else r.option_args(SOLVERS[name].settings)
    return _COMMON_SOLVER + extra


def read_solver(expr: tree.Expr, what: str, ctx: Context) -> m.Solver:
    """``pdhg``, ``pdhg(max_iter = 5000, tol = 1e-6, ...)``, likewise the other solvers."""
    expr = r.named_call(expr, what, ("auto", *SOLVERS), "solver",
                        "a solver such as pdhg(max_iter = 5000)")
    b = r.bind(expr, solver_options(expr.func),
               example=f"{expr.func}(max_iter = 5000, tol = 1e-6)")
    options = {k: v for k, v in b.values.items()
               if k not in ("max_iter", "tol") and k in b.spans}
    return m.Solver(name=expr.func, max_iter=b["max_iter"], tol=b["tol"],
                    options=MappingProxyType(options), spans=MappingProxyType(dict(b.spans)),
                    span=expr.span)


def _read_baseline(expr: tree.Expr, what: str, ctx: Context) -> bool:
    if isinstance(expr, tree.Name) and expr.id == "l2":
        return True
    return r.boolean(expr, what)


def read_threshold(expr: tree.Expr, what: str, ctx: Context) -> m.Threshold:
    """``auto``, ``none``, a number K >= 0 (k·σ with σ from the noise model or the data), or
    ``auto(k = K, sigma = S)`` (either optional)."""
    if isinstance(expr, tree.Name) and expr.id in ("auto", "none"):
        return m.Threshold(k=0.0 if expr.id == "none" else None, span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "auto":
        b = r.bind(expr, (r.Arg("k", r.nonnegative, None),
                          r.Arg("sigma", r.positive, None)),
                   example="auto(k = 3, sigma = 0.01)")
        return m.Threshold(k=b["k"], sigma=b["sigma"], span=expr.span)
    if isinstance(expr, tree.Call):
        r.fail(expr.func_span, f"unknown threshold `{expr.func}`",
               "write auto(k = 3, sigma = 0.01), a number k (the data below k·σ are set to "
               "0 for relu), auto or none")
    value = r.numeric_value(expr)
    if value is None or not math.isfinite(value) or value < 0:
        r.fail(expr.span, f"{what} must be auto, none, a number k >= 0 or auto(k = K, "
               f"sigma = S), got `{r.show(expr)}`",
               "e.g. threshold = 3: data within 3σ of relu's 0 are set to 0 before a Bregman "
               "solve")
    return m.Threshold(k=float(value), span=expr.span)


def _lam_rho(expr: tree.Expr, what: str, ctx: Context) -> float:
    return r.weight(expr, what)


INVERT = Schema(
    kind="invert",
    readers={"truth": read_truth, "data": read_data, "fidelity": read_fidelity,
             "regulariser": read_regulariser, "alpha": read_alpha, "lambda": _lam_rho,
             "rho": _lam_rho, "solver": read_solver, "baseline": _read_baseline,
             "threshold": read_threshold, "chunk": plain(r.count), **SHARED_READERS},
    required=("data",),
    hints={
        "max_iter": "`max_iter` is an option of the solver: solver = pdhg(max_iter = 5000)",
        "tol": "`tol` is an option of the solver: solver = pdhg(tol = 1e-6)",
        "tau": "`tau` is an option of the solver (a step size) or of "
               "alpha = discrepancy(..., tau = 1.1)",
        "sigma": "`sigma` is an option of the solver (a step size) or of the noise: "
                 "data = forward(truth) + gaussian(sigma = 0.01)",
        "noise": "noise is part of the data: data = forward(truth) + gaussian(sigma = 0.01)",
        "delta": "`delta` is an option of the parameter choice: alpha = discrepancy(delta = D)",
        "lam": "the setting is spelled `lambda`",
        "regularization": "the setting is spelled `regulariser` (or `regularizer`)",
        "regularisation": "the setting is spelled `regulariser` (or `regularizer`)",
    },
    examples={"data": "forward(truth) + gaussian(sigma = 0.01, seed = 3)"},
    shown=("fidelity", "alpha", "lambda", "rho", "solver", "threshold", "seed", "dtype")
)


def _truth_shape_problems(truth: m.Truth, ctx: Context) -> list[Diagnostic]:
    """The ground truth must fit the network's input (known only when the IR is)."""
    shape = ctx.input_shape or ()
    size = math.prod(shape)
    text = "x".join(str(d) for d in shape)
    where = f"the input `{ctx.input_name}` of `{ctx.network}` is {text}"
    if isinstance(truth, m.ImageTruth):
        if truth.size is not None and math.prod(truth.size) != size:
            got = "x".join(str(d) for d in truth.size)
            return [Diagnostic(truth.spans.get("size", truth.span), f"the image is {got}, but "
                               f"{where}", f"use size = {text}" if len(shape) >= 2 else None)]
        if truth.size is None and (len(shape) < 2 or any(d != 1 for d in shape[:-2])):
            side = math.isqrt(size)   # the size that fits this input, not a fixed example
            fits = f"size = {side}x{side}" if side * side == size else \
                f"size = HxW with H·W = {size}"
            return [Diagnostic(truth.span, f"the image needs a size: {where}, not an image",
                               f"give it: {fits} (the image is flattened row-major)")]
    if isinstance(truth, m.LinspaceTruth) and truth.n is not None:
        if size != 1 and truth.n != size:
            return [Diagnostic(truth.span, f"linspace(..., n = {truth.n}) makes {truth.n} "
                               f"values, but {where}",
                               f"drop n (it defaults to {size}), or use an input of one entry "
                               "for a batch of scalar problems")]
        too_many = excess(truth.n)      # checked before np.linspace makes them
        if too_many is not None:
            return [Diagnostic(truth.span, f"linspace(..., n = {truth.n}) makes {too_many}",
                               f"use at most {MAX_PARAM_BYTES // 8:,} problems")]
    return []


def finish_invert(read: Read, task: tree.Task, ctx: Context) -> m.InvertTask | None:
    """Cross-setting checks, then the typed task (None if any problem was found)."""
    v = read.values
    read.problems.extend(_combination_problems(read, ctx))
    if read.problems or "data" not in v:
        return None
    return typed_task(m.InvertTask, read, task)


def _combination_problems(read: Read, ctx: Context) -> list[Diagnostic]:
    """Settings that are each fine but make no sense together (only valid ones are compared)."""
    v, spans = read.values, read.spans
    problems: list[Diagnostic] = []
    data = v.get("data")
    if isinstance(data, m.ForwardData) and "truth" not in read.given:
        problems.append(Diagnostic(spans["data"], "`forward(truth)` needs a ground truth, but "
                                   "this task sets no `truth`",
                                   'e.g. truth = image("shepp_logan", size = 64x64)'))
    truth = v.get("truth")
    if truth is not None and ctx.input_shape is not None:
        problems.extend(_truth_shape_problems(truth, ctx))
    alpha = v.get("alpha")
    regulariser: m.RegulariserTerms = v.get("regulariser", m.RegulariserTerms())
    if isinstance(alpha, (m.AprioriAlpha, m.DiscrepancyAlpha, m.SweepAlpha)):
        if "regulariser" in v and not regulariser.weighted:
            rule = {m.AprioriAlpha: "apriori", m.DiscrepancyAlpha: "discrepancy",
                    m.SweepAlpha: "sweep"}[type(alpha)]
            problems.append(Diagnostic(spans["alpha"], f"`{rule}` chooses the regulariser's "
                                       "weight, but the regulariser has no weighted term",
                                       "add tv, l1 or l2sq: regulariser = tv + nonneg"))
        elif "regulariser" not in read.given:
            problems.append(Diagnostic(spans["alpha"], "a parameter-choice rule needs a "
                                       "`regulariser` to weigh", "e.g. regulariser = tv"))
        if alpha.delta == "auto" and data is not None and data.noise is None:
            problems.append(Diagnostic(alpha.spans.get("delta", alpha.span),
                                       "`delta = auto` needs synthetic noise, but the data "
                                       "has none",
                                       "add noise (… + gaussian(sigma = 0.01)) or give the noise "
                                       "norm: delta = 0.05"))
    fidelity = "l2" if v.get("fidelity") == "l2" else "bregman"   # hybrid: its first stage
    solver: m.Solver | None = v.get("solver")
    if solver is not None and solver.name in SOLVERS:
        terms = regulariser.terms if "regulariser" in v else ()
        problems.extend(_solver_problems(SOLVERS[solver.name], solver, terms, regulariser,
                                         fidelity))
    if "chunk" in v and alpha is not None and not isinstance(alpha, m.FixedAlpha):
        problems.append(Diagnostic(spans["chunk"], "`chunk` solves the rows of a batch in "
                                   "separate groups, but a parameter-choice rule picks one α "
                                   "for the whole batch", "give a fixed alpha, or drop chunk"))
    if v.get("baseline") and fidelity == "l2":
        problems.append(Diagnostic(spans["baseline"], "`baseline` adds a run with the quadratic "
                                   "fidelity, but this task already uses `fidelity = l2`",
                                   "drop `baseline`, or use fidelity = bregman"))
    return problems


def _solver_problems(info: Any, solver: m.Solver, terms: tuple[m.RegTerm, ...],
                     regulariser: m.RegulariserTerms, fidelity: str) -> list[Diagnostic]:
    """A written solver that cannot take the task's fidelity (``hybrid``: its first stage's),
    one of its regulariser's terms, or their combination — each where it is written."""
    problems = []
    refused = info.refuses_fidelity(fidelity)
    if refused is not None:
        takers = [s.name for s in SOLVERS.values() if s.refuses_fidelity(fidelity) is None]
        problems.append(Diagnostic(solver.span, refused, f"solvers for fidelity = "
                                   f"{fidelity}: {', '.join(takers)}"))
    for term in terms:
        form = RegulariserForm.of([REGULARISERS[term.name]])
        refused = info.refuses_regulariser(form)
        if refused is not None:
            takers = [s.name for s in SOLVERS.values() if s.refuses(fidelity, form) is None]
            problems.append(Diagnostic(term.span, refused,
                                       f"solvers that take it: {', '.join(takers)}"))
    whole = RegulariserForm.of(REGULARISERS[t.name] for t in terms)
    if not problems and (refused := info.refuses_regulariser(whole)) is not None:
        takers = [s.name for s in SOLVERS.values() if s.refuses(fidelity, whole) is None]
        problems.append(Diagnostic(regulariser.span, refused,
                                   f"solvers that take it: {', '.join(takers) or 'none'}"))
    return problems
