"""``lbdsl show --lifted``: the block structure of K, M, V, W and b as small tables."""

from __future__ import annotations

from .blocks import BlockOperator
from .compact import LiftedProblem

__all__ = ["block_tables"]


def _table(title: str, op: BlockOperator, rows: list[str], cols: list[str]) -> list[str]:
    cells = [[op.label(i, j) for j in range(len(cols))] for i in range(len(rows))]
    width = max([len(c) for c in cols] + [len(x) for row in cells for x in row] + [1])
    head = max(len(r) for r in rows) if rows else 0
    lines = [f"{title}  ({op.shape_out[0]} × {op.shape_in[0]})",
             " " * (head + 2) + " ".join(c.rjust(width) for c in cols)]
    for name, row in zip(rows, cells):
        lines.append(f"{name.rjust(head)}  " + " ".join(x.rjust(width) for x in row))
    return lines


def _versions(lp: LiftedProblem) -> list[str]:
    """Each u block's variable, numbered as ``lbdsl show`` numbers SSA versions: a name bound
    again (``u = u + …``) is ``u``, ``u#2``, ``u#3``, …"""
    seen: dict[str, int] = {}
    out = []
    for blk in lp.u_blocks:
        seen[blk.name] = seen.get(blk.name, 0) + 1
        out.append(blk.name if seen[blk.name] == 1 else f"{blk.name}#{seen[blk.name]}")
    return out


def block_tables(lp: LiftedProblem, max_blocks: int = 12) -> str:
    """K, M, V, W block tables with block sizes (truncated beyond ``max_blocks`` blocks)."""
    u_names = [f"{name}[{blk.size}]" for name, blk in zip(_versions(lp), lp.u_blocks)]
    z_names = [f"z{layer.index + 1}[{layer.z_size}]" for layer in lp.layers]
    row_names = [f"l{layer.index + 1}" for layer in lp.layers]
    out = [f"lifted network {lp.network.name}: u has {len(lp.u_blocks)} blocks "
           f"({lp.u_size} entries), z has {len(lp.layers)} blocks ({lp.z_size} entries)"]
    if len(lp.u_blocks) > max_blocks:
        out.append(f"(block tables omitted: {len(lp.u_blocks)} blocks > {max_blocks})")
    else:
        out += _table("K", lp.K, ["N(u)"], u_names)
        out += _table("M", lp.M, row_names, u_names)
        out += _table("V", lp.V, row_names, z_names)
        out += _table("W", lp.W, z_names, u_names)
    biases = [" + ".join(layer.biases) or "0" for layer in lp.layers]
    out.append("b = (" + ", ".join(biases) + ")")
    if lp.c is not None:
        branch = [layer.branch_bias or "0" for layer in lp.layers]
        out.append("c = (" + ", ".join(branch) + ")   (M u = V z + c)")
    psis = [f"{layer.step.psi_name}" for layer in lp.layers]
    out.append("Ψ(z) = " + " + ".join(f"{p}(z{i + 1})" for i, p in enumerate(psis)))
    return "\n".join(out)
