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

__all__ = ["Domain", "DOMAINS", "Option", "option", "options", "admits", "check_options"]

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
    """A spec option: its field name, domain, default (``dataclasses.MISSING`` when it has
    none), what it does in a few words, and a narrower condition than its domain where it has
    one (``valid``, stated as ``requirement``: ``"0 < a <= 1"``)."""

    name: str
    domain: Domain
    default: Any
    doc: str = ""
    valid: Callable[[Any], bool] | None = None
    requirement: str = ""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def need(self) -> str:
        """What a value must be, in words."""
        return self.requirement or DOMAINS[self.domain][1]

    def admits(self, value: Any) -> bool:
        """Whether ``value`` lies in the domain and meets the condition."""
        return DOMAINS[self.domain][0](value) and (self.valid is None or bool(self.valid(value)))


def option(domain: Domain, default: Any = dataclasses.MISSING, *, doc: str = "",
           valid: Callable[[Any], bool] | None = None, requirement: str = "") -> Any:
    """A dataclass field that a spec may set (module docstring)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown option domain {domain!r}")
    return dataclasses.field(default=default,
                             metadata={"option": (domain, doc, valid, requirement)})


def options(cls: type) -> tuple[Option, ...]:
    """The options of the dataclass ``cls``, in field order."""
    return tuple(Option(f.name, f.metadata["option"][0], f.default, *f.metadata["option"][1:])
                 for f in dataclasses.fields(cls) if "option" in f.metadata)


def admits(domain: str, value: Any) -> bool:
    """Whether ``value`` lies in ``domain``."""
    return DOMAINS[domain][0](value)


def check_options(settings: Any) -> None:
    """``ValueError`` naming the first option of the dataclass instance ``settings`` whose
    value is outside its domain (None, where it is the default, means "not given")."""
    for o in options(type(settings)):
        value = getattr(settings, o.name)
        if value is None and o.default is None:
            continue
        if not o.admits(value):
            raise ValueError(f"{o.name} must be {o.need}, got {value!r}")
