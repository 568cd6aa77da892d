"""A plain-text summary of a network's IR (``lbdsl show``; the CLI may dress it up)."""

from __future__ import annotations

from .layers import describe
from .nodes import Layer, NetworkIR, Residual, Step, format_shape

__all__ = ["summary", "step_text"]


def _psi(name: str, params: dict[str, float]) -> str:
    if not params:
        return name
    return f"{name}(" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")"


def _var(net: NetworkIR, vid: str) -> str:
    """A variable as the summary shows it: its SSA id (``x#2`` is the second ``x``)."""
    return vid


def step_text(net: NetworkIR, step: Step) -> str:
    """The layer's right-hand side as a spec would write it (with the resolved names)."""
    created = {b for b in step.affine.biases if net.params[b].created}
    aff = describe(step.affine, lambda vid: _var(net, vid), created)
    keywords = "".join(f", {k} = {v:g}" for k, v in step.psi_params.items())
    act = f"{step.psi_name}({aff}{keywords})"
    if isinstance(step, Residual):
        v = step.v_weight + (".T" if step.v_transposed else "")
        sign = "+" if step.sign > 0 else "-"
        bias = f" {sign} {step.branch_bias}" if step.branch_bias else ""
        return f"{_var(net, step.base)} {sign} {v} @ {act}{bias}"
    return aff if step.linear else act


def _step_params(step: Step) -> list[str]:
    names = [*step.affine.weights, *step.affine.biases]
    if isinstance(step, Residual):
        names += [p for p in (step.v_weight, step.branch_bias) if p and p not in names]
    return names


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(r, widths))]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def summary(net: NetworkIR) -> str:
    """Name, input, each layer in order, residual links, output and parameter totals."""
    line = f"  (line {net.span.line})" if net.span is not None else ""
    n_in = net.variables[net.input]
    lines = [f"network {net.name}{line}",
             f"input   {n_in.name} : {format_shape(net.input_shape)}  "
             f"({_count(net.input_shape)})", ""]
    rows = [["#", "line", "output", "layer", "Ψ", "shape", "params"]]
    for i, step in enumerate(net.layers, start=1):
        kind = "linear" if isinstance(step, Layer) and step.linear else _psi(step.psi_name,
                                                                            step.psi_params)
        count = sum(net.params[p].size for p in _step_params(step))
        rows.append([str(i), str(step.span.line if step.span else ""), _var(net, step.out),
                     step_text(net, step), kind, format_shape(net.variables[step.out].shape),
                     f"{count:,}"])
    lines.append(f"layers ({len(net.layers)})")
    lines += _table(rows, right={0, 1, 6}) if net.layers else ["  (none)"]
    rebound = next((v for v in net.variables.values() if v.version > 1), None)
    if rebound is not None:
        lines.append(f"  ({rebound.id} is binding {rebound.version} of `{rebound.name}`)")
    residuals = [(i, s) for i, s in enumerate(net.layers, start=1) if isinstance(s, Residual)]
    if residuals:
        lines += ["", f"residual links ({len(residuals)})"]
        for i, s in residuals:
            v = s.v_weight + (".T" if s.v_transposed else "")
            m = s.affine.map
            how = (f"tied (V = {m.weight}{'' if m.transposed else 'ᵀ'})"
                   if s.tied and m is not None else f"untied (V = {v})")
            lines.append(f"  {i:>3}  {_var(net, s.base)} -> {_var(net, s.out)}  "
                         f"sign {'+' if s.sign > 0 else '-'}  {how}")
    out = net.variables[net.output]
    version = f"  (= {out.id})" if out.id != out.name else ""
    lines += ["", f"output  {out.name} : {format_shape(out.shape)}{version}", ""]
    total = net.param_count()
    lines.append(f"parameters ({len(net.params)} tensors, {total:,} entries, "
                 f"{_mib(8 * total)} as float64)")
    prow = [["name", "shape", "init", "line"]]
    for p in net.params.values():
        prow.append([p.name, format_shape(p.shape), p.origin,
                     str(p.span.line) if p.span else ""])
    if net.params:
        lines += _table(prow, right={3})
    return "\n".join(lines) + "\n"


def _count(shape: tuple[int, ...]) -> str:
    n = 1
    for d in shape:
        n *= d
    return "1 entry" if n == 1 else f"{n:,} entries"


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB" if n >= 1024**2 else f"{n / 1024:.1f} KiB"
