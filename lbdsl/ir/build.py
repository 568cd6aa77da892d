"""From a ``network`` syntax tree to a checked :class:`~lbdsl.ir.nodes.NetworkIR`.

One pass over the statements in source order, with ``repeat`` unrolled, resolves names,
versions variables (SSA), infers shapes and plans parameters; then, if no statement failed,
the total parameter size is checked and the parameters are made.  Every independent error is
collected and reported in one :class:`~lbdsl.errors.SpecError`; a statement that fails binds
its target to an *unknown* shape so that later statements do not repeat the error.

Statement forms (LIN is a linear expression plus biases, read by :mod:`.affine`: sums,
differences and numbers times terms over any earlier variables — a variable itself, or maps
applied to one: ``A @ x``, ``A.T @ x``, ``dense(x, WIDTH)``, ``conv2d(x, C, …)``,
``conv2d_t(x, C, …)``, ``L @ x``, ``conv(L, x, …)``, ``conv_t(L, v, …)``):

* ``y = ACT(LIN, key = value, ...)``                    a lifted layer
* ``y = LIN``                                           a linear layer (ψ = identity)
* ``x = x + V @ ACT(LIN) (+ c)``, ``x = x - V @ ACT(LIN) (- c)``  a residual layer (also
  ``V @ ACT(LIN) + x``), ``c`` its branch bias; tied when V is ``W.T`` of the one map ``W``
  of its pre-activation (or ``W`` of ``W.T``)
* ``y = A @ ACT(LIN) (+ b)``                            a hidden layer ``y.ACT`` followed by a
  linear layer (the shallow sum ``y = c @ relu(w @ u + b)``)

Created parameters of ``dense`` / ``conv2d`` / ``conv2d_t`` are named ``<target>_W`` and ``<target>_b`` plus
the repeat suffix (``x_W_3`` in iteration 3); when a rebound target creates again and that name
is taken by an earlier created parameter, the first free one of ``_2``, ``_3``, … is appended.
A user parameter of the same name is an error.
A conv2d input is ``C×H×W``; an ``H×W`` input is one channel.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..bounded import format_bytes
from ..errors import Diagnostic, SourceSpan, SpecError
from ..syntax import tree
from . import params as init
from .affine import AffineForms, PlannedParam, affine_forms, span_line
from .graph import build_graph
from .layers import LAYER_TYPES
from .nodes import (Layer, NetworkIR, Param, Residual, Shape, Step, Variable,
                    format_shape, size_of)

__all__ = ["build_network", "MAX_UNROLLED_STATEMENTS"]

#: ``repeat`` may unroll to at most this many statements in one network.
MAX_UNROLLED_STATEMENTS = 100_000

LAYER_FORMS = ("a layer is `y = ACT(LIN)`, `y = LIN`, `x = x + V @ ACT(LIN) (+ c)`, "
               "`x = x - V @ ACT(LIN) (- c)` or `y = A @ ACT(LIN) (+ b)`, with LIN a linear "
               "expression of variables (sums, differences, numbers times terms) through "
               + affine_forms() + ", plus bias parameters")


class _Abort(Exception):
    """Stop checking the current statement (its diagnostic is already recorded)."""


@dataclass
class _Var:
    id: str
    name: str
    shape: Shape | None          # None: unknown because its statement failed
    span: SourceSpan | None
    version: int
    hidden: bool = False


class _NetworkBuilder(AffineForms):
    def __init__(self, net: tree.Network, file_dir: Path, source: str | None,
                 max_param_bytes: int):
        self.net = net
        self.file_dir = Path(file_dir)
        self.source = source
        self.max_param_bytes = max_param_bytes
        self.diags: list[Diagnostic] = []
        self.vars: dict[str, _Var] = {}
        self.var_scope: dict[str, str] = {}              # user name -> current var id
        self.versions: dict[str, int] = {}
        self.param_scopes: list[dict[str, str]] = [{}]   # user name -> final param name
        self.params: dict[str, PlannedParam] = {}
        self.repeat_params: dict[str, tuple[int, list[str]]] = {}
        self.repeat_path: list[tuple[int, int]] = []     # (iteration 1-based, count)
        self.unrolled = 0
        self.bound = 0              # variables bound so far (to tell whether a statement did)
        self.stmt_start = 0         # len(self.diags) when the current statement began
        self.steps: list[Step] = []
        self.input_id: str | None = None
        self.input_span: SourceSpan | None = None
        self.output_id: str | None = None
        self.output_span: SourceSpan | None = None
        self.first_def: dict[str, SourceSpan] = {}
        self._prescan(net.body)

    # --- diagnostics -------------------------------------------------------------------------

    def error(self, span: SourceSpan | None, message: str, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(span, message, hint))

    def fail(self, span: SourceSpan | None, message: str, hint: str | None = None) -> NoReturn:
        self.error(span, message, hint)
        raise _Abort

    # --- names -------------------------------------------------------------------------------

    def _prescan(self, body: tuple[tree.Statement, ...]) -> None:
        for st in body:
            if isinstance(st, (tree.InputDecl, tree.ParamDecl)):
                self.first_def.setdefault(st.name.id, st.name.span)
            elif isinstance(st, tree.Assign):
                self.first_def.setdefault(st.target.id, st.target.span)
            elif isinstance(st, tree.Repeat):
                self._prescan(st.body)

    def _param_in_scope(self, name: str) -> str | None:
        for scope in reversed(self.param_scopes):
            if name in scope:
                return scope[name]
        entry = self.params.get(name)
        if entry is not None and not entry.created:
            return name  # a repeat copy named in full (``W_3``)
        return None

    def lookup(self, node: tree.Name) -> tuple[str, str]:
        """``("var", id)`` or ``("param", final name)``; a diagnostic and :class:`_Abort` if
        the name is not defined here."""
        name = node.id
        if name in self.var_scope:
            return "var", self.var_scope[name]
        param = self._param_in_scope(name)
        if param is not None:
            return "param", param
        if name in self.repeat_params:
            line, copies = self.repeat_params[name]
            shown = copies[0] if len(copies) == 1 else f"{copies[0]} … {copies[-1]}"
            self.fail(node.span, f"`{name}` is declared inside the `repeat` on line {line}, "
                      f"which makes one copy per iteration ({shown})",
                      f"name one copy, e.g. `{copies[-1]}`")
        if name in self.first_def:
            where = self.first_def[name]
            hint = ("its first definition is this statement"
                    if where.line == node.span.line else
                    f"it is first defined on line {where.line}")
            self.fail(node.span, f"`{name}` is used before it is defined", hint)
        pool = set(self.var_scope) | set(self.first_def)
        for scope in self.param_scopes:
            pool |= set(scope)
        pool |= {p for p, e in self.params.items() if not e.created}
        pool.discard(name)
        guess = difflib.get_close_matches(name, sorted(pool), n=1, cutoff=0.6)
        hint = f"did you mean `{guess[0]}`?" if guess else None
        self.fail(node.span, f"unknown name `{name}`", hint)

    def var_ref(self, expr: tree.Expr, role: str) -> str:
        if not isinstance(expr, tree.Name):
            self.fail(expr.span, f"{role} must be a variable name", LAYER_FORMS)
        kind, ref = self.lookup(expr)
        if kind != "var":
            self.fail(expr.span, f"`{expr.id}` is a parameter, but {role} must be a variable "
                      "(the input or a layer's output)")
        return ref

    def param_ref(self, expr: tree.Expr, role: str, allow_t: bool = True) -> tuple[str, bool]:
        """A parameter named by ``expr`` (``W`` or ``W.T``): (final name, transposed)."""
        transposed = False
        if isinstance(expr, tree.Attr) and allow_t:
            if expr.attr != "T":
                self.fail(expr.span, f"`.{expr.attr}` is not supported; only `.T` (transpose)")
            transposed, expr = True, expr.value
        if not isinstance(expr, tree.Name):
            self.fail(expr.span, f"{role} must be a parameter name"
                      + (" or its transpose `A.T`" if allow_t else ""), LAYER_FORMS)
        kind, ref = self.lookup(expr)
        if kind != "param":
            self.fail(expr.span, f"`{expr.id}` is a variable, but {role} must be a parameter",
                      "declare it with `param NAME : SHAPE = INIT`")
        return ref, transposed

    def shape_of_var(self, vid: str) -> Shape | None:
        return self.vars[vid].shape

    def display(self, vid: str) -> str:
        var = self.vars[vid]
        return var.name if not var.hidden else var.id

    def peek_id(self, name: str) -> str:
        version = self.versions.get(name, 0) + 1
        return name if version == 1 else f"{name}#{version}"

    def new_var(self, name: str, shape: Shape | None, span: SourceSpan | None) -> str:
        version = self.versions.get(name, 0) + 1
        self.versions[name] = version
        vid = name if version == 1 else f"{name}#{version}"
        self.vars[vid] = _Var(vid, name, shape, span, version)
        self.var_scope[name] = vid
        self.bound += 1
        return vid

    def suffix(self) -> str:
        return "".join(f"_{i}" for i, _ in self.repeat_path)

    def seed_offset(self) -> int:
        offset = 0
        for i, count in self.repeat_path:
            offset = offset * count + (i - 1)
        return offset

    # --- statements --------------------------------------------------------------------------

    def run(self, body: tuple[tree.Statement, ...]) -> None:
        for st in body:
            before = self.stmt_start = len(self.diags)
            bound = self.bound
            try:
                if isinstance(st, tree.InputDecl):
                    self.input_decl(st)
                elif isinstance(st, tree.ParamDecl):
                    self.param_decl(st)
                elif isinstance(st, tree.Assign):
                    self.assign(st)
                elif isinstance(st, tree.Repeat):
                    self.repeat(st)
                elif isinstance(st, tree.Output):
                    self.output(st)
                else:  # pragma: no cover - the parser makes no other statements
                    self.fail(getattr(st, "span", None), "unexpected statement")
            except _Abort:
                pass
            if isinstance(st, tree.Assign) and len(self.diags) > before:
                self.poison(st, bound)

    def poison(self, st: tree.Assign, bound_before: int) -> None:
        """After a failed layer: its target exists with an unknown shape (no cascades)."""
        name = st.target.id
        if self._param_in_scope(name) is not None:
            return
        if self.bound > bound_before:  # the statement bound its target before failing
            self.vars[self.var_scope[name]].shape = None
        else:
            self.new_var(name, None, st.span)

    def check_dims(self, shape: tree.Shape, what: str) -> Shape | None:
        if any(d <= 0 for d in shape.dims):
            self.error(shape.span, f"the shape of {what} has a zero or negative dimension "
                       f"({format_shape(shape.dims)})", "every dimension must be at least 1")
            return None
        return tuple(int(d) for d in shape.dims)

    def name_taken(self, node: tree.Name) -> None:
        """A diagnostic if ``node`` would declare a name that already exists."""
        name = node.id
        if name in self.var_scope:
            var = self.vars[self.var_scope[name]]
            self.fail(node.span, f"`{name}` is already defined (a variable, line "
                      f"{span_line(var.span)})", "choose another name")
        for scope in self.param_scopes:
            if name in scope:
                self.fail(node.span, f"parameter `{name}` is already declared on line "
                          f"{span_line(self.params[scope[name]].span)}", "choose another name")

    def once(self, st: tree.Statement, what: str, first: SourceSpan | None, hint: str) -> None:
        """``input`` and ``output``: once per network, outside any ``repeat``."""
        if self.repeat_path:
            self.fail(st.span, f"`{what}` cannot be inside `repeat`", hint)
        if first is not None:
            self.fail(st.span, f"a network has exactly one `{what}`; the first is on line "
                      f"{span_line(first)}")

    def input_decl(self, st: tree.InputDecl) -> None:
        self.once(st, "input", self.input_span if self.input_id is not None else None,
                  "declare the input once, before the layers")
        self.name_taken(st.name)
        shape = self.check_dims(st.shape, f"input `{st.name.id}`")
        self.input_id = self.new_var(st.name.id, shape, st.span)
        self.input_span = st.span

    def param_decl(self, st: tree.ParamDecl) -> None:
        self.name_taken(st.name)
        declared = st.name.id
        final = declared + self.suffix()
        if final in self.params:
            other = self.params[final]
            made = "created by `dense`/`conv2d`" if other.created else "declared"
            self.fail(st.name.span, f"parameter `{final}` is already {made} on line "
                      f"{span_line(other.span)}", "choose another name")
        shape = self.check_dims(st.shape, f"parameter `{declared}`")
        plan = None
        if shape is not None:
            try:
                plan = init.plan_init(st.init, shape, final, self.seed_offset())
            except init.InitError as exc:
                self.diags.append(exc.diagnostic)
        self.params[final] = PlannedParam(final, declared, shape, plan, st.span, created=False)
        self.param_scopes[-1][declared] = final

    def output(self, st: tree.Output) -> None:
        self.once(st, "output", self.output_span if self.output_id is not None else None,
                  "name the output once, after the layers")
        vid = self.var_ref(st.name, "the output")
        self.output_id, self.output_span = vid, st.span

    def repeat(self, st: tree.Repeat) -> None:
        count = st.count.value
        ok = isinstance(count, int) and count >= 1
        if not ok:
            self.error(st.count.span, f"`repeat` needs a positive integer count, got "
                       f"{st.count.text}", "write repeat N { ... } with N >= 1")
            count = 1  # still check the body once
        if not self.repeat_path:  # an outermost repeat counts its nested ones too
            unrolled = count * _count_statements(st.body)
            self.unrolled += unrolled
            if self.unrolled > MAX_UNROLLED_STATEMENTS:
                self.fail(st.count.span, f"this `repeat` unrolls to {unrolled:,} statements; "
                          f"a network may have at most {MAX_UNROLLED_STATEMENTS:,}",
                          "lbdsl makes one layer per iteration; use fewer iterations")
        declared: dict[str, list[str]] = {}
        for i in range(1, count + 1):
            self.repeat_path.append((i, count))
            self.param_scopes.append({})
            before = len(self.diags)
            try:
                self.run(st.body)
            finally:
                scope = self.param_scopes.pop()
                self.repeat_path.pop()
            for name, final in scope.items():
                declared.setdefault(name, []).append(final)
            if len(self.diags) > before:
                break  # later iterations would repeat the same errors
        for name, copies in declared.items():
            self.repeat_params[name] = (span_line(st.span), copies)

    # --- layers ------------------------------------------------------------------------------

    def assign(self, st: tree.Assign) -> None:
        target = st.target.id
        if self._param_in_scope(target) is not None:
            self.fail(st.target.span, f"`{target}` is a parameter and cannot be assigned",
                      "choose another name for this layer's output")
        value = st.value
        if isinstance(value, tree.BinOp) and value.op in "+-":
            if self._sum_layer(st, value):
                return
            self.linear_layer(st, value)
        elif isinstance(value, tree.BinOp) and value.op == "@" \
                and isinstance(value.right, tree.Call) and not self.is_map(value.right.func):
            self.shallow_layer(st, value.left, value.right, None, value)
        elif isinstance(value, tree.Call) and not self.is_map(value.func):
            self.activation_layer(st, value)
        else:
            self.linear_layer(st, value)

    def _sum_layer(self, st: tree.Assign, value: tree.BinOp) -> bool:
        """A residual layer ``x ± V @ ACT(...) (± c)`` or a biased shallow layer
        ``A @ ACT(...) + b``; False if ``value`` is a linear expression."""
        parts = _signed_terms(value)
        branches = [(s, e, at) for s, e, at in parts if isinstance(e, tree.BinOp)
                    and e.op == "@" and isinstance(e.right, tree.Call)
                    and not self.is_map(e.right.func)]
        if len(branches) != 1:
            return False
        sign, vexpr, at = branches[0]
        others = [(s, e, op) for s, e, op in parts if e is not vexpr]
        names = [(s, e, op, self.lookup(e)[0]) for s, e, op in others if isinstance(e, tree.Name)]
        bases = [n for n in names if n[3] == "var"]
        biases = [n for n in names if n[3] == "param"]
        if len(names) != len(others) or len(bases) > 1 or len(biases) > 1:
            where = next((e for _, e, _ in others if not isinstance(e, tree.Name)), value)
            self.fail(where.span, "the other terms of this sum must be a variable (the base of "
                      "a residual layer `x = x + V @ ACT(...)`) and a bias parameter", LAYER_FORMS)
        if not bases:
            if sign < 0 or (biases and biases[0][0] < 0):
                self.fail((at or value.op_span), "a bias is added, not subtracted", LAYER_FORMS)
            self.shallow_layer(st, vexpr.left, vexpr.right, biases[0][1] if biases else None,
                               vexpr)
            return True
        base_sign, base, base_op, _ = bases[0]
        if base_sign < 0:
            self.fail(base_op or value.op_span, "a residual layer subtracts from its base: "
                      "write `x = x - V @ ACT(LIN)`", LAYER_FORMS)
        bias = None
        if biases:
            bias_sign, bias_expr, bias_op, _ = biases[0]
            if bias_sign != sign:
                self.fail(bias_op or value.op_span, "the branch's bias takes the branch's "
                          f"sign: write `x {'+' if sign > 0 else '-'} V @ ACT(...) "
                          f"{'+' if sign > 0 else '-'} c`", LAYER_FORMS)
            bias = self.lookup(bias_expr)[1]
        self.residual_layer(st, base, sign, vexpr.left, vexpr.right, bias, biases)
        return True

    def activation(self, call: tree.Call) -> tuple[str, dict[str, float]] | None:
        """Check ``ACT(LIN, key = value, ...)``'s name and keywords: (name, params)."""
        from ..prox import registry

        if call.func not in registry.ACTIVATIONS:
            message, hint = registry.explain_unknown(call.func)
            self.error(call.func_span, message, hint)
            return None
        known = {p.name: p for p in registry.activation_params(call.func)}
        values: dict[str, float] = {}
        ok = True
        for kw in call.kwargs:
            if kw.name not in known:
                allowed = ", ".join(known) or "none"
                self.error(kw.span, f"`{call.func}` has no parameter `{kw.name}`",
                           f"parameters of `{call.func}`: {allowed}")
                ok = False
                continue
            if kw.name in values:
                self.error(kw.span, f"`{kw.name}` is given twice")
                ok = False
                continue
            number = init.literal_number(kw.value)
            if number is None:
                self.error(kw.value.span, f"`{kw.name}` of `{call.func}` must be a number")
                ok = False
                continue
            if not known[kw.name].admits(float(number)):
                self.error(kw.span, f"`{call.func}` needs {known[kw.name].need}, got "
                           f"{kw.name} = {float(number):g}")
                ok = False
                continue
            values[kw.name] = float(number)
        if not ok:
            return None
        full = {name: float(values.get(name, p.default)) for name, p in known.items()}
        try:
            registry.make_activation(call.func, **full)
        except ValueError as exc:
            self.error(call.span, str(exc))
            return None
        return call.func, full

    def act_argument(self, call: tree.Call) -> tree.Expr:
        if len(call.args) != 1:
            span = call.args[1].span if len(call.args) > 1 else call.span
            self.fail(span, f"`{call.func}` takes one affine argument (then keywords), got "
                      f"{len(call.args)}", f"write {call.func}(W @ x + b, ...)")
        return call.args[0]

    def activation_layer(self, st: tree.Assign, call: tree.Call) -> None:
        psi = self.activation(call)
        arg = self.act_argument(call)
        affine = self.affine(arg, st.target.id)
        if psi is None:
            raise _Abort
        out = self.new_var(st.target.id, affine.out_shape, st.span)
        # ``identity(A @ x)`` is the same layer as ``A @ x``
        self.steps.append(Layer(out, psi[0], psi[1], affine, psi[0] == "identity", st.span))

    def linear_layer(self, st: tree.Assign, expr: tree.Expr) -> None:
        affine = self.affine(expr, st.target.id)
        out = self.new_var(st.target.id, affine.out_shape, st.span)
        self.steps.append(Layer(out, "identity", {}, affine, True, st.span))

    def shallow_layer(self, st: tree.Assign, mat: tree.Expr, call: tree.Call,
                      bias: tree.Expr | None, span_expr: tree.Expr) -> None:
        """``y = A @ ACT(LIN) (+ b)``: a hidden layer ``y.ACT``, then a linear layer."""
        psi = self.activation(call)
        arg = self.act_argument(call)
        affine = self.affine(arg, st.target.id)
        if psi is None:
            raise _Abort
        out_id = self.peek_id(st.target.id)
        hidden = f"{out_id}.{call.func}"
        self.vars[hidden] = _Var(hidden, hidden, affine.out_shape, st.span, 1, hidden=True)
        self.steps.append(Layer(hidden, psi[0], psi[1], affine, False, st.span))
        outer = self.matmul(mat, hidden, bias, span_expr, st.target.id, whole=st.value)
        out = self.new_var(st.target.id, outer.out_shape, st.span)
        assert out == out_id
        self.steps.append(Layer(out, "identity", {}, outer, True, st.span))

    def residual_layer(self, st: tree.Assign, base_expr: tree.Name, sign: int,
                       v_expr: tree.Expr, call: tree.Call, branch_bias: str | None = None,
                       written_bias: list[Any] | None = None) -> None:
        base = self.var_ref(base_expr, "the base of a residual layer")
        v_name, v_t = self.param_ref(v_expr, "V in `x + V @ ACT(LIN)`")
        psi = self.activation(call)
        arg = self.act_argument(call)
        affine = self.affine(arg, st.target.id)
        base_shape = self.shape_of_var(base)
        v_shape = self.params[v_name].shape
        m = affine.map
        tied = m is not None and LAYER_TYPES[m.kind].ties(m, v_name, v_t)
        if v_shape is not None:
            v_text = f"{self.params[v_name].declared_name}{'.T' if v_t else ''}"
            if len(v_shape) > 2:
                self.fail(v_expr.span, f"V = `{v_text}` is {format_shape(v_shape)}, but V must "
                          "be a matrix")
            rows, cols = (1, v_shape[0]) if len(v_shape) == 1 else v_shape
            rows, cols = (cols, rows) if v_t else (rows, cols)
            if base_shape is not None and affine.out_shape is not None:
                need_rows, need_cols = size_of(base_shape), size_of(affine.out_shape)
                if (rows, cols) != (need_rows, need_cols):
                    hint = (f"V maps the activation ({need_cols} entries) back onto "
                            f"`{self.display(base)}` ({need_rows} entries)")
                    # a declared matrix: V = its transpose would tie this residual
                    ties = m is not None and LAYER_TYPES[m.kind].ties(m, m.weight,
                                                                      not m.transposed)
                    if ties and not tied:
                        w = self.params[m.weight].declared_name
                        hint += (f"; a tied residual writes V as `{w}.T`, the transpose of "
                                 "the affine's matrix")
                    self.error(v_expr.span, f"`{v_text}` (V of this residual layer) is "
                               f"{rows}x{cols}, but it must be {need_rows}x{need_cols}", hint)
        if branch_bias is not None and written_bias and base_shape is not None:
            self._check_bias(branch_bias, written_bias[0][1], base_shape,
                             f"{self.params[v_name].declared_name} @ {call.func}(...)")
        if psi is None or len(self.diags) > self.stmt_start:
            raise _Abort
        out = self.new_var(st.target.id, base_shape, st.span)
        self.steps.append(Residual(out, base, sign, v_name, v_t, tied, psi[0], psi[1], affine,
                                   st.span, branch_bias))

    # --- finishing ---------------------------------------------------------------------------

    def finish(self) -> NetworkIR:
        net = self.net
        kinds = {type(s) for s in _all_statements(net.body)}
        if self.input_id is None and tree.InputDecl not in kinds:
            self.error(net.name.span, f"network `{net.name.id}` has no `input`",
                       "declare one, e.g. `input u : 64x64`")
        if self.output_id is None and tree.Output not in kinds:
            self.error(net.name.span, f"network `{net.name.id}` has no `output`",
                       "name the result, e.g. `output h`")
        if not self.diags:
            self.check_size()
        if self.diags:
            raise SpecError(_ordered(self.diags), self.source)
        values = self.materialise()
        return self.assemble(values)

    def check_size(self) -> None:
        total = sum(size_of(p.shape) for p in self.params.values() if p.shape is not None)
        nbytes = 8 * total
        if nbytes > self.max_param_bytes:
            largest = max(self.params.values(), key=lambda p: size_of(p.shape or ()))
            self.error(self.net.name.span,
                       f"the parameters of `{self.net.name.id}` need {format_bytes(nbytes)} "
                       f"({total:,} float64 entries), more than the limit of "
                       f"{format_bytes(self.max_param_bytes)}",
                       f"the largest is `{largest.name}` "
                       f"({format_shape(largest.shape or ())}); use smaller layers")

        # lifting allocates every variable and pre-activation (u and z), whatever the
        # parameters weigh: a huge input behind a small conv2d must be refused here too
        states = sum(size_of(v.shape) for v in self.vars.values() if v.shape is not None)
        states += sum(size_of(step.affine.out_shape) for step in self.steps)
        if 8 * states > self.max_param_bytes:
            known = [v for v in self.vars.values() if v.shape is not None]
            biggest = max(known, key=lambda v: size_of(v.shape))  # type: ignore[arg-type]
            self.error(self.net.name.span,
                       f"the variables of `{self.net.name.id}` need {format_bytes(8 * states)} "
                       f"({states:,} float64 entries), more than the limit of "
                       f"{format_bytes(self.max_param_bytes)}",
                       f"the largest is `{biggest.name}` ({format_shape(biggest.shape)}); "
                       "use a smaller input or smaller layers")

    def materialise(self) -> dict[str, Any]:
        """Each parameter's value, or how to make it: a ``load`` is read now (its mistakes are
        spec errors), a generated one is made when it is first used."""
        values: dict[str, Any] = {}
        with init.Loader(self.file_dir) as loader:
            for p in self.params.values():
                assert p.plan is not None and p.shape is not None
                if p.plan.kind != "load":
                    values[p.name] = functools.partial(init.materialise, p.plan, p.shape,
                                                       p.name, None)
                    continue
                try:
                    values[p.name] = init.materialise(p.plan, p.shape, p.name, loader)
                except init.InitError as exc:
                    self.diags.append(exc.diagnostic)
        if self.diags:
            raise SpecError(_ordered(self.diags), self.source)
        return values

    def assemble(self, values: dict[str, Any]) -> NetworkIR:
        params = {
            p.name: Param(p.name, p.shape, values[p.name], p.span,  # type: ignore[arg-type]
                          p.plan.origin, p.declared_name, p.created)  # type: ignore[union-attr]
            for p in self.params.values()
        }
        variables = {v.id: Variable(v.id, v.name, v.shape, v.span, v.version,  # type: ignore[arg-type]
                                    v.hidden)
                     for v in self.vars.values()}
        assert self.input_id is not None and self.output_id is not None
        layers = tuple(self.steps)
        graph = build_graph(self.net.name.id, self.input_id, self.output_id, variables, params,
                            layers, output_span=self.output_span)
        return NetworkIR(self.net.name.id, self.input_id, variables[self.input_id].shape,
                         params, layers, self.output_id, variables, graph, self.net.span)


def _all_statements(body: tuple[tree.Statement, ...]) -> list[tree.Statement]:
    out: list[tree.Statement] = []
    for st in body:
        out.append(st)
        if isinstance(st, tree.Repeat):
            out.extend(_all_statements(st.body))
    return out


def _count_statements(body: tuple[tree.Statement, ...]) -> int:
    total = 0
    for st in body:
        if isinstance(st, tree.Repeat):
            n = st.count.value if isinstance(st.count.value, int) and st.count.value > 0 else 1
            total += n * _count_statements(st.body)
        else:
            total += 1
    return total


def _ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in source order, one per span (a repeated statement reports once)."""
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for d in diags:
        key = (d.span.file, d.span.line, d.span.column) if d.span is not None else (d.message,)
        if key in seen:
            continue
        seen.add(key)
        unique.append(d)
    return sorted(unique, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))


def build_network(net: tree.Network, file_dir: Path | str = ".", *, source: str | None = None,
                  max_param_bytes: int = init.MAX_PARAM_BYTES) -> NetworkIR:
    """The checked IR of ``net``; ``file_dir`` is where ``load(...)`` paths start.

    Raises :class:`SpecError` with every independent problem (``source`` lets it quote lines).
    """
    # plain statements count as a repeat's copies do (a repeat's own check says more)
    plain = sum(not isinstance(st, tree.Repeat) for st in net.body)
    if plain > MAX_UNROLLED_STATEMENTS:
        raise SpecError.at(net.name.span, f"network `{net.name.id}` has {plain:,} statements; "
                           f"a network may have at most {MAX_UNROLLED_STATEMENTS:,}",
                           "split it, or use `repeat`", source)
    builder = _NetworkBuilder(net, Path(file_dir), source, max_param_bytes)
    builder.unrolled = plain
    builder.run(net.body)
    return builder.finish()


def _signed_terms(expr: tree.Expr, sign: int = 1, op: Any = None,
                  ) -> list[tuple[int, tree.Expr, Any]]:
    """``a + b - c`` as ``[(+1, a, None), (+1, b, span of +), (−1, c, span of −)]``."""
    if isinstance(expr, tree.BinOp) and expr.op in "+-":
        right = -sign if expr.op == "-" else sign
        return (_signed_terms(expr.left, sign, op)
                + _signed_terms(expr.right, right, expr.op_span))
    return [(sign, expr, op)]
