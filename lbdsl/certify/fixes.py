"""The fixes a certificate suggests, each tested: a change is shown only if the certificate,
recomputed with the change applied, holds.

A route supplies ``verdict(λ, ρ, μ)``: with ``ρ`` a number, whether the certificate holds
there; with ``ρ = None``, the smallest ``ρ`` where it holds at this λ and μ (None: none).  The
candidates, in the order they are tried and shown (the first that certifies of each kind):

1. another ``rho`` (when the spec gives one): the threshold at the same λ and μ;
2. a larger ``lambda``: the first of ``2λ, 10λ, 100λ, 1000λ`` that certifies, narrowed by
   geometric bisection towards the last that did not (with a ``rho`` where one is needed);
3. a strongly convex regulariser on the input: modulus ``μ' = α·w`` of ``w * l2sq`` on a
   ladder from ``10⁻²`` to ``10³`` times the network's scale, narrowed the same way — or, where
   the route computes it (``least``), the smallest such μ itself, rounded up and tested;
4. (tied chains with a ``−`` layer) the ``+`` sign, at this λ or the first of the ladder;
5. where the route computes the smallest modulus and neither 2 nor 3 certifies alone: the
   first λ of the ladder with its smallest modulus.

``Fix.change`` is the change itself (``lam``, ``rho``, ``modulus``, ``sign``), so that a test
can apply every printed hint and see the verdict change.

A verdict may carry a ``confirm`` attribute, another verdict: the candidates are then explored
with the first (a cheaper one — the floating-point route of a long tied chain) and every value
shown is tested with ``confirm`` (the certificate's own route); a value it does not confirm is
not shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fix", "Verdict", "search", "round_up"]

#: ``verdict(λ, ρ, μ)``: certified at ρ (a number), or the smallest certifying ρ (``ρ = None``).
Verdict = Callable[[float, float | None, float], Any]

LAMBDA_LADDER = (2.0, 10.0, 100.0, 1000.0)
MODULUS_LADDER = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class Fix:
    """A change to the spec under which the certificate holds (tested), in words and as data."""

    text: str
    change: dict[str, Any] = field(default_factory=dict)


def round_up(x: float, digits: int = 4) -> float:
    """``x`` rounded up to ``digits`` significant digits (a threshold shown must be one that
    certifies, not one just below it)."""
    if not (math.isfinite(x) and x > 0):
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    up = math.ceil(x / scale - 1e-9) * scale    # a value already on the grid stays
    while up < x:                               # … but never a rounding below x
        up = math.nextafter(up, math.inf)
    return up


def _with_rho(verdict: Verdict, lam: float, rho: float | None, mu: float
              ) -> dict[str, float] | None:
    """The change ``{lam, modulus}`` needs: ``{}`` if it certifies at the spec's ρ (or, with no ρ
    given, for some ρ), ``{"rho": ρ'}`` if only at another ρ, None if not at all."""
    if rho is not None and verdict(lam, rho, mu):
        return {}
    threshold = verdict(lam, None, mu)
    if threshold is None:
        return None
    return {} if rho is None else {"rho": float(threshold)}


def _confirm(verdict: Verdict) -> Verdict:
    """The verdict that tests what is shown (module docstring)."""
    return getattr(verdict, "confirm", verdict)


def _rho_text(change: dict[str, Any]) -> str:
    return f", rho = {change['rho']:g}" if "rho" in change else ""


def search(verdict: Verdict, lam: float, rho: float | None, modulus: float, scale: float,
           plus: Verdict | None = None,
           least: Callable[[float, float | None], float | None] | None = None) -> list[Fix]:
    """The tested fixes of the module docstring (empty: none of the candidates certifies).
    ``least(λ, ρ)``, where given, is the smallest modulus that certifies at λ and ρ (or, ρ
    None, at some ρ the route tries; None: none does) — it replaces the modulus ladder."""
    fixes: list[Fix] = []
    if plus is not None:
        fixes.extend(_ladder(plus, lam, rho, modulus, "use `+` in the `−` tied layers",
                             {"sign": "+"}, with_lambda=True))
    confirm = _confirm(verdict)
    confirming = confirm is not verdict
    if rho is not None:
        threshold = confirm(lam, None, modulus)
        if threshold is not None:
            fixes.append(Fix(f"set rho = {threshold:g} (or more)", {"rho": float(threshold)}))
    lam_fix = _smallest(lambda x: _with_rho(verdict, x, rho, modulus), lam,
                        [f * lam for f in LAMBDA_LADDER],
                        (lambda x: _with_rho(confirm, x, rho, modulus)) if confirming else None)
    if lam_fix is not None:
        value, change = lam_fix
        change = {"lam": value, **change}
        fixes.append(Fix(f"set lambda = {value:g}{_rho_text(change)}", change))
    if least is not None:
        mu_fix = _least(least, confirm, lam, rho, modulus)
    else:
        mu_fix = _smallest(lambda x: _with_rho(verdict, lam, rho, x), modulus,
                           [step * scale for step in MODULUS_LADDER if step * scale > modulus],
                           (lambda x: _with_rho(confirm, lam, rho, x)) if confirming else None)
    if mu_fix is not None:
        value, change = mu_fix
        change = {"modulus": value, **change}
        fixes.append(Fix(f"regularise the input strongly convexly: α·w ≥ {value:g} for "
                         f"`w * l2sq` in the invert task{_rho_text(change)}", change))
    if least is not None and lam_fix is None and mu_fix is None:
        for factor in LAMBDA_LADDER:      # neither alone: a larger λ with the smallest modulus
            both = _least(least, confirm, factor * lam, rho, modulus)
            if both is not None:
                value, change = both
                change = {"lam": factor * lam, "modulus": value, **change}
                fixes.append(Fix(f"set lambda = {factor * lam:g} and regularise the input "
                                 f"strongly convexly: α·w ≥ {value:g} for `w * l2sq` in the "
                                 f"invert task{_rho_text(change)}", change))
                break
    return fixes


def _least(least: Callable[[float, float | None], float | None], confirm: Verdict, lam: float,
           rho: float | None, modulus: float) -> tuple[float, dict[str, Any]] | None:
    """The route's smallest modulus, rounded up to 3 digits and tested (a rounding step more
    if the test's tolerance needs it); None when there is none above ``modulus``."""
    value = least(lam, rho)
    if value is None or not math.isfinite(value) or value <= modulus:
        return None
    for shown in (round_up(value, 3), round_up(value * 1.01, 3)):
        change = _with_rho(confirm, lam, rho, shown)
        if change is not None:
            return shown, change
    return None


def _smallest(test: Callable[[float], dict[str, Any] | None], below: float,
              ladder: list[float], confirm: Callable[[float], dict[str, Any] | None] | None = None,
              steps: int = 8) -> tuple[float, dict[str, Any]] | None:
    """The first value of ``ladder`` for which ``test`` gives a change, narrowed by ``steps``
    geometric bisections towards the last value that failed (``below`` before the ladder), then
    rounded up — and tested once more (by ``confirm`` when given), so that the value shown is
    one that certifies."""
    if confirm is not None:
        found = _smallest(test, below, ladder, None, steps)
        if found is None:
            return None
        shown = round_up(found[0], 3)
        for value in (shown, found[0]):
            change = confirm(value)
            if change is not None:
                return value, change
        return None
    fail = below
    for value in ladder:
        change = test(value)
        if change is None:
            fail = value
            continue
        lo, hi, best = fail, value, (value, change)
        for _ in range(steps if lo > 0 else 0):
            mid = math.sqrt(lo * hi)
            found = test(mid)
            lo, hi = (lo, mid) if found is not None else (mid, hi)
            if found is not None:
                best = (mid, found)
        shown = round_up(best[0], 3)
        found = test(shown) if shown != best[0] else best[1]
        return (shown, found) if found is not None else best
    return None


def _ladder(verdict: Verdict, lam: float, rho: float | None, modulus: float, what: str,
            base: dict[str, Any], with_lambda: bool) -> list[Fix]:
    """``what`` at this λ, else at the first λ of the ladder that certifies with it."""
    for factor in (1.0, *(LAMBDA_LADDER if with_lambda else ())):
        change = _with_rho(verdict, factor * lam, rho, modulus)
        if change is not None and _confirm(verdict) is not verdict:
            change = _with_rho(_confirm(verdict), factor * lam, rho, modulus)
        if change is not None:
            if factor != 1.0:
                change = {"lam": factor * lam, **change}
            more = (f" and set lambda = {change['lam']:g}" if "lam" in change else "") + \
                _rho_text(change)
            return [Fix(what + more, {**base, **change})]
    return []
