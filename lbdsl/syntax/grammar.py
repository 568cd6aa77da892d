"""The grammar file (``grammar/lbn.lark``): where it is, its text, and the task kinds it names.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..errors import LbdslError

__all__ = ["grammar_locations", "grammar_text", "task_kinds", "keywords"]


def grammar_locations() -> list[Traversable]:
    """Where the grammar may be, in order: inside the installed package, then in the repository.

    A wheel carries it as ``lbdsl/grammar/lbn.lark`` (hatch ``force-include``); an editable
    install or a source checkout has it in ``grammar/`` next to the ``lbdsl`` package directory.
    """
    package = resources.files("lbdsl")
    repository = Path(__file__).resolve().parents[2] / "grammar" / "lbn.lark"
    return [package / "grammar" / "lbn.lark", repository]


def grammar_text(locations: list[Traversable] | None = None) -> str:
    """The text of ``lbn.lark`` from the first existing of ``locations``.

    ``locations`` defaults to :func:`grammar_locations`.
    """
    candidates = grammar_locations() if locations is None else locations
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    looked = ", ".join(str(candidate) for candidate in candidates)
    raise LbdslError(f"cannot find the .lbn grammar (looked in {looked}); reinstall lbdsl")


@functools.cache
def task_kinds() -> tuple[str, ...]:
    """The task kinds the grammar's ``task`` rule names (``invert``, ``train``, ``check``): a
    new kind is one alternative there, and every message that lists the kinds follows."""
    text = grammar_text()
    rule = re.search(r"^task:\s*\(([A-Z_ |]+)\)", text, re.M)
    names = [t.strip() for t in rule.group(1).split("|")] if rule else []
    words = dict(re.findall(r'^([A-Z_]+):\s*"([a-z_]+)"', text, re.M))
    return tuple(words[n] for n in names if n in words)


@functools.cache
def keywords() -> frozenset[str]:
    """The words of the language (``network``, ``input``, …, the task kinds): every quoted
    word of the grammar, which a name in a spec cannot be."""
    return frozenset(re.findall(r'"([A-Za-z_]+)"', grammar_text()))
