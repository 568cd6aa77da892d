"""Sufficient conditions that cannot hold, decided from the structure (docs/certificate.md,
"Decided by the structure").

The numeric route tests ``H_ρ + μE₀ ⪰ 0`` (:mod:`.numeric`); its fixes test it again at other
λ, ρ and μ.  Two principal submatrices of ``H_ρ + μE₀`` are indefinite whatever ρ (and, for
the second, whatever μ), and a positive semidefinite matrix has positive semidefinite principal
submatrices, so each is a reason the condition fails that needs no eigenvalue of ``H_ρ``:

* **no curvature in the input** (exact): ``K`` and ``M`` have no block on ``u_0`` and ``W``
  has one (not zero).  With ``μ = 0`` the ``u_0`` diagonal block of ``H_ρ`` is ``0`` and its
  ``(u_0, z)`` block ``−W_{·0}ᵀ ≠ 0``: fails for every λ and ρ.
* **a hidden layer without curvature** (a weight norm): a plain layer ``l`` writes the block
  ``h`` (which no other row of ``M`` and not ``K`` reads) and a plain layer ``m`` reads it
  through ``A`` and writes ``o`` (which no other row of ``M`` reads).  On the blocks
  ``(z_l, h, z_m, o)`` the matrix is, per singular value σ of ``A``,

      T(σ) = [[1+ρ, −ρ,  0,   0   ],
              [−ρ,   ρ,  −σ,  0   ],
              [0,   −σ,  1+ρ, −ρ  ],
              [0,    0,  −ρ,  ρ+λ′]]        (λ′ = λ if ``K`` reads ``o``, else 0)

  and, eliminating ``z_l`` and ``o``, ``T(σ) ⪰ 0 ⇔ σ² ≤ f(ρ) = ρ/(1+ρ)·(1 + ρλ′/(ρ+λ′))``,
  with ``f(ρ) < 1 + λ′`` for every ρ > 0.  So ``‖A‖² ≥ 1 + λ′`` fails for every ρ and μ (μ
  acts on ``u_0``, outside these blocks) — for every λ when ``o`` is not the output, for
  ``λ ≤ ‖A‖² − 1`` when it is.

``‖A‖`` is bounded from below by ``‖A v‖`` for the unit vector ``v`` of a power iteration, and
the rule is used only when ``‖A v‖² ≥ (1 + λ′)(1 + GAP)``: within that relative gap of the
threshold the eigenvalues decide (the numeric route certifies ``λ_min ≥ −tol``, and ``λ_min(T)``
tends to 0 at the threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..lift.blocks import BlockOperator
from ..lift.compact import LiftedProblem

__all__ = ["Hidden", "Obstructions", "obstructions", "GAP"]

#: The relative gap above ``1 + λ′`` that ``‖A‖²`` must clear for the hidden-layer rule.
GAP = 1e-3
#: Power iterations for ``‖A‖`` (each a product with ``A`` and ``Aᵀ``), and their tolerance.
POWER_ITERS = 100
POWER_TOL = 1e-6


@dataclass(frozen=True)
class Hidden:
    """The hidden-layer rule on one pair: ``writer`` writes the hidden block, ``reader`` reads
    it through ``A`` (``norm2`` a lower bound of ``‖A‖²``, ``label`` how the spec writes it);
    ``output`` whether ``K`` reads the reader's block (then λ′ = λ)."""

    writer: Any
    reader: Any
    label: str
    norm2: float
    output: bool

    @property
    def lam_max(self) -> float:
        """The rule holds for every λ up to this (``inf``: every λ), and for none when < 0."""
        if not self.output:
            return math.inf if self.norm2 >= 1 + GAP else -math.inf
        return self.norm2 / (1 + GAP) - 1

    def blocks(self, lam: float) -> bool:
        return lam <= self.lam_max


@dataclass(frozen=True)
class Obstructions:
    """What the structure says of ``H_ρ + μE₀ ⪰ 0`` (module docstring): ``input`` whether
    ``u_0`` has no curvature of its own (then μ = 0 fails); ``hidden`` the pairs where the
    hidden-layer rule holds for some λ (the strongest first)."""

    input: bool
    hidden: list[Hidden] = field(default_factory=list)

    def every_modulus(self, lam: float) -> Hidden | None:
        """The hidden-layer pair that fails the condition at λ whatever ρ and μ, or None."""
        return next((h for h in self.hidden if h.blocks(lam)), None)

    def blocks(self, lam: float, modulus: float) -> bool:
        """Whether ``H_ρ + μE₀ ⪰ 0`` fails at (λ, μ) for every ρ, from the structure."""
        return (self.input and modulus == 0) or self.every_modulus(lam) is not None


def _input_without_curvature(lp: LiftedProblem) -> bool:
    """Whether ``K`` and ``M`` have no block on ``u_0`` while ``W`` does (and is not zero)."""
    if any(j == 0 for _, j in lp.K.entries) or any(j == 0 for _, j in lp.M.entries):
        return False
    if not any(j == 0 for _, j in lp.W.entries):
        return False
    n0 = lp.u_blocks[0].size
    probe = np.zeros(lp.u_size)
    probe[:n0] = np.random.default_rng(0).standard_normal(n0)
    return bool(np.any(np.asarray(lp.W.forward(lp.xp.asarray(probe))) != 0))


def _plain_row(lp: LiftedProblem, layer: Any) -> bool:
    """Layer ``l``'s row is plain: ``+I`` at its output in ``M`` (the only entry of that
    column), ``I`` in ``V``."""
    out = layer.output_block
    column = [(i, e) for (i, j), e in lp.M.entries.items() if j == out]
    v = lp.V.entries.get((layer.index, layer.index))
    return (len(column) == 1 and column[0][0] == layer.index and column[0][1].op is None
            and column[0][1].coef == 1.0 and v is not None and v.op is None and v.coef == 1.0)


def _norm2(entry: Any, rows: int, cols: int, xp: Any) -> float:
    """``‖A v‖²`` for the unit ``v`` of a power iteration on the entry ``A``: ``≤ ‖A‖²``."""
    if entry.op is None:
        return float(entry.coef) ** 2
    op = BlockOperator((rows,), (cols,), {(0, 0): entry})
    v = np.random.default_rng(0).standard_normal(cols)
    v /= np.linalg.norm(v)
    previous = 0.0
    for k in range(POWER_ITERS):
        g = np.asarray(op.adjoint(op.forward(xp.asarray(v))), dtype=float)
        size = float(np.linalg.norm(g))
        if size == 0.0:
            return 0.0
        v = g / size
        if k and abs(size - previous) <= POWER_TOL * size:
            break
        previous = size
    av = np.asarray(op.forward(xp.asarray(v)), dtype=float)
    return float(av @ av) / float(v @ v)


def obstructions(lp: LiftedProblem) -> Obstructions:
    """The rules of the module docstring on ``lp`` (a few power iterations, no eigenvalue
    of ``H_ρ``)."""
    writers = {layer.output_block: layer for layer in lp.layers}
    hidden: list[Hidden] = []
    for (m, j), entry in lp.W.entries.items():
        writer, reader = writers.get(j), lp.layers[m]
        if writer is None or j == lp.output_block or writer.index == m:
            continue
        o = reader.output_block
        if not (_plain_row(lp, writer) and _plain_row(lp, reader)):
            continue
        # the blocks (z_l, h, z_m, o) see no other coupling: l reads neither h nor o, m not o
        if any(key in lp.W.entries for key in ((writer.index, j), (writer.index, o), (m, o))):
            continue
        norm2 = _norm2(entry, reader.z_size, lp.u_blocks[j].size, lp.xp)
        pair = Hidden(writer, reader, entry.label.strip() or "A", norm2, o == lp.output_block)
        if pair.lam_max >= 0:
            hidden.append(pair)
    hidden.sort(key=lambda h: h.lam_max, reverse=True)
    return Obstructions(_input_without_curvature(lp), hidden)
