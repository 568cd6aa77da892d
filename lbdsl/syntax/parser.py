"""Parse ``.lbn`` text into a :class:`~lbdsl.syntax.tree.Module`.

The grammar is ``grammar/lbn.lark``, loaded once.  This module is the one boundary where lark's
exceptions become :class:`~lbdsl.errors.SpecError` s (see :mod:`.diagnose` for the wording).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lark import Lark
from lark.exceptions import UnexpectedInput

from ..errors import SpecError
from .build import build_module
from .grammar import grammar_locations, grammar_text
from .diagnose import explain
from .tree import Module

__all__ = ["grammar_text", "grammar_locations", "lark_parser", "parse", "parse_file"]


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser for ``lbn.lark``, built on first use.

    lark's ``cache=`` is not used: building takes a few tens of milliseconds, and its cache file
    in the temporary directory is not worth the trouble for an installed wheel.
    """
    return Lark(grammar_text(), parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=False)


def parse(source: str, file: str = "<string>") -> Module:
    """The syntax tree of ``source``; ``file`` names it in spans and messages.

    Raises :class:`SpecError` (with the source attached) for every syntax error.
    """
    parser = lark_parser()
    try:
        parse_tree = parser.parse(source)
    except UnexpectedInput as exc:
        raise explain(exc, source, file, parser) from None
    return build_module(parse_tree, source, file)


def parse_file(path: str | os.PathLike[str]) -> Module:
    """Read ``path`` as UTF-8 (a leading byte-order mark is dropped) and :func:`parse` it."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError.at(None, f"cannot read {name}: no such file") from None
    except IsADirectoryError:
        raise SpecError.at(None, f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise SpecError.at(None, f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError.at(
            None, f"cannot read {name}: not UTF-8 text (byte 0x{data[exc.start]:02x} "
                  f"at offset {exc.start})",
            "save the spec as UTF-8") from None
    return parse(source, name)
