"""``lbdsl show``'s view of a task: each setting as the spec wrote it, defaults marked."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from ...errors import span_text
from .build import SCHEMAS

__all__ = ["describe_task"]

_BOOKKEEPING = {"given", "spans", "span", "network_span", "options"}


def _value(value: Any) -> str:
    """A default value the way a spec would write it."""
    if hasattr(value, "spec_text"):
        return value.spec_text()
    if value is None:
        return "none (check reports the set of ρ where the certificate holds)"
    if is_dataclass(value) and hasattr(value, "value") and not hasattr(value, "name"):
        return _value(value.value)  # FixedAlpha(1) is written `alpha = 1`
    if is_dataclass(value):
        args = [f"{f.name} = {_value(getattr(value, f.name))}" for f in fields(value)
                if f.name not in _BOOKKEEPING and f.name != "name"]
        name = getattr(value, "name", type(value).__name__.lower())
        return f"{name}({', '.join(args)})" if args else name
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_task(task: Any, source: str) -> str:
    """``invert perceptron (line 12)`` and one line per setting: written ones verbatim,
    documented defaults marked ``(default)``."""
    line = task.span.line if task.span is not None else "?"
    out = [f"{task.kind} {task.network}  (line {line})"]
    rows: list[tuple[str, str]] = []
    for key, span in task.spans.items():
        rows.append((key, span_text(source, span)))
    schema = SCHEMAS.get(task.kind)
    unwritten = schema.unwritten(task) if schema is not None else {}
    for key in schema.shown if schema is not None else ():
        if key in unwritten:
            rows.append((key, f"{_value(unwritten[key])}  (default)"))
    width = max((len(k) for k, _ in rows), default=0)
    out += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(out)
