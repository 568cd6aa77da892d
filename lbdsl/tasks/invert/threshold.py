"""Bregman data that cannot be told from noise: set to the flat value of σ they are near.

Where σ keeps a value ``v`` on a whole interval ``I`` of z (relu: 0 on z ≤ 0), a noisy
measurement ``v + ε`` of a unit with ``z† ∈ I`` costs ``B_Ψ(v + ε, z†) = ½ε² + |ε|·dist(z†, ∂I)``
(relu: ``½ε² + ε|z†|``, for ε > 0): the noise is amplified by the pre-activation, the seed's
bound ``B_Ψ(f^δ, Wu† + b) ≤ δ²`` fails, and the optimum pulls every such unit towards the edge
of ``I``.  Each measurement within ``k·σ`` of a flat value is therefore set to it before a
Bregman solve (:meth:`~lbdsl.prox.base.Psi.snap`): the truth's penalty on those units is 0
again, at the price of a bias below ``k·σ`` on units truly active that close to ``v``
(docs/inversion.md, "Data that cannot be told from noise").

The noise level σ (one for the whole data array):

* ``threshold = auto(sigma = S)``: ``S``;
* noise lbdsl drew itself: ``gaussian(sigma = S)`` → ``S``; ``gaussian(relative = R)`` →
  ``‖noise‖₂/√m`` (the draw is scaled to ``R·‖N(u†)‖`` exactly);
* otherwise estimated from the data: an entry that lies past a flat value at the edge of
  dom Ψ (relu: ``f < 0``; clip: below lo, above hi) is the flat value plus noise that went the
  wrong way, so ``σ̂² = mean(d²)`` over the ``d = f − P_{dom Ψ}(f)`` ≠ 0 (the second moment of a
  half-normal sample is σ²), leaving out outliers beyond :data:`OUTLIER` times the
  median-based estimate ``median|d| / 0.6745``.  Units truly active near the edge and pushed past it by their
  noise have ``|d| < |ε|``: the estimate is biased low, by a few percent for Gaussian weights
  (tests/tasks/test_threshold.py measures it).  It needs :data:`MIN_SAMPLE` such entries; a Ψ
  without a flat edge (soft: its flat value 0 lies inside dom Ψ) gives no estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...backend import to_numpy
from ...ir.tasks.records import GaussianNoise, InvertTask
from ..data import Observed

__all__ = ["MIN_SAMPLE", "MISFIT_WARNING", "Snapping", "noise_level", "estimate_sigma",
           "threshold", "misfit_ratio"]

#: The fewest entries outside dom Ψ σ is estimated from (fewer: the data are not thresholded).
MIN_SAMPLE = 10

#: The median of |N(0, 1)|: the half-normal's median is this times σ.
_HALF_NORMAL_MEDIAN = 0.6744897501960817

#: Entries farther past dom Ψ than this many (median-based) σ are outliers, not noise.
OUTLIER = 5.0

#: :func:`misfit_ratio` above this: the Bregman fidelity carries far more than the data's noise
#: energy (measured in docs/inversion.md: ≤ 0.02 on the shipped specs and the cases the
#: threshold fixes, 12 to 50 where the Bregman fidelity loses to the quadratic one by 5 to
#: 24 dB; also above it for sigmoid and mildly saturated tanh outputs, which do not lose).
MISFIT_WARNING = 10.0


@dataclass(frozen=True)
class Snapping:
    """What thresholding the Bregman data did: ``snapped`` of ``entries`` set to a flat value
    of the output layer's σ, at ``k·sigma``; ``skipped`` says why nothing was tried."""

    k: float
    sigma: float | None
    source: str                 # where σ came from ("" when it was not needed)
    values: tuple[float, ...]   # the flat values of σ
    snapped: int
    entries: int
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"k": self.k, "sigma": self.sigma, "sigma_from": self.source,
                "width": None if self.sigma is None else self.k * self.sigma,
                "flat_values": list(self.values), "snapped": self.snapped,
                "entries": self.entries, "skipped": self.skipped}

    def describe(self) -> str | None:
        """One line for the console (None when thresholding was off or did not apply)."""
        if self.skipped is not None and self.sigma is None and self.values:
            return f"data: not thresholded ({self.skipped})"
        if self.skipped is not None:
            return None
        values = " or ".join(f"{v:g}" for v in self.values)
        return (f"data: {self.snapped} of {self.entries} entries within {self.k:.3g}σ of "
                f"{values} set to it, as noise (σ = {self.sigma:.3g} from {self.source}; "
                "`threshold = none` keeps them)")


def noise_level(task: InvertTask, observed: Observed) -> tuple[float, str] | None:
    """``(σ, where it came from)`` from the spec or the task's noise model, None if neither
    says (loaded data without ``gaussian(...)``)."""
    if task.threshold.sigma is not None:
        return float(task.threshold.sigma), "the spec"
    noise = getattr(task.data, "noise", None)
    if not isinstance(noise, GaussianNoise) or observed.noise_norm is None:
        return None
    if noise.kind == "sigma":
        return float(noise.value), "the noise model"
    return observed.noise_norm / math.sqrt(max(observed.f.size, 1)), "the noise model"


def estimate_sigma(psi: Any, f: np.ndarray) -> tuple[float, int]:
    """``(σ̂, n)``: the noise level estimated from the ``n`` entries of ``f`` that lie past a
    flat value of σ at the edge of dom Ψ, ``σ̂² = mean(d²)`` (``(0.0, 0)`` when there are
    none)."""
    f = np.asarray(f, dtype=np.float64)
    projected = np.asarray(to_numpy(psi.project_domain(f, 0.0)), dtype=np.float64)
    outside = projected != f
    at_flat = np.zeros_like(outside)
    for value in psi.flat_values():
        at_flat |= projected == value
    d = np.abs((f - projected)[outside & at_flat])
    if d.size == 0:
        return 0.0, 0
    # an outlier (one entry of −5 among noise of 0.02) must not become the noise level: the
    # half-normal's median (0.6745σ) sets a bound no pure-noise entry reaches (5σ: p = 6e-7),
    # and the second moment is taken below it
    robust = float(np.median(d)) / _HALF_NORMAL_MEDIAN
    kept = d[d <= OUTLIER * robust] if robust > 0 else d
    return float(np.sqrt(np.mean(kept * kept))), int(kept.size)


def _edge_flat(psi: Any) -> bool:
    """Whether a flat value of σ lies on the edge of dom Ψ (relu's 0, clip's ends), where the
    data past it are pure noise (soft's 0 lies inside: nothing is past it)."""
    probe = np.asarray([v + d for v in psi.flat_values() for d in (-1e-3, 1e-3)])
    moved = np.asarray(to_numpy(psi.project_domain(probe, 0.0)), dtype=np.float64)
    return bool(np.any(moved != probe))


def threshold(task: InvertTask, psi: Any | None, observed: Observed, f_raw: np.ndarray,
              f: np.ndarray) -> tuple[np.ndarray, Snapping]:
    """``f`` (already projected onto dom Ψ) with the entries within ``k·σ`` of a flat value of
    the output layer's σ set to it; σ as the module docstring says (estimated from ``f_raw``)."""
    k = task.threshold.k_for(f.shape[-1] if f.ndim else 1)
    values = tuple(psi.flat_values()) if psi is not None else ()
    entries = int(f.size)
    if task.threshold.off:
        return f, Snapping(k, None, "", values, 0, entries, "threshold = none")
    if not values:
        name = "a residual sum" if psi is None else psi.name
        return f, Snapping(k, None, "", values, 0, entries,
                           f"the output ({name}) keeps no value on an interval of z")
    known = noise_level(task, observed)
    if known is None:
        sigma, n = estimate_sigma(psi, f_raw)
        if not _edge_flat(psi):
            return f, Snapping(k, None, "", values, 0, entries,
                               f"σ unknown: the flat value of {psi.name} lies inside its "
                               "domain, so the data cannot tell its noise; give threshold = "
                               "auto(sigma = S)")
        if n == 0:
            return f, Snapping(k, None, "", values, 0, entries,
                               f"no entry lies outside dom {psi.name}: the data look "
                               "noise-free; if they are not, give threshold = auto(sigma = S)")
        if n < MIN_SAMPLE:
            return f, Snapping(k, None, "", values, 0, entries,
                               f"σ unknown: {n} entries lie outside dom {psi.name}, fewer than "
                               f"{MIN_SAMPLE} to estimate it from; give threshold = "
                               "auto(sigma = S)")
        known = (sigma, f"the {n} entries outside dom {psi.name}")
    sigma, source = known
    snapped = np.asarray(to_numpy(psi.snap(f, k * sigma)), dtype=np.float64)
    moved = int(np.count_nonzero(snapped != f))
    return snapped, Snapping(k, sigma, source, values, moved, entries)


def misfit_ratio(fidelity: float, sigma: float | None, entries: int) -> float | None:
    """``F(u*) / (½σ²m)``: the Bregman fidelity at the solution over the noise energy of the
    ``m`` data.  At the truth it is about the share of units not set to a flat value (≤ 1):
    far above, the data are not explained within their noise — the fidelity amplifies noise
    where σ is nearly flat (leaky relu with a small slope, tanh near ±1, relu with
    ``threshold = none``) or α is too large.  None when σ is unknown or 0."""
    if sigma is None or entries <= 0 or not math.isfinite(fidelity):
        return None
    energy = 0.5 * float(sigma) * float(sigma) * entries
    if not (math.isfinite(energy) and energy > 0):      # σ² under- or overflowed
        return None
    ratio = float(fidelity) / energy
    return ratio if math.isfinite(ratio) else None
