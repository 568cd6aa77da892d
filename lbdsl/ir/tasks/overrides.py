"""``lbdsl solve --set key=value``: replacing a task's settings from the command line.

Each override is parsed by the real parser, wrapped in a one-setting ``check`` block, so that a
value means exactly what it would mean in a spec.  Spans of the new settings point into the
override text: file ``--set``, line = the override's position among the overrides (1-based),
column = the column in its text.  ``solver.max_iter=100`` changes one option of a call and keeps
the others.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ...errors import Diagnostic, SourceSpan, SpecError
from ...syntax import tree
from .schema import canonical_key

__all__ = ["OVERRIDE_FILE", "parse_override", "apply_overrides", "apply_overrides_to_module"]

OVERRIDE_FILE = "--set"

_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*")

#: Settings whose default is a call, so that ``KEY.OPTION=…`` works without setting KEY first.
_DEFAULT_CALLS = {("invert", "solver"): "auto"}


def _span(line: int, start: int, end: int) -> SourceSpan:
    return SourceSpan(OVERRIDE_FILE, line, start, line, end)


def _respan(node: Any, fn: Callable[[SourceSpan], SourceSpan]) -> Any:
    if isinstance(node, SourceSpan):
        return fn(node)
    if isinstance(node, tuple):
        return tuple(_respan(x, fn) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{f.name: _respan(getattr(node, f.name), fn)
                                            for f in dataclasses.fields(node)})
    return node


def parse_override(text: str, index: int = 1) -> tuple[str, str | None, tree.Name, tree.Expr]:
    """``(key, option, key_name, value)`` of one override ``KEY=VALUE`` / ``KEY.OPTION=VALUE``.

    ``index`` is the override's 1-based position, used as its line number in spans.
    """
    from ...syntax.parser import parse  # the parser is the only judge of what a value means

    key_text, eq, value = text.partition("=")
    if not eq:
        raise SpecError([Diagnostic(_span(index, 1, len(text) + 1),
                                    f"expected KEY=VALUE, got `{text}`",
                                    "e.g. --set alpha=0.02 or --set solver.max_iter=100")])
    match = _KEY.fullmatch(key_text)
    if match is None:
        raise SpecError([Diagnostic(_span(index, 1, len(key_text) + 1),
                                    f"`{key_text.strip()}` is not a setting name",
                                    "e.g. --set alpha=0.02 or --set solver.max_iter=100")])
    if not value.strip():
        column = len(key_text) + 2
        raise SpecError([Diagnostic(_span(index, column - 1, column),
                                    f"missing value after `{key_text.strip()}=`",
                                    f"e.g. --set {key_text.strip()}=…")])
    if "\n" in value or "\r" in value:
        raise SpecError([Diagnostic(_span(index, len(key_text) + 2, len(text) + 1),
                                    "the value of an override must be on one line")])
    # The key is masked by underscores of the same length, so columns match the override text.
    line = "_" * len(key_text) + "=" + value
    source = "check _ {\n" + line + "\n}\n"

    def to_override(span: SourceSpan) -> SourceSpan:
        if span.line == 2:
            end = span.end_column if span.end_line == 2 else len(line) + 1
            return _span(index, span.column, end)
        return _span(index, len(line) + 1, len(line) + 2)  # past the end of the value

    try:
        module = parse(source, OVERRIDE_FILE)
    except SpecError as err:
        diagnostics = []
        for d in err.diagnostics:
            if d.span is not None and d.span.line == 2:
                diagnostics.append(Diagnostic(to_override(d.span), d.message, d.hint))
            else:  # the error is in the wrapper: the value stopped too early
                hint = d.hint.split(";")[0] if d.hint else None
                message = f"the value `{value.strip()}` is not one complete expression"
                diagnostics.append(Diagnostic(_span(index, len(text) + 1, len(text) + 2),
                                              message, hint))
        raise SpecError(diagnostics) from None
    settings = module.tasks[0].settings if len(module.tasks) == 1 else ()
    if module.networks or len(module.tasks) != 1 or len(settings) != 1:
        raise SpecError([Diagnostic(_span(index, len(key_text) + 2, len(text) + 1),
                                    f"the value of --set {key_text.strip()} must be one "
                                    "expression", "e.g. --set solver=pdhg(max_iter = 100)")])
    expr = _respan(settings[0].value, to_override)
    key, option = match.group(1), match.group(2)
    start = match.start(1) + 1
    name = tree.Name(key, _span(index, start, start + len(key)))
    return key, option, name, expr


def _parsed(overrides: Sequence[str], problems: list[Diagnostic],
            ) -> Iterator[tuple[int, str, tuple[str, str | None, tree.Name, tree.Expr]]]:
    """``(index, text, parse_override(text))`` for each well-formed override; the malformed
    ones add their diagnostics to ``problems``."""
    for index, text in enumerate(overrides, start=1):
        try:
            yield index, text, parse_override(text, index)
        except SpecError as err:
            problems.extend(err.diagnostics)


def apply_overrides(task: tree.Task, overrides: Sequence[str], *,
                    only_known_keys: bool = False) -> tree.Task:
    """``task`` with each ``KEY=VALUE`` override replacing (or adding) the setting KEY.

    ``KEY.OPTION=VALUE`` replaces or adds one keyword of the call KEY holds.  With
    ``only_known_keys``, overrides whose KEY the task's kind does not accept are skipped
    (for applying one ``--set`` list to a file with several kinds of task); otherwise they are
    kept and :func:`build_task` reports them as unknown settings.  All malformed overrides are
    reported together, as a :class:`SpecError` whose source is the override texts, one per line.
    """
    from .build import SCHEMAS

    problems: list[Diagnostic] = []
    settings = list(task.settings)
    known = SCHEMAS[task.kind].readers if task.kind in SCHEMAS else {}
    for index, text, (key, option, name, expr) in _parsed(overrides, problems):
        canon = canonical_key(key)
        if only_known_keys and canon not in known:
            continue
        span = _span(index, name.span.column, len(text) + 1)
        at = [i for i, s in enumerate(settings) if canonical_key(s.key.id) == canon]
        if option is None:
            new = tree.Setting(name, expr, span)
        else:
            base = settings[at[0]].value if at else None
            if base is None and (task.kind, canon) in _DEFAULT_CALLS:
                func = _DEFAULT_CALLS[(task.kind, canon)]
                base = tree.Call(func, (), (), name.span, name.span)
            if base is None:
                problems.append(Diagnostic(name.span, f"`{key}` is not set in this "
                                           f"`{task.kind}` task, so `{key}.{option}` has "
                                           "nothing to change",
                                           f"set it whole: --set {key}=…"))
                continue
            if isinstance(base, tree.Name):
                base = tree.Call(base.id, (), (), base.span, base.span)
            if not isinstance(base, tree.Call):
                problems.append(Diagnostic(name.span, f"`{key}` is not a call, so it has no "
                                           f"option `{option}`", f"set it whole: --set {key}=…"))
                continue
            keyword = tree.Keyword(option, expr, span)
            kwargs = [k for k in base.kwargs if k.name != option]
            kwargs.append(keyword)
            call = dataclasses.replace(base, kwargs=tuple(kwargs))
            old_key = settings[at[0]].key if at else name
            new = tree.Setting(old_key, call, settings[at[0]].span if at else span)
        if at:
            settings[at[0]] = new
            settings = [s for i, s in enumerate(settings) if i not in at[1:]]
        else:
            settings.append(new)
    if problems:
        raise SpecError(problems, "\n".join(overrides))
    return dataclasses.replace(task, settings=tuple(settings))


def apply_overrides_to_module(module: tree.Module, overrides: Sequence[str]) -> tree.Module:
    """``module`` with the overrides applied to every task whose kind has the key.

    This is what ``lbdsl solve --set`` means.  An override whose key no task of the file
    accepts is an error (with the closest key of the file's task kinds), as is a malformed one.
    """
    from .build import SCHEMAS
    from .reader import suggest

    if not overrides:
        return module
    problems: list[Diagnostic] = []
    parsed: list[tuple[str, tree.Name]] = []
    for _, _, (key, _option, name, _expr) in _parsed(overrides, problems):
        parsed.append((canonical_key(key), name))
    kinds = sorted({t.kind for t in module.tasks if t.kind in SCHEMAS})
    accepted = {k for kind in kinds for k in SCHEMAS[kind].readers}
    for key, name in parsed:
        if key not in accepted:
            where = ", ".join(f"`{k}`" for k in kinds) or "none"
            hint = suggest(key, accepted, noun="settings of this file's tasks")
            problems.append(Diagnostic(name.span, f"no task of {module.file} has a setting "
                                       f"`{name.id}` (task kinds: {where})", hint or None))
    if problems:
        raise SpecError(problems, "\n".join(overrides))
    tasks = tuple(apply_overrides(t, overrides, only_known_keys=True) for t in module.tasks)
    return dataclasses.replace(module, tasks=tasks)
