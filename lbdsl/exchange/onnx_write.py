"""The spec text an ONNX import writes: its statements as layers of the language.

Each weight is named once (``W3``, ``K2``: its stem and the suffix of the first statement that
applies it) and stored in the npz beside the spec; each bias is a parameter of its statement
(``b3``, a residual's ``c3``).  Terms are written positive first, since ``-W @ x`` would read
as ``(-W) @ x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .onnx_linear import (Lin, Map, Term, Var, Weight, bias_value, comment, identifier, number,
                          printable)

__all__ = ["Statement", "write_spec"]


@dataclass(eq=False)
class Statement:
    """One layer of the spec being written: ``target = psi(lin, kws)`` (a linear layer
    ``target = lin`` when ``psi`` is None), or the residual ``base ± (V psi(lin) + c)``."""

    target: Var
    lin: Lin
    psi: str | None = None
    kws: str = ""
    residual: tuple[Var, int, Map, np.ndarray | None] | None = None
    nodes: tuple[str, ...] = ()


def write_spec(name: str, graph: str, file: str, source: Var, statements: list[Statement],
               result: Var, taken: set[str]) -> tuple[str, dict[str, np.ndarray]]:
    """The text of network ``name`` (input ``source``, output ``result``) and the weights it
    loads from ``file``; ``taken``: the names already used (new ones are added to it)."""
    writer = _Writer(file, taken)
    body = [f"    {st.target.name} = {writer.statement(st)}    # {comment(st.nodes)}"
            for st in statements]
    shape = "x".join(str(d) for d in source.shape)
    lines = [f"# imported from ONNX by lbdsl import: graph '{printable(graph)}'",
             f"network {name} {{", f"    input {source.name} : {shape}",
             *writer.params, *body, f"    output {result.name}", "}", ""]
    return "\n".join(lines), writer.weights


class _Writer:
    """The spec text of the statements: each weight named once (``W3``, ``K2``, in the first
    statement that applies it), each bias a parameter of its statement (``b3``)."""

    def __init__(self, file: str, taken: set[str]) -> None:
        self.file, self.taken = file, taken
        self.params: list[str] = []
        self.weights: dict[str, np.ndarray] = {}

    def param(self, base: str, value: np.ndarray) -> str:
        name = identifier(base, self.taken, "p")
        self.weights[name] = np.ascontiguousarray(value, dtype=np.float64)
        shape = "x".join(str(d) for d in value.shape)
        self.params.append(f'    param {name} : {shape} = load("{self.file}", "{name}")')
        return name

    def statement(self, st: Statement) -> str:
        suffix = st.target.name[1:] if st.target.name.startswith("h") else f"_{st.target.name}"
        pre = self.lin(st.lin, suffix, st.target.name)
        if st.psi is None:
            return pre
        act = f"{st.psi}({pre}{', ' + st.kws if st.kws else ''})"
        if st.residual is None:
            return act
        base, sign, v, c = st.residual
        self.name(v.weight, "V" + suffix)
        op = "+" if sign > 0 else "-"
        text = f"{base.name} {op} {v.weight.name}{'.T' if v.transposed else ''} @ {act}"
        if c is not None and np.any(c):
            text += f" {op} {self.param('c' + suffix, bias_value(c, base.shape))}"
        return text

    def name(self, w: Weight, base: str) -> None:
        if w.name is None:
            w.name = self.param(base, w.value)

    def lin(self, lin: Lin, suffix: str, target: str) -> str:
        """``lin`` as the language writes it: positive terms first (``-W @ x`` would read as
        ``(-W) @ x``), a number times a term, the bias a parameter."""
        parts, bias = [], lin.bias
        for term in sorted(lin.terms, key=lambda t: t.coef < 0):
            shaped = term.maps[0] if term.maps and term.maps[0].shaped else None
            maps = term.maps[1:] if shaped else term.maps
            for m in maps:
                self.name(m.weight, m.weight.stem + suffix)
            text = Term(1.0, maps, term.var).text()
            if shaped is not None:                       # dense(x, CxHxW): W and b created
                self.weights[f"{target}_W"] = np.ascontiguousarray(shaped.matrix,
                                                                   dtype=np.float64)
                self.weights[f"{target}_b"] = (np.zeros(lin.size) if bias is None
                                               else np.ascontiguousarray(bias))
                bias = None
                shape = "x".join(str(d) for d in shaped.out_shape)
                text = f'dense({text}, {shape}, init = load("{self.file}"))'
            c = abs(term.coef)
            text = text if c == 1.0 else f"{number(c)} * {text}"
            sign = "-" if term.coef < 0 else "+"
            parts.append(f"-1.0 * {text}" if not parts and sign == "-" and c == 1.0 else
                         f"-{text}" if not parts and sign == "-" else
                         text if not parts else f"{sign} {text}")
        if bias is not None and np.any(bias):
            parts.append("+ " + self.param("b" + suffix, bias_value(bias, lin.shape)))
        return " ".join(parts)
