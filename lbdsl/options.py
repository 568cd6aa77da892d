"""Options declared once, on the dataclass that uses them.

A field made by :func:`option` is an option a spec may write: a solver's settings
(``tau: float | None = option("positive", None)``), an optimizer's (``lr``), a regulariser's
parameters (``box``'s ``lo`` and ``hi``).  Its *domain* says which values it takes; the spec
reader (:mod:`lbdsl.ir.tasks`) reads each domain with its own reader and caret, and
:func:`options` lists a class's options in field order — so the dataclass *is* the option list,
and nothing else repeats it.  Fields made otherwise are settings for Python callers only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["Domain", "DOMAINS", "Option", "option", "options", "admits"]

Domain = Literal["number", "positive", "nonnegative", "count", "unit", "boolean"]


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and not math.isnan(value)


#: Each domain: the test a value passes and the requirement in words (for messages).
DOMAINS: Mapping[str, tuple[Callable[[Any], bool], str]] = MappingProxyType({
    "number": (_real, "a number"),
    "positive": (lambda v: _real(v) and math.isfinite(v) and v > 0, "a positive number"),
    "nonnegative": (lambda v: _real(v) and math.isfinite(v) and v >= 0, "a number >= 0"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
              "an integer >= 1"),
    "unit": (lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
})


@dataclass(frozen=True)
class Option:
    """A spec option: its field name, domain, default (``REQUIRED`` when it has none) and
    what it does, in a few words."""

    name: str
    domain: Domain
    default: Any
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def option(domain: Domain, default: Any = dataclasses.MISSING, *, doc: str = "") -> Any:
    """A dataclass field that a spec may set (module docstring)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown option domain {domain!r}")
    return dataclasses.field(default=default, metadata={"option": (domain, doc)})


def options(cls: type) -> tuple[Option, ...]:
    """The options of the dataclass ``cls``, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        if "option" in f.metadata:
            domain, doc = f.metadata["option"]
            out.append(Option(f.name, domain, f.default, doc))
    return tuple(out)


def admits(domain: str, value: Any) -> bool:
    """Whether ``value`` lies in ``domain``."""
    return DOMAINS[domain][0](value)
