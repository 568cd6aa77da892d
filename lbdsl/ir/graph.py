"""The data-flow graph of a network (networkx) and its Graphviz text.

Nodes (attribute ``kind``):

====================  =================================  ========================================
node id               kind                               other attributes
====================  =================================  ========================================
``input:u``           ``input``                          ``var``
``param:W``           ``param``                          ``origin``, ``created``
``L3:affine``         ``affine`` (a linear operator)     ``op`` (matmul/dense/conv2d), ``transposed``
``L3:act``            ``activation``                     ``psi``, ``psi_params``
``L3:V``              ``linear`` (V of a residual)       ``transposed``, ``tied``
``L3:add``            ``add`` (residual addition)        ``sign``, ``tied``
``output``            ``output``                         ``var``
====================  =================================  ========================================

Every node has ``label`` (short text), ``shape`` (of the value it produces; a parameter's own
shape), ``line`` (spec line, 0 if unknown), ``span`` and, for layer nodes, ``layer`` (1-based
index in :attr:`NetworkIR.layers`).  ``L3`` is layer 3.  A linear layer has no activation node:
its affine node produces the variable.

Edges are data flow, with ``kind`` ``data`` (a value flows), ``weight`` or ``bias`` (a parameter
feeds an operator), ``shape`` (of what flows), ``var`` (the variable id for data edges that carry
a named variable, else None), ``label`` and ``line``.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from ..errors import SourceSpan
from .layers import describe
from .nodes import Layer, NetworkIR, Param, Residual, Step, Variable, format_shape

__all__ = ["build_graph", "to_dot"]


def _psi_text(name: str, params: Mapping[str, float]) -> str:
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={v:g}' for k, v in params.items())})"


def build_graph(name: str, input_id: str, output_id: str, variables: Mapping[str, Variable],
                params: Mapping[str, Param], layers: tuple[Step, ...], *,
                output_span: SourceSpan | None = None) -> nx.DiGraph:
    """The networkx DiGraph of a network's data flow (see the module docstring)."""
    g = nx.DiGraph(name=name)
    producer: dict[str, str] = {}
    inp = variables[input_id]
    g.add_node(f"input:{input_id}", kind="input", label=f"input {inp.name}", shape=inp.shape,
               var=input_id, line=_line(inp.span), span=inp.span)
    producer[input_id] = f"input:{input_id}"
    for p in params.values():
        g.add_node(f"param:{p.name}", kind="param", label=p.name, shape=p.shape,
                   origin=p.origin, created=p.created, line=_line(p.span), span=p.span)

    def flow(var: str, node: str, line: int) -> None:
        v = variables[var]
        g.add_edge(producer[var], node, kind="data", var=var, shape=v.shape,
                   label=v.id if v.hidden else v.name, line=line)

    def feed(param: str | None, node: str, kind: str, line: int) -> None:
        if param is not None:
            g.add_edge(f"param:{param}", node, kind=kind, var=None, shape=params[param].shape,
                       label=param, line=line)

    for index, step in enumerate(layers, start=1):
        line = _line(step.span)
        aff = step.affine
        a_node = f"L{index}:affine"
        m = aff.map
        created = {b for b in aff.biases if params[b].created}
        g.add_node(a_node, kind="affine", op=m.kind if m is not None else "linear",
                   transposed=m.transposed if m is not None else False,
                   label=describe(aff, lambda vid: _name(variables, vid), created),
                   shape=aff.out_shape, layer=index, line=line, span=step.span,
                   stride=m.stride if m is not None else None,
                   padding=m.padding if m is not None else None,
                   kernel=m.kernel if m is not None else None)
        for x in aff.inputs:
            flow(x, a_node, line)
        for weight in aff.weights:
            feed(weight, a_node, "weight", line)
        for bias in aff.biases:
            feed(bias, a_node, "bias", line)
        if isinstance(step, Layer) and step.linear:
            producer[step.out] = a_node
            continue
        act = f"L{index}:act"
        g.add_node(act, kind="activation", psi=step.psi_name, psi_params=dict(step.psi_params),
                   label=_psi_text(step.psi_name, step.psi_params), shape=aff.out_shape,
                   layer=index, line=line, span=step.span)
        g.add_edge(a_node, act, kind="data", var=None, shape=aff.out_shape,
                   label="pre-activation", line=line)
        if isinstance(step, Layer):
            producer[step.out] = act
            continue
        assert isinstance(step, Residual)
        v_node, add = f"L{index}:V", f"L{index}:add"
        base_shape = variables[step.base].shape
        v_label = step.v_weight + (".T" if step.v_transposed else "")
        g.add_node(v_node, kind="linear", label=v_label, transposed=step.v_transposed,
                   tied=step.tied, shape=base_shape, layer=index, line=line, span=step.span)
        g.add_edge(act, v_node, kind="data", var=None, shape=aff.out_shape, label="activation",
                   line=line)
        feed(step.v_weight, v_node, "weight", line)
        feed(step.branch_bias, v_node, "bias", line)
        g.add_node(add, kind="add", sign=step.sign, tied=step.tied,
                   label=("+" if step.sign > 0 else "−") + (" (tied)" if step.tied else ""),
                   shape=base_shape, layer=index, line=line, span=step.span)
        flow(step.base, add, line)
        g.add_edge(v_node, add, kind="data", var=None, shape=base_shape, label=v_label + " @ …",
                   line=line)
        producer[step.out] = add

    out = variables[output_id]
    g.add_node("output", kind="output", label=f"output {out.name}", shape=out.shape,
               var=output_id, line=_line(output_span), span=output_span)
    flow(output_id, "output", _line(output_span))
    return g


def _line(span: object) -> int:
    return getattr(span, "line", 0) or 0


def _name(variables: Mapping[str, Variable], vid: str) -> str:
    v = variables[vid]
    return v.id if v.hidden else v.name


_DOT_SHAPES = {
    "input": "invhouse", "param": "note", "affine": "box", "activation": "ellipse",
    "linear": "box", "add": "circle", "output": "house",
}
_DOT_EDGE_STYLE = {"data": "solid", "weight": "dashed", "bias": "dotted"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(net: NetworkIR) -> str:
    """Graphviz ``dot`` text for the network's graph (no Graphviz library needed)."""
    g = net.graph
    lines = [f"digraph {_quote(net.name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for node, data in g.nodes(data=True):
        label = data.get("label", node)
        shape = data.get("shape")
        if shape and data.get("kind") != "add":
            label += f"\n{format_shape(shape)}"
        attrs = [f"label={_quote(label)}", f"shape={_DOT_SHAPES.get(data.get('kind'), 'box')}"]
        if data.get("kind") == "param":
            attrs.append('style="filled", fillcolor="#eeeeee"')
        lines.append(f"  {_quote(node)} [{', '.join(attrs)}];")
    for u, v, data in g.edges(data=True):
        attrs = [f"style={_DOT_EDGE_STYLE.get(data.get('kind'), 'solid')}"]
        if data.get("kind") == "data" and data.get("var"):
            attrs.append(f"label={_quote(str(data['label']))}")
        lines.append(f"  {_quote(u)} -> {_quote(v)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
