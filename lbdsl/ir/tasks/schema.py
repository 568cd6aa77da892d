"""The settings loop shared by every task kind: keys, duplicates, readers, collected errors.

A task kind is a :class:`Schema`: which keys it accepts and how to read each value.  Reading a
task visits every setting, so all independent mistakes of a task are reported together; a
setting whose value is wrong is left out of the cross-setting checks that follow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ...errors import Diagnostic, SourceSpan
from ...syntax import tree
from ...terminal import first_control
from . import reader as r

__all__ = ["Context", "Schema", "Read", "read_settings", "typed_task", "ALIASES",
           "canonical_key", "SHARED_READERS", "plain"]

#: Other spellings a user may reach for; they mean the same key.
ALIASES: Mapping[str, str] = {
    "regularizer": "regulariser",
    "optimiser": "optimizer",
}


def canonical_key(key: str) -> str:
    """The key a spelling stands for (``regularizer`` → ``regulariser``)."""
    return ALIASES.get(key, key)


@dataclass(frozen=True, slots=True)
class Context:
    """What readers may consult beyond the expression: the network and what is known of it.

    ``variables`` maps the names a spec may write (``z3``, and ``y.relu`` for a hidden layer) to
    shapes; ``ids`` maps them to the IR's variable ids (a rebound name → its last version);
    ``input_name`` / ``input_id`` / ``input_shape`` describe the network's input.  All None
    when unknown.
    """

    network: str
    variables: Mapping[str, tuple[int, ...]] | None = None
    ids: Mapping[str, str] | None = None
    input_name: str | None = None
    input_id: str | None = None
    input_shape: tuple[int, ...] | None = None


Reader = Callable[[tree.Expr, str, Context], Any]


@dataclass(frozen=True, slots=True)
class Schema:
    """A task kind: its keys (in documentation order), readers, required keys and key hints."""

    kind: str
    readers: Mapping[str, Reader]
    required: tuple[str, ...] = ()
    hints: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[str, str] = field(default_factory=dict)
    shown: tuple[str, ...] = ()    # keys whose defaults ``lbdsl show`` lists when left out

    def unwritten(self, task: Any) -> dict[str, Any]:
        """Each optional setting ``task`` left out, with the record's default for it (the one
        place defaults are declared: :mod:`.records`)."""
        return {key: getattr(task, FIELDS.get(key, key)) for key in self.readers
                if key not in task.given and key not in self.required}


@dataclass(slots=True)
class Read:
    """The outcome of reading a task's settings."""

    values: dict[str, Any]
    spans: dict[str, SourceSpan]
    given: set[str]
    problems: list[Diagnostic]


def plain(read: Callable[[tree.Expr, str], Any]) -> Reader:
    """A reader of one value that needs no context (``plain(r.count)``)."""
    return lambda expr, what, ctx: read(expr, what)


def _read_save(expr: tree.Expr, what: str) -> str:
    path = r.string(expr, what)
    if not path.strip():
        r.fail(expr.span, f"{what} must name a directory, got an empty string")
    if first_control(path) is not None:   # a line break (`\n`) in a folder's name
        r.fail(expr.span, f"{what} must not hold a control character such as a line break",
               "name the directory with letters, digits, `_`, `-`, `.` and `/`")
    return path


def _read_seed(expr: tree.Expr, what: str) -> int:
    return r.integer(expr, what, minimum=0)


def _read_dtype(expr: tree.Expr, what: str) -> str:
    return r.choice(expr, what, ("float64", "float32"), noun="dtype", quoted=True)


#: Settings every solving task accepts.
SHARED_READERS: Mapping[str, Reader] = {
    "save": plain(_read_save),
    "seed": plain(_read_seed),
    "dtype": plain(_read_dtype),
    "figures": plain(r.boolean),
}


def read_settings(task: tree.Task, schema: Schema, ctx: Context,
                  other_kinds: Mapping[str, Schema]) -> Read:
    """Read every setting of ``task``; collect (never stop at) the problems."""
    out = Read({}, {}, set(), [])
    first: dict[str, tree.Setting] = {}
    for setting in task.settings:
        written = setting.key.id
        key = canonical_key(written)
        if key not in schema.readers:
            out.problems.append(_unknown_key(setting, schema, other_kinds))
            continue
        if key in first:
            where = first[key].key.span
            out.problems.append(Diagnostic(
                setting.key.span, f"`{written}` is set twice in this `{schema.kind}` task",
                f"first set at {where.line}:{where.column}; remove one of them"))
            continue
        first[key] = setting
        out.given.add(key)
        out.spans[key] = setting.value.span
        try:
            out.values[key] = schema.readers[key](setting.value, f"`{written}`", ctx)
        except r.Invalid as err:
            out.problems.extend(err.diagnostics)
    for key in schema.required:
        if key not in first:
            example = schema.examples.get(key)
            out.problems.append(Diagnostic(
                task.span, f"`{schema.kind} {task.network.id}` needs a `{key}` setting",
                f"e.g. {key} = {example}" if example else None))
    return out


#: Spec keys whose record field has another name (``lambda`` is a Python keyword).
FIELDS: Mapping[str, str] = {"lambda": "lam"}


def typed_task(cls: type, read: Read, task: tree.Task, **values: Any) -> Any:
    """The record ``cls`` of ``task``: the settings that were written (their record fields'
    defaults, declared once in :mod:`.records`, for the others), ``values`` overriding."""
    written = {FIELDS.get(k, k): v for k, v in read.values.items()}
    return cls(network=task.network.id, given=frozenset(read.given),
               spans=MappingProxyType(dict(read.spans)), span=task.span,
               network_span=task.network.span, **{**written, **values})


def _unknown_key(setting: tree.Setting, schema: Schema,
                 other_kinds: Mapping[str, Schema]) -> Diagnostic:
    key = setting.key.id
    article = "an" if schema.kind[0] in "aeiou" else "a"
    message = f"unknown setting `{key}` in {article} `{schema.kind}` task"
    listing = f"`{schema.kind}` settings: {', '.join(schema.readers)}"
    hint = schema.hints.get(key)
    owners = [k for k, s in other_kinds.items()
              if canonical_key(key) in s.readers and k != schema.kind]
    if hint is None and owners:
        hint = f"`{key}` is a setting of `{owners[0]}` tasks; {listing}"
    if hint is None:
        close = r.suggest(key, schema.readers)
        hint = close if close.startswith("did you mean") else listing
    return Diagnostic(setting.key.span, message, hint)
