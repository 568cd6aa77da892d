"""``train NET { ... }``: reading its settings into a :class:`TrainTask` (math.md §5)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ...errors import Diagnostic, SourceSpan
from ...syntax import tree
from ...prox.regularisers.registry import REGULARISERS
from ...training.penalty import penalty_names
from ...training.settings import OPTIMIZERS
from . import records as m
from . import reader as r
from .schema import SHARED_READERS, Context, Read, Schema, plain, typed_task

__all__ = ["TRAIN", "OPTIMIZERS", "finish_train"]

LOSSES = ("bregman", "mse")
_LOSS_HINTS = {
    "l2": "the quadratic loss is called `mse`",
    "quadratic": "the quadratic loss is called `mse`",
    "lifted": "the lifted Bregman loss is called `bregman`",
}


# --- data ------------------------------------------------------------------------------------

def _split(expr: tree.Expr, what: str) -> str:
    return r.choice(expr, what, ("train", "test"), noun="split", quoted=True)


def _targets(expr: tree.Expr, what: str) -> str:
    return r.choice(expr, what, ("images", "labels"), noun="target kind", quoted=True)


def _key(expr: tree.Expr, what: str) -> str:
    return r.nonempty_string(expr, what, "name an array in the file")


def read_train_data(expr: tree.Expr, what: str, ctx: Context) -> m.TrainData:
    """``digits(n = N, split = "train", noise = S, seed = K)``, ``mnist(...)`` (the same
    arguments), ``idx("images.gz", labels = ..., ...)`` or ``load("f.npz", ...)``."""
    forms = ("digits", "mnist", "idx", "load")
    example = 'digits(n = 1000, split = "train", noise = 0.1, seed = 0)'
    if isinstance(expr, tree.Name) and expr.id in ("digits", "mnist"):
        expr = tree.Call(expr.id, (), (), expr.span, expr.span)
    sampling = (r.Arg("n", lambda e, w: r.integer(e, w, 1), None),
                r.Arg("noise", r.nonnegative, 0.0),
                r.Arg("seed", lambda e, w: r.integer(e, w, 0), None),
                r.Arg("targets", _targets, "images"))
    if isinstance(expr, tree.Call) and expr.func in ("digits", "mnist"):
        b = r.bind(expr, (*sampling, r.Arg("split", _split, "train")),
                   example=example.replace("digits", expr.func))
        return m.DigitsData(n=b["n"], split=b["split"], noise=b["noise"], seed=b["seed"],
                            targets=b["targets"], dataset=expr.func, span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "idx":
        b = r.bind(expr, (r.Arg("images", r.file_name, positional=True),
                          r.Arg("labels", r.file_name, None), *sampling),
                   example='idx("train-images-idx3-ubyte.gz", n = 1000)')
        if b["targets"] == "labels" and b["labels"] is None:
            r.fail(b.spans["targets"], '`targets = "labels"` needs the labels file',
                   'idx("train-images-idx3-ubyte.gz", labels = "train-labels-idx1-ubyte.gz")')
        return m.IdxData(images=b["images"], labels=b["labels"], n=b["n"], noise=b["noise"],
                         seed=b["seed"], targets=b["targets"], span=expr.span)
    if isinstance(expr, tree.Call) and expr.func == "load":
        d2 = m.LoadPairs(path="")
        b = r.bind(expr, (r.Arg("path", r.file_name, positional=True),
                          r.Arg("inputs", _key, d2.inputs, positional=True),
                          r.Arg("targets", _key, d2.targets, positional=True)),
                   example='load("pairs.npz", inputs = "X", targets = "Y")')
        return m.LoadPairs(path=b["path"], inputs=b["inputs"], targets=b["targets"],
                           span=expr.span)
    if isinstance(expr, tree.Call):
        r.fail(expr.func_span, f"unknown form `{expr.func}(...)` for {what}",
               r.suggest(expr.func, forms, noun="forms"))
    r.fail(expr.span, f"{what} must be digits(...), mnist(...), idx(...) or load(...), got "
           f"`{r.show(expr)}`",
           f"e.g. {what.strip('`')} = {example}")


# --- loss and penalty ------------------------------------------------------------------------

def read_loss(expr: tree.Expr, what: str, ctx: Context) -> str:
    if isinstance(expr, tree.Name) and expr.id in _LOSS_HINTS:
        r.fail(expr.span, f"unknown loss `{expr.id}`", _LOSS_HINTS[expr.id])
    return r.choice(expr, what, LOSSES, noun="loss")


def _penalty_term(term: tree.Expr, ctx: Context) -> m.PenaltyTerm:
    weight_expr, body = r.split_weight(term)
    names = penalty_names()
    if isinstance(body, tree.Name) and body.id in names:
        r.fail(body.span, f"`{body.id}` needs the variable it acts on",
               f"e.g. {body.id}(z3), with z3 a state of network `{ctx.network}`")
    if not isinstance(body, tree.Call):
        forms = " or ".join(f"{n}(VAR)" for n in names)
        r.fail(body.span, f"a penalty term must be {forms}, got `{r.show(body)}`",
               "e.g. penalty = 0.01 * l1(z3)")
    if body.func not in names:
        hint = r.suggest(body.func, names, noun="penalties")
        if body.func in REGULARISERS:
            hint = (f"`{body.func}` is a regulariser of `invert` tasks; penalties: "
                    f"{', '.join(names)}")
        r.fail(body.func_span, f"unknown penalty `{body.func}`", hint)
    if body.kwargs:
        r.fail(body.kwargs[0].span, f"`{body.func}` takes only the variable it acts on")
    if len(body.args) != 1:
        r.fail(body.span, f"`{body.func}` takes one variable, got {len(body.args)}",
               f"e.g. {body.func}(z3)")
    var = body.args[0]
    written = _variable_name(var)
    if written is None:
        r.fail(var.span, f"`{body.func}` acts on a variable of the network, got `{r.show(var)}`")
    if ctx.variables is not None and written not in ctx.variables:
        r.fail(var.span, f"`{written}` is not a variable of network `{ctx.network}`",
               r.suggest(written, ctx.variables, noun="variables"))
    vid = ctx.ids.get(written) if ctx.ids is not None else None
    if ctx.input_id is not None and vid == ctx.input_id:
        r.fail(var.span, f"`{written}` is the input of network `{ctx.network}`: it is fixed to "
               "the training inputs, so a penalty on it does nothing",
               "penalise a hidden state, e.g. l1(z3)")
    weight = 1.0
    if weight_expr is not None:
        value = r.numeric_value(weight_expr)
        if value is None or not math.isfinite(value) or value <= 0:
            r.fail(weight_expr.span, "a penalty weight must be a positive number, got "
                   f"`{r.show(weight_expr)}`")
        weight = float(value)
    return m.PenaltyTerm(name=body.func, variable=written, weight=weight, variable_id=vid,
                         span=term.span, variable_span=var.span)


def _variable_name(expr: tree.Expr) -> str | None:
    """``z3`` → "z3"; ``y.relu`` (the hidden layer of ``y = c @ relu(...)``) → "y.relu"."""
    if isinstance(expr, tree.Name):
        return expr.id
    if isinstance(expr, tree.Attr) and isinstance(expr.value, tree.Name):
        return f"{expr.value.id}.{expr.attr}"
    return None


def read_penalty(expr: tree.Expr, what: str, ctx: Context) -> m.PenaltyTerms:
    """``0.01 * l1(z3) + 1e-3 * l2sq(z2)``; ``none`` for no penalty."""
    if isinstance(expr, tree.Name) and expr.id == "none":
        return m.PenaltyTerms(terms=(), span=expr.span)
    terms = r.read_sum(expr, what, lambda t: _penalty_term(t, ctx),
                       lambda t: f"{t.name}({t.variable})", "give it once, with its total weight")
    return m.PenaltyTerms(terms=terms, span=expr.span)


# --- optimizer -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _OptimizerCall:
    """An optimizer as written: its settings and where each option was written."""

    settings: m.Optimizer
    spans: Mapping[str, SourceSpan]


def read_optimizer(expr: tree.Expr, what: str, ctx: Context) -> _OptimizerCall:
    """A registered optimizer (:data:`~lbdsl.training.settings.OPTIMIZERS`) with its options,
    ``implicit_sgd(...)``, ``sgd(...)``, ``adam(...)``, ``isgd_bp(...)`` (bare names take the
    defaults)."""
    expr = r.named_call(expr, what, OPTIMIZERS, "optimizer",
                        "an optimizer such as implicit_sgd(epochs = 10)")
    cls = OPTIMIZERS[expr.func]
    b = r.bind(expr, r.option_args(cls), example=f"{expr.func}(epochs = 10, batch = 32)")
    return _OptimizerCall(cls(**b.values), MappingProxyType(dict(b.spans)))


TRAIN = Schema(
    kind="train",
    readers={"data": read_train_data, "validation": read_train_data, "loss": read_loss,
             "penalty": read_penalty, "optimizer": read_optimizer, "shards": plain(r.count),
             **SHARED_READERS},
    required=("data",),
    hints={
        "epochs": "`epochs` is an option of the optimizer: optimizer = implicit_sgd(epochs = 10)",
        "batch": "`batch` is an option of the optimizer: optimizer = implicit_sgd(batch = 32)",
        "lr": "`lr` is an option of the optimizer: optimizer = adam(lr = 1e-3)",
        "tau": "`tau` is an option of the optimizer: optimizer = implicit_sgd(tau = 1)",
        "solver": "a `train` task has an `optimizer`, not a `solver`",
        "regulariser": "a `train` task has a `penalty` on hidden states: penalty = 0.01 * l1(z3)",
        "regularizer": "a `train` task has a `penalty` on hidden states: penalty = 0.01 * l1(z3)",
    },
    examples={"data": 'digits(n = 1000, split = "train", noise = 0.1, seed = 0)'},
    shown=("loss", "optimizer", "seed", "dtype")
)


def finish_train(read: Read, task: tree.Task, ctx: Context) -> m.TrainTask | None:
    """Cross-setting checks, then the typed task (None if any problem was found)."""
    v, spans, problems = read.values, read.spans, read.problems
    loss = v.get("loss", "bregman")
    call = v.get("optimizer")
    optimizer = call.settings if call is not None else None
    if loss == "mse" and optimizer is not None and optimizer.lifted:
        problems.append(Diagnostic(spans["optimizer"], "`implicit_sgd` trains the lifted "
                                   "Bregman loss, but `loss = mse` asks for backpropagation",
                                   "use optimizer = sgd(...) or adam(...) with loss = mse, "
                                   "or loss = bregman"))
    if loss == "bregman" and optimizer is not None and optimizer.backprop_only:
        problems.append(Diagnostic(spans["optimizer"], f"`{optimizer.name}` takes "
                                   "backpropagated gradients of the MSE, but the loss is "
                                   "the lifted Bregman loss" + ("" if "loss" in read.given
                                                               else " (the default)"),
                                   "add loss = mse, or use implicit_sgd for lifted training"))
    if optimizer is not None and optimizer.patience is not None and "validation" not in v:
        problems.append(Diagnostic(call.spans.get("patience", spans["optimizer"]),
                                   "`patience` stops on the validation PSNR, but this task "
                                   "has no `validation` data",
                                   'e.g. validation = digits(n = 200, split = "test")'))
    if "shards" in v and loss == "mse":
        problems.append(Diagnostic(spans["shards"], "`shards` splits lifted training's samples "
                                   "and states over Dask workers, but `loss = mse` is "
                                   "backpropagation", "use loss = bregman, or drop shards"))
    if problems or "data" not in v:
        return None
    if optimizer is None:   # the default follows the loss
        optimizer = m.Adam() if loss == "mse" else m.ImplicitSGD()
    return typed_task(m.TrainTask, read, task, optimizer=optimizer,
                      optimizer_spans=call.spans if call is not None else MappingProxyType({}))
